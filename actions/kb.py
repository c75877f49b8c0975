"""action_answer_from_kb: answer a question from the knowledge base in the customer's language.

The knowledge base decides (kb_index.decision, fitted on held-out editors' data with an
editable "wrong article answered directly" target): confident → the article; plausible →
the top titles as buttons (the customer picks one, which comes back as the
`choose_article` intent); nothing relevant or the KB is down → say so and offer a human
(never silence). The question is searched in the customer's own language (multilingual
embeddings), with that language's fitted model.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    customer_language,
    latest_intent,
    off_loop,
    reply_language,
    send_article_to_customer,
)
from bot.errors import SupportBotError
from bot.services import get_services
from kb_index.retriever import Hit, Outcome

logger = logging.getLogger(__name__)
OFFER_HUMAN = "utter_offer_human"


def choice_payload(article_id: str) -> str:
    return "/choose_article" + json.dumps({"article_id": article_id})


def suggestion_buttons(hits: list[Hit], language: str, fallback: str) -> list[dict[str, str]]:
    return [
        {
            "title": h.article.title.get(language) or h.article.title[fallback],
            "payload": choice_payload(h.article.id),
        }
        for h in hits
    ]


async def answer_from_kb(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    min_outcome: Outcome = Outcome.SUGGEST,
) -> tuple[Outcome, list[dict[str, Any]]]:
    """Search the KB for the latest message and reply; returns the outcome and events.

    ``min_outcome=ANSWER`` only replies when confident (used by the fallback action, which
    would rather ask to rephrase than guess).
    """
    services = get_services()
    language = reply_language(tracker)
    default = services.languages.default
    # The text NLU understood: the pivot translation when a package translated the
    # message (bot.nlu.translation), else the customer's own words, which the
    # multilingual index matches directly. Its language picks the fitted model.
    message = tracker.latest_message or {}
    text = message.get("text") or ""
    path = (message.get("translation") or {}).get("path") or []
    searched_in = str(path[-1]) if path else customer_language(tracker)
    intent, _ = latest_intent(tracker)
    found = await off_loop(
        services.kb.answer, text, language=searched_in, intent=intent, top_k=3
    )
    outcome, hits = found.outcome, found.hits
    logger.info(
        "kb search %r intent=%s → %s (p=%.2f) %s", text[:80], intent, outcome.value,
        found.confidence, [(h.article.id, round(h.score, 3)) for h in hits],
    )
    if outcome is Outcome.ANSWER:
        await send_article_to_customer(dispatcher, tracker, hits[0].article)
        return outcome, [SlotSet("kb_articles", [hits[0].article.id])]
    if min_outcome is Outcome.ANSWER:
        return outcome, []
    if outcome is Outcome.SUGGEST:
        dispatcher.utter_message(
            response="utter_kb_suggestions",
            buttons=suggestion_buttons(hits, language, default),
            kb_articles=[h.article.id for h in hits],
        )
        return outcome, [SlotSet("kb_articles", [h.article.id for h in hits])]
    dispatcher.utter_message(response="utter_kb_no_answer")
    return outcome, [FollowupAction(OFFER_HUMAN)]


class ActionAnswerFromKB(Action):
    def name(self) -> str:
        return "action_answer_from_kb"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        services = get_services()
        try:
            intent, _ = latest_intent(tracker)
            chosen = next(tracker.get_latest_entity_values("article_id"), None)
            if intent == "choose_article" and chosen:
                article = await off_loop(services.kb.get, str(chosen))
                if article is not None:
                    await send_article_to_customer(dispatcher, tracker, article)
                    return [SlotSet("kb_articles", [article.id])]
            _, events = await answer_from_kb(dispatcher, tracker)
            return events
        except SupportBotError:
            logger.exception("knowledge base unavailable")
            dispatcher.utter_message(response="utter_kb_unavailable")
            return [FollowupAction(OFFER_HUMAN)]
