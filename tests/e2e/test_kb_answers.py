"""Knowledge-base answers end to end: the real bot, the rebuilt index, the real widget.

* A question that only an editors' NLU example matches (the old hand-weighted search of
  titles and bodies put another article first) is answered with the right article, in
  Arabic and in Slovenian. The question is picked from the project's own data at run
  time, by the same index the bot loads, so the test follows the data.
* Offered titles are fully visible (not under the sticky composer, not cut at the edge)
  and reachable with the keyboard at 320, 375 and 420 px; screenshots in
  test-artifacts/webchat/.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bot.run import Bot
from bot.settings import load_settings
from kb_index.articles import load_articles
from kb_index.questions import collect_questions
from kb_index.retriever import KBSettings, KnowledgeBase, Outcome
from tests.conftest import ROOT
from tests.e2e.conftest import chromium, say, skip_without_chromium, texts
from tests.e2e.test_webchat_widget import TURN_MS, screenshot, type_and_enter

#: Intents whose rule runs the KB action (data/rules/faq.yml).
FAQ_RULES = ROOT / "data" / "rules" / "faq.yml"
VAGUE = [
    "i have a question about my parcel", "problem with my payment",
    "question about lumo plus", "something wrong with my order", "my package",
]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    base = KBSettings.from_settings(load_settings(ROOT / "supportbot.yml"))
    knowledge = KnowledgeBase(base)
    knowledge.warm_up()  # a stale index fails here, naming `python -m kb_index build`
    return knowledge


def nlu_only_question(kb: KnowledgeBase, lang: str) -> tuple[str, str]:
    """An NLU example (4+ words, one article) the learned search answers with its article
    directly while the old hybrid search of titles and bodies ranks another first."""
    settings = kb.settings
    hybrid = KnowledgeBase(settings, method="hybrid")
    articles = load_articles(settings.articles, settings.languages)
    for q in collect_questions(articles, settings.nlu):
        if q.language != lang or len(q.articles) != 1 or q.label.startswith("article:"):
            continue
        if len(q.text.split()) < 4:
            continue
        answer = kb.answer(q.text, language=lang)
        if (
            answer.outcome is Outcome.ANSWER
            and answer.hits[0].article.id == q.articles[0]
            and hybrid.search(q.text)[0].article.id != q.articles[0]
        ):
            return q.text, q.articles[0]
    raise AssertionError(f"no {lang} NLU example needs question matching any more")


@pytest.mark.parametrize("lang", ["ar", "sl"])
def test_a_question_only_an_nlu_example_matches_gets_the_right_article(
    bot: Bot, kb: KnowledgeBase, articles: dict[str, Any], lang: str
) -> None:
    text, article_id = nlu_only_question(kb, lang)
    replies = texts(say(bot, f"kb-{lang}-{uuid.uuid4().hex[:8]}", text))
    article = articles[article_id]
    answer = "\n\n".join(replies)
    assert answer.startswith(article.title[lang]), (text, replies)
    assert article.body[lang][:60] in answer


def rasa_intent(bot: Bot, text: str) -> str:
    resp = httpx.post(f"{bot.config.rasa_url}/model/parse",
                      params={"token": bot.config.rasa_token}, json={"text": text},
                      timeout=60)
    resp.raise_for_status()
    return str(resp.json()["intent"]["name"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    skip_without_chromium()
    with chromium() as launched:
        yield launched


def covered(page: Page, index: int) -> list[str]:
    """What lies on top of the corners of the index-th offered button (empty: nothing)."""
    return list(page.evaluate(
        """i => {
          const b = document.querySelectorAll('#log .buttons')[
            document.querySelectorAll('#log .buttons').length - 1].querySelectorAll('button')[i];
          const r = b.getBoundingClientRect();
          const bad = [];
          if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
            bad.push('outside the viewport ' + JSON.stringify(r));
          for (const [x, y] of [[r.left + 3, r.top + 3], [r.right - 3, r.top + 3],
                                [r.left + 3, r.bottom - 3], [r.right - 3, r.bottom - 3]]) {
            const el = document.elementFromPoint(x, y);
            if (!el || !b.contains(el)) bad.push((el && (el.id || el.className)) || 'nothing');
          }
          return bad;
        }""",
        index,
    ))


def test_offered_titles_are_fully_visible_and_keyboard_reachable_at_320_to_420_px(
    bot: Bot, kb: KnowledgeBase, browser: Browser
) -> None:
    faq = FAQ_RULES.read_text(encoding="utf-8")
    question = next(
        (t for t in VAGUE
         if kb.answer(t, language="en").outcome is Outcome.SUGGEST
         and f"intent: {rasa_intent(bot, t)}\n" in faq),
        None,
    )
    assert question, "no vague question is offered titles any more; add one to VAGUE"
    offered = [h.article.title["en"] for h in kb.answer(question, language="en").hits]
    # A short window, so that the conversation scrolls and the sticky composer matters;
    # reduced motion makes scrolling instant, so each check sees where scrolling ends.
    context = browser.new_context(locale="en-US", viewport={"width": 420, "height": 480},
                                  reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(bot.config.web_url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        for turn, width in enumerate((420, 375, 320), start=1):
            page.set_viewport_size({"width": width, "height": 480})
            page.locator("#message").focus()  # the last turn left focus on a title
            type_and_enter(page, question)
            expect(page.locator("#log .buttons")).to_have_count(turn, timeout=TURN_MS)
            group = page.locator("#log .buttons").last
            assert group.locator("button").all_inner_texts() == offered
            # As the offer arrives: every title fully on screen, nothing on top of it.
            for i in range(len(offered)):
                assert covered(page, i) == [], f"button {i} on arrival at {width} px"
            screenshot(page, f"kb-offer-{width}px")
            # And by keyboard: Shift+Tab walks back from the composer over the titles.
            page.locator("#message").focus()
            for i in reversed(range(len(offered))):
                page.keyboard.press("Shift+Tab")
                assert page.evaluate("document.activeElement.textContent") == offered[i]
                assert covered(page, i) == [], f"button {i} focused at {width} px"
            scroll = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert scroll[0] <= scroll[1], f"horizontal scrolling at {width} px"
    finally:
        context.close()
