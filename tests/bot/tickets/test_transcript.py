"""Transcript from Rasa 3.6 tracker events.

The fixtures are written by fixtures/generate.py from Rasa's own event classes
(``DialogueStateTracker.current_state(EventVerbosity.ALL)["events"]``), i.e. exactly
the JSON rasa_sdk hands an action as ``tracker.events``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.tickets.model import Turn
from bot.tickets.transcript import summarise, turns_from_events

FIXTURES = Path(__file__).parent / "fixtures"


def events(name: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / name).read_text("utf-8"))
    assert isinstance(data, list)
    return data


@pytest.fixture(scope="module")
def sl_turns() -> list[Turn]:
    return turns_from_events(events("tracker_sl_double_charge.json"))


@pytest.fixture(scope="module")
def ar_turns() -> list[Turn]:
    return turns_from_events(events("tracker_ar_after_hours.json"))


def test_only_user_and_bot_events_become_turns(sl_turns: list[Turn]) -> None:
    raw = events("tracker_sl_double_charge.json")
    kinds = {e["event"] for e in raw}
    assert {"action", "session_started", "slot", "pause"} <= kinds  # really skipped
    assert [t.speaker for t in sl_turns] == ["customer", "bot"] * 4
    assert len(sl_turns) == sum(e["event"] in ("user", "bot") for e in raw)


def test_customer_turn_fields(sl_turns: list[Turn]) -> None:
    turn = sl_turns[2]
    assert turn == Turn(
        at=datetime(2026, 3, 2, 8, 0, 30, 500000, tzinfo=timezone.utc),
        speaker="customer",
        text="Dvakrat ste mi zaračunali naročilo 4471, nujno rabim vračilo!",
        language="sl",
        translation="You charged me twice for order 4471, I urgently need a refund!",
        intent="double_charge",
        confidence=0.912,
        kb_articles=(),
        message_id="tg-102",
        channel="telegram",
    )


def test_bot_turn_fields(sl_turns: list[Turn]) -> None:
    kb = sl_turns[3]
    assert kb.speaker == "bot"
    assert kb.kb_articles == ("double-charge", "refund-times")
    assert kb.language == "sl"
    assert kb.channel == "telegram"  # replies go out where the message came in
    assert kb.intent is None and kb.confidence is None
    assert kb.at == datetime(2026, 3, 2, 8, 0, 30, 900000, tzinfo=timezone.utc)


def test_bot_turn_language_comes_from_the_language_slot(sl_turns: list[Turn]) -> None:
    greet = sl_turns[1]
    assert greet.text == "Pozdravljeni! Kako vam lahko pomagam?"
    assert greet.language == "sl"  # from SlotSet("language", "sl") before it


def test_buttons_are_kept_in_the_text(sl_turns: list[Turn]) -> None:
    assert sl_turns[5].text == "Vas povežem s sodelavcem?\n[Da | Ne]"


def test_arabic_translation_as_mapping(ar_turns: list[Turn]) -> None:
    first = ar_turns[0]
    assert first.text == "مرحبا، أين طلبي؟"
    assert first.translation == "Hello, where is my order?"
    assert first.language == "ar" and first.channel == "webchat"
    assert ar_turns[1].translation == "You can track your order from the orders page."
    assert ar_turns[1].kb_articles == ("order-tracking",)
    assert ar_turns[2].intent == "nlu_fallback" and ar_turns[2].confidence == 0.3
    assert ar_turns[2].translation is None


def test_times_are_utc_and_ordered(ar_turns: list[Turn]) -> None:
    times = [t.at for t in ar_turns]
    assert times == sorted(times)
    assert all(t.tzinfo is timezone.utc for t in times)


SYNTHETIC = [
    ({"event": "user", "timestamp": 10, "text": None, "parse_data": {}},
     {"text": "", "intent": None, "language": None}),
    ({"event": "user", "timestamp": 10, "text": "hi",
      "parse_data": {"intent": {"name": "greet", "confidence": 0.5},
                     "language": "en", "message_id": "m1"}},
     {"intent": "greet", "confidence": 0.5, "language": "en", "message_id": "m1"}),
    ({"event": "bot", "timestamp": 11, "text": None, "data": {},
      "metadata": {"utter_action": "utter_greet"}},
     {"text": "[utter_greet]", "speaker": "bot"}),
    ({"event": "bot", "timestamp": 11, "text": "Pozdravljeni, tukaj Maja.",
      "metadata": {"speaker": "agent", "language": "sl"}},
     {"speaker": "agent", "language": "sl"}),
    ({"event": "bot", "timestamp": 11, "text": "x", "metadata": {"speaker": "hacker"}},
     {"speaker": "bot"}),
    ({"event": "bot", "text": "no timestamp", "metadata": None, "data": None},
     {"at": datetime(1970, 1, 1, tzinfo=timezone.utc)}),
]


@pytest.mark.parametrize(("event", "expected"), SYNTHETIC)
def test_tolerates_partial_events(
    event: dict[str, Any], expected: dict[str, Any]
) -> None:
    (turn,) = turns_from_events([event])
    for name, value in expected.items():
        assert getattr(turn, name) == value, name


def test_missing_timestamp_repeats_the_previous() -> None:
    turns = turns_from_events([
        {"event": "user", "timestamp": 100.5, "text": "a"},
        {"event": "bot", "text": "b"},
    ])
    assert turns[1].at == turns[0].at


def test_no_events() -> None:
    assert turns_from_events([]) == []


def test_summary_is_one_deterministic_line(sl_turns: list[Turn]) -> None:
    intents = [t.intent for t in sl_turns if t.intent]
    summary = summarise(sl_turns, intents)
    assert summary == (
        'Customer (sl): "Dvakrat ste mi zaračunali naročilo 4471, nujno rabim vračilo!"'
        ' [translation: "You charged me twice for order 4471, I urgently need a…"]'
        " | intents: double_charge, not_helpful | 4 customer messages"
    )
    assert summarise(sl_turns, intents) == summary
    assert "\n" not in summary


def test_summary_of_arabic_conversation(ar_turns: list[Turn]) -> None:
    summary = summarise(ar_turns, [t.intent for t in ar_turns if t.intent])
    assert summary.startswith('Customer (ar): "مرحبا، أين طلبي؟"')
    assert "intents: order_status, nlu_fallback, request_human" in summary


def test_summary_edge_cases() -> None:
    at = datetime(2026, 3, 2, tzinfo=timezone.utc)
    assert summarise([], []) == "No customer message | no intents"
    only_greeting = [Turn(at, "customer", "hi\n\nthere", intent="greet")]
    assert summarise(only_greeting, ["greet"]) == 'Customer: "hi there" | no intents'
    long = [Turn(at, "customer", "x" * 200)]
    assert len(summarise(long, [])) < 120
