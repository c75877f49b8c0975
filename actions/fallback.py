"""action_handle_fallback: what the bot does when it did not understand.

Run for low NLU confidence (the `nlu_fallback` rule) and as Rasa's core fallback (the
policies do not know what follows an understood message). First miss: if the knowledge
base has a confident answer to the literal text, give it;
otherwise ask the customer to rephrase. After `escalation.fallbacks_before_human` misses in
a row, offer a human (utter_offer_human, whose yes/no the rules in data/rules/handoff.yml
turn into a ticket or a polite close).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import latest_intent
from actions.kb import OFFER_HUMAN, answer_from_kb
from bot.errors import SupportBotError
from bot.services import get_services
from kb_index.retriever import Outcome

logger = logging.getLogger(__name__)
FALLBACK_INTENT = "nlu_fallback"


def misses_in_a_row(events: Iterable[dict[str, Any]]) -> int:
    """How many of the latest user messages, counted back from the newest, were not understood."""
    count = 0
    for event in reversed(list(events)):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != FALLBACK_INTENT:
            break
        count += 1
    return count


class ActionHandleFallback(Action):
    def name(self) -> str:
        return "action_handle_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.latest_action_name == OFFER_HUMAN:
            # Rasa's core fallback right after the offer: the offer is the answer; wait
            # for the customer (returning the offer again would loop until Rasa's
            # circuit breaker stops the turn).
            return []
        intent, _ = latest_intent(tracker)
        if intent != FALLBACK_INTENT:
            # Run as Rasa's *core* fallback: NLU understood the message ("ok", "👍" →
            # affirm) but no rule or story says what follows it here. Acknowledge and
            # revert the message, as Rasa's own action_default_fallback does, so the
            # dialogue policies are back in a known state and predict listening.
            dispatcher.utter_message(response="utter_anything_else")
            return [UserUtteranceReverted()]
        if misses_in_a_row(tracker.events) >= get_services().fallbacks_before_human:
            return [FollowupAction(OFFER_HUMAN)]
        try:
            outcome, events = await answer_from_kb(dispatcher, tracker, min_outcome=Outcome.ANSWER)
            if outcome is Outcome.ANSWER:
                return events
        except SupportBotError:
            logger.exception("knowledge base unavailable during fallback")
        dispatcher.utter_message(response="utter_rephrase")
        return []
