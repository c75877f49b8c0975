"""The web chat widget, driven in headless Chromium against the real running bot.

Debian's Chromium through Playwright (never a downloaded browser). Each test opens its
own browser context, so each is a new visitor with their own localStorage and therefore
their own conversation. Everything is done with the keyboard unless the test is about
something else (offline, reload). Screenshots land in test-artifacts/webchat/ (ignored
by git); the path is printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    expect,
)

from bot.run import Bot
from tests.conftest import ROOT
from tests.e2e.conftest import chromium, skip_without_chromium

ARTIFACTS = ROOT / "test-artifacts" / "webchat"
TURN_MS = 90_000  # one bot turn on a busy 2-core machine (KB search, actions)
ARABIC_QUESTION = "كم يوم يستغرق توصيل الطلب؟"
SLOVENIAN_QUESTION = "Kako dolgo traja dostava paketa?"
#: What a message bubble shows: who, what, which direction.
SHOWN = "els => els.map(e => [e.className, e.querySelector('.text').innerText, e.dir])"

skip_without_chromium()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def open_chat(browser: Browser, bot: Bot) -> Iterator[Any]:
    """``open_chat(locale=...)`` → (context, page) with the widget connected."""
    contexts: list[BrowserContext] = []

    def _open(locale: str = "en-US", **kwargs: Any) -> tuple[BrowserContext, Page]:
        context = browser.new_context(locale=locale, **kwargs)
        contexts.append(context)
        page = context.new_page()
        page.goto(bot.config.web_url)
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        return context, page

    yield _open
    for context in contexts:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def bot_messages(page: Page) -> Any:
    return page.locator("#log .msg.bot")


def type_and_enter(page: Page, text: str) -> None:
    """What a keyboard user does: the composer must already have the focus."""
    assert page.evaluate("document.activeElement.id") == "message"
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def sender_of(page: Page) -> str:
    return str(page.evaluate("localStorage.getItem('lumo-chat-sender')"))


def history(bot: Bot, sender: str) -> dict[str, Any]:
    resp = httpx.get(
        f"{bot.config.rasa_url}/webhooks/webchat/history",
        params={"sender": sender},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def article_for(articles: dict[str, Any], intent: str) -> Any:
    return next(a for a in articles.values() if intent in a.intents)


def test_a_slovenian_customer_asks_and_answers_an_offer_with_the_keyboard_only(
    open_chat: Any, articles: dict[str, Any], domain_texts: dict[str, dict[str, str]]
) -> None:
    _, page = open_chat(locale="sl-SI")
    expect(page.get_by_role("button", name="Pošlji")).to_be_visible()
    type_and_enter(page, SLOVENIAN_QUESTION)
    expect(page.locator("#typing")).to_be_visible()
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    expect(page.locator("#typing")).to_be_hidden()
    article = article_for(articles, "shipping_time")
    answer = bot_messages(page).first.locator(".text").inner_text()
    assert answer.startswith(article.title["sl"]) and article.body["sl"][:60] in answer
    assert bot_messages(page).first.get_attribute("dir") == "ltr"
    assert page.evaluate("document.activeElement.id") == "message"  # focus stays put

    type_and_enter(page, "to mi ni pomagalo")
    expect(bot_messages(page)).to_have_count(2, timeout=TURN_MS)
    offer = page.get_by_role("group", name="Možni odgovori")
    expect(offer.get_by_role("button")).to_have_count(2)
    # Shift+Tab from the composer reaches the newest reply option ("Ne, hvala").
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate(
        "[document.activeElement.textContent, getComputedStyle(document.activeElement)"
        ".outlineStyle, getComputedStyle(document.activeElement).outlineWidth]"
    )
    assert focused == ["Ne, hvala", "solid", "3px"]  # visible focus
    screenshot(page, "slovenian-offer")
    page.keyboard.press("Enter")
    expect(page.locator("#log .msg.me").last.locator(".text")).to_have_text("Ne, hvala")
    expect(bot_messages(page)).to_have_count(3, timeout=TURN_MS)
    expect(bot_messages(page).last.locator(".text")).to_have_text(
        domain_texts["utter_no_problem"]["sl"]
    )
    assert page.evaluate("document.activeElement.id") == "message"
    expect(offer.get_by_role("button", name="Da, prosim")).to_be_disabled()


def test_an_arabic_conversation_is_laid_out_right_to_left(
    open_chat: Any, articles: dict[str, Any]
) -> None:
    _, page = open_chat(locale="ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    type_and_enter(page, ARABIC_QUESTION)
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    article = article_for(articles, "shipping_time")
    answer = bot_messages(page).first
    assert answer.locator(".text").inner_text().startswith(article.title["ar"])
    assert answer.get_attribute("dir") == "rtl" and answer.get_attribute("lang") == "ar"
    mine = page.locator("#log .msg.me").first
    assert mine.get_attribute("dir") == "rtl"
    expect(page.locator("#log")).to_have_attribute("dir", "rtl")  # language slot is ar
    expect(page.locator("#log")).to_have_attribute("lang", "ar")
    # Mirrored: the bot's bubble starts at the right, the customer's sits on the left.
    me_box, bot_box = mine.bounding_box(), answer.bounding_box()
    assert me_box is not None and bot_box is not None
    assert me_box["x"] + me_box["width"] < bot_box["x"] + bot_box["width"]
    screenshot(page, "arabic")


def test_screen_reader_labels_live_region_and_business_hours(open_chat: Any) -> None:
    _, page = open_chat()
    log = page.locator("#log")
    assert log.get_attribute("role") == "log"
    assert log.get_attribute("aria-live") == "polite"
    expect(log).to_have_attribute("aria-label", "Conversation")
    expect(log).to_have_attribute("aria-busy", "false")  # history restored
    expect(page.get_by_role("textbox", name="Your message")).to_be_focused()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    hint = page.locator("#composer-hint")
    assert (
        page.get_by_role("textbox").get_attribute("aria-describedby") == "composer-hint"
    )
    expect(hint).to_contain_text("Enter sends")
    # The pinned clock says Wednesday 10:00 in Ljubljana: open until 18:00.
    hours = page.locator("#hours")
    assert hours.get_attribute("role") == "status"
    expect(hours).to_have_attribute("data-state", "open")
    expect(hours).to_contain_text("available now, until today at 18:00")
    type_and_enter(page, "hello")
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    # Each message says who spoke, for screen readers (visually hidden prefix).
    expect(bot_messages(page).first.locator(".visually-hidden")).to_have_text(
        "Lumo said: "
    )
    expect(page.locator("#log .msg.me .visually-hidden")).to_have_text("You said: ")


def test_text_contrast_is_at_least_4_5_to_1(open_chat: Any) -> None:
    _, page = open_chat()
    type_and_enter(page, "to mi ni pomagalo")  # an answer with buttons
    expect(page.locator("#log .buttons button")).to_have_count(2, timeout=TURN_MS)
    ratios = page.evaluate(
        """() => {
        const lum = (rgb) => {
          const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map((c) => {
            c /= 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const background = (el) => {
          for (; el; el = el.parentElement) {
            const bg = getComputedStyle(el).backgroundColor;
            const parts = bg.match(/[\\d.]+/g);
            if (parts && (parts.length < 4 || Number(parts[3]) > 0)) return bg;
          }
          return "rgb(255, 255, 255)";
        };
        const out = {};
        for (const sel of ["h1", "#hours", "#connection", "#composer-hint", "textarea",
                           "button[type=submit]", ".msg.bot", ".msg.me",
                           ".buttons button", "#typing"]) {
          const el = document.querySelector(sel);
          const a = lum(getComputedStyle(el).color), b = lum(background(el));
          out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        }
        return out;
      }"""
    )
    low = {sel: round(r, 2) for sel, r in ratios.items() if r < 4.5}
    assert not low, f"contrast below 4.5:1: {low}"


def test_the_page_reflows_at_320_px_and_respects_reduced_motion(
    open_chat: Any,
) -> None:
    _, page = open_chat(viewport={"width": 320, "height": 640}, reduced_motion="reduce")
    type_and_enter(
        page, "Kako dolgo traja dostava paketa? " + "zelodolgabesedabrezpresledkov" * 4
    )
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 320, f"horizontal scrolling at 320 px: {widths}"
    send = page.get_by_role("button", name="Send").bounding_box()
    assert send is not None and send["x"] + send["width"] <= 320
    animation = page.evaluate(
        "getComputedStyle(document.querySelector('#typing .dots span')).animationName"
    )
    assert animation == "none"
    screenshot(page, "narrow-320px")


def test_a_reload_restores_the_conversation(open_chat: Any) -> None:
    _, page = open_chat()
    type_and_enter(page, "hello")
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    type_and_enter(page, ARABIC_QUESTION)
    expect(bot_messages(page)).to_have_count(2, timeout=TURN_MS)
    before = page.locator("#log .msg").evaluate_all(SHOWN)
    sender = sender_of(page)
    page.reload()
    expect(page.locator("#log .msg")).to_have_count(len(before))
    after = page.locator("#log .msg").evaluate_all(SHOWN)
    assert after == before
    assert sender_of(page) == sender
    expect(page.locator("#log")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("textbox", name="Your message")).to_be_focused()


def test_a_message_typed_offline_is_delivered_once_when_back_online(
    open_chat: Any, bot: Bot
) -> None:
    context, page = open_chat()
    type_and_enter(page, "hello")
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    context.set_offline(True)
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline")
    type_and_enter(page, "I forgot my password and can't log in")
    pending = page.locator("#log .msg.me").last
    expect(pending).to_have_attribute("data-state", "waiting")
    expect(pending).to_contain_text("will be sent when you are back online")
    screenshot(page, "offline")
    context.set_offline(False)
    expect(pending).to_have_attribute("data-state", "sent", timeout=TURN_MS)
    expect(bot_messages(page)).to_have_count(2, timeout=TURN_MS)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    said = [
        m["text"]
        for m in history(bot, sender_of(page))["messages"]
        if m["from"] == "customer"
    ]
    assert said == ["hello", "I forgot my password and can't log in"]


def test_a_reply_lost_on_the_way_is_retried_without_a_second_turn(
    open_chat: Any, bot: Bot
) -> None:
    context, page = open_chat()
    lost: list[str] = []

    def deliver_then_drop(route: Route) -> None:
        route.fetch()  # the server processes the message ...
        lost.append(route.request.post_data or "")
        route.abort("connectionreset")  # ... and the reply never reaches the page

    context.route(
        re.compile(r".*/webhooks/webchat/webhook$"), deliver_then_drop, times=1
    )
    type_and_enter(page, "hello")
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    expect(page.locator("#log .msg.me").last).to_have_attribute("data-state", "sent")
    assert len(lost) == 1
    turns = history(bot, sender_of(page))["messages"]
    assert [m["from"] for m in turns] == ["customer", "bot"]


def test_a_turn_the_server_could_not_finish_is_retried_calmly_with_the_same_id(
    open_chat: Any, bot: Bot
) -> None:
    context, page = open_chat()
    sent: list[dict[str, Any]] = []

    def not_done_once(route: Route) -> None:
        sent.append(json.loads(route.request.post_data or "{}"))
        if len(sent) == 1:  # what the server answers while the action server restarts
            route.fulfill(
                status=503,
                content_type="application/json",
                body=json.dumps({"error": "retry with the same message_id"}),
            )
        else:
            route.continue_()

    context.route(re.compile(r".*/webhooks/webchat/webhook$"), not_done_once)
    type_and_enter(page, "hello")
    mine = page.locator("#log .msg.me").last
    expect(mine).to_have_attribute("data-state", "retrying")
    expect(mine).to_contain_text("still working on this")
    expect(page.locator("#connection")).not_to_have_attribute("data-state", "unreachable")
    expect(mine).to_have_attribute("data-state", "sent", timeout=TURN_MS)
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    assert len(sent) == 2 and sent[0]["message_id"] == sent[1]["message_id"]
    said = [
        m["message_id"]
        for m in history(bot, sender_of(page))["messages"]
        if m["from"] == "customer"
    ]
    assert said == [sent[0]["message_id"]]


def test_a_message_typed_before_a_dropped_connection_survives_a_reload(
    open_chat: Any, bot: Bot
) -> None:
    context, page = open_chat()
    context.route(
        re.compile(r".*/webhooks/webchat/webhook$"),
        lambda route: route.abort("internetdisconnected"),
    )
    type_and_enter(page, "hello")
    expect(page.locator("#log .msg.me").last).to_have_attribute("data-state", "waiting")
    context.unroute(re.compile(r".*/webhooks/webchat/webhook$"))
    page.reload()  # before the retry timer fires again
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    expect(page.locator("#log .msg.me")).to_have_count(1)
    said = [
        m["text"]
        for m in history(bot, sender_of(page))["messages"]
        if m["from"] == "customer"
    ]
    assert said == ["hello"]


def test_a_message_sent_from_outside_appears_without_a_reload(
    open_chat: Any, bot: Bot, domain_texts: dict[str, dict[str, str]]
) -> None:
    _, page = open_chat(locale="sl-SI")
    type_and_enter(page, "Dober dan")
    expect(bot_messages(page)).to_have_count(1, timeout=TURN_MS)
    page.evaluate("window.__sameDocument = true")
    # What the agent inbox does: run an action in the conversation over Rasa's HTTP API.
    resp = httpx.post(
        f"{bot.config.rasa_url}/conversations/{sender_of(page)}/execute",
        params={"output_channel": "latest", "token": bot.config.rasa_token},
        json={"name": "utter_anything_else"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    expect(bot_messages(page)).to_have_count(2, timeout=15_000)  # polled every 3 s
    expect(bot_messages(page).last.locator(".text")).to_have_text(
        domain_texts["utter_anything_else"]["sl"]
    )
    assert page.evaluate("window.__sameDocument") is True


def test_the_page_may_only_talk_to_rasa(bot: Bot) -> None:
    page = httpx.get(bot.config.web_url, timeout=10)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert f"connect-src 'self' {bot.config.rasa_url};" in csp
    assert "default-src 'self'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_history_is_refused_for_a_guessable_sender(bot: Bot) -> None:
    resp = httpx.get(
        f"{bot.config.rasa_url}/webhooks/webchat/history",
        params={"sender": "greet-en"},
        timeout=10,
    )
    assert resp.status_code == 400
    assert "random token" in resp.json()["error"]
