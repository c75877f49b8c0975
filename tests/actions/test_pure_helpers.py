"""The decisions inside actions that do not need a server: counted misses, reasons, hints."""

from __future__ import annotations

import json

import pytest

from actions.escalate import escalation_reason
from actions.fallback import misses_in_a_row
from actions.kb import choice_payload
from actions.language import language_hint


def user(intent: str) -> dict:
    return {"event": "user", "parse_data": {"intent": {"name": intent, "confidence": 0.3}}}


def bot(text: str = "…") -> dict:
    return {"event": "bot", "text": text}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], 0),
        ([user("greet"), bot()], 0),
        ([user("greet"), bot(), user("nlu_fallback"), bot()], 1),
        ([user("nlu_fallback"), bot(), user("nlu_fallback")], 2),
        ([user("nlu_fallback"), bot(), user("order_status"), bot(), user("nlu_fallback")], 1),
        ([{"event": "action", "name": "action_listen"}, user("nlu_fallback"),
          {"event": "slot", "name": "language"}], 1),
    ],
)
def test_misses_are_counted_back_from_the_newest_message_until_one_was_understood(
    events: list[dict], expected: int
) -> None:
    assert misses_in_a_row(events) == expected


@pytest.mark.parametrize(
    ("intents", "reason"),
    [
        (["greet", "request_human"], "asked_for_human"),
        (["double_charge", "complaint"], "complaint"),
        (["return_refund", "not_helpful", "affirm"], "kb_not_helpful"),
        (["nlu_fallback", "nlu_fallback", "affirm"], "repeated_fallback"),
        (["affirm"], "asked_for_human"),
        ([], "asked_for_human"),
    ],
)
def test_the_reason_is_what_led_to_the_handoff_not_the_yes(intents: list[str], reason: str) -> None:
    assert escalation_reason(intents) == reason


@pytest.mark.parametrize(
    ("metadata", "hint"),
    [({"locale": "sl-SI"}, "sl"), ({"language_hint": "ar_EG"}, "ar"), ({"locale": "EN"}, "en"),
     ({}, None), (None, None)],
)
def test_channel_locale_becomes_a_bare_language_hint(
    metadata: dict | None, hint: str | None
) -> None:
    assert language_hint(metadata) == hint


def test_article_choice_payload_is_a_rasa_intent_with_the_article_entity() -> None:
    payload = choice_payload("shipping-times")
    assert payload.startswith("/choose_article{")
    assert json.loads(payload[len("/choose_article"):]) == {"article_id": "shipping-times"}
