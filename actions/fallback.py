"""action_handle_fallback: what the bot does when it did not understand.

Run for low NLU confidence (the `nlu_fallback` rule) and as Rasa's core fallback (the
policies do not know what follows an understood message). First miss: if the knowledge
base has a confident answer to the literal text, give it;
otherwise ask the customer to rephrase. After `escalation.fallbacks_before_human` misses in
a row, offer a human (utter_offer_human, whose yes/no the rules in data/rules/handoff.yml
turn into a ticket or a polite close).

A message that fits two intents about equally well (bot.nlu.intent_classifier marks it in
parse_data["intent_calibration"]["ambiguous"]) gets "did you mean A or B?" instead: one
button per intent, titled with an example editors wrote for it in the customer's
language, whose payload (``/intent``) Rasa takes as that intent. It does not count as a
miss: the bot understood the topic, only not which of two.
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
#: parse_data key written by bot.nlu.intent_classifier (kept as a literal: actions run in
#: the other environment and must not import Rasa components).
CALIBRATION = "intent_calibration"


def ambiguous_choices(parse_data: dict[str, Any] | None) -> list[dict[str, str]]:
    """The two intents the classifier could not choose between, with button titles; or []."""
    calibration = (parse_data or {}).get(CALIBRATION) or {}
    choices = calibration.get("ambiguous") if isinstance(calibration, dict) else None
    if not isinstance(choices, list):
        return []
    valid = [
        c
        for c in choices
        if isinstance(c, dict)
        and isinstance(c.get("intent"), str)
        and c["intent"]
        and isinstance(c.get("title"), str)
    ]
    return valid if len(valid) >= 2 else []


def did_you_mean_buttons(choices: list[dict[str, str]]) -> list[dict[str, str]]:
    """Buttons whose payload Rasa parses as the intent itself (``/order_status``)."""
    return [{"title": c["title"], "payload": f"/{c['intent']}"} for c in choices]


def misses_in_a_row(events: Iterable[dict[str, Any]]) -> int:
    """How many of the latest user messages, counted back from the newest, were not understood.

    A "did you mean A or B?" message is not a miss (see the module docstring).
    """
    count = 0
    for event in reversed(list(events)):
        if event.get("event") != "user":
            continue
        parse_data = event.get("parse_data") or {}
        intent = (parse_data.get("intent") or {}).get("name")
        if intent != FALLBACK_INTENT or ambiguous_choices(parse_data):
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
        choices = ambiguous_choices(tracker.latest_message)
        if choices:
            dispatcher.utter_message(
                response="utter_did_you_mean", buttons=did_you_mean_buttons(choices)
            )
            return []
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
