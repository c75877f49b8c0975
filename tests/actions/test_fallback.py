"""action_handle_fallback's "did you mean A or B?" path, with a real CollectingDispatcher.

The parse data is what bot.nlu.intent_classifier writes for a message that fits two
intents about equally well; the buttons must carry the editors' own example texts (in
the customer's language) as titles and the intents as payloads, and such a message must
not count towards handing the customer to a human.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.fallback import (
    ActionHandleFallback,
    ambiguous_choices,
    did_you_mean_buttons,
    misses_in_a_row,
)
from bot import services
from tests.conftest import write_settings

AMBIGUOUS = {
    "score": 0.81,
    "threshold": 0.62,
    "language": "sl",
    "ambiguous": [
        {"intent": "order_status", "title": "Kje je moje naročilo?"},
        {"intent": "cancel_order", "title": "Želim preklicati naročilo"},
    ],
}


def parse_data(calibration: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "text": "naročilo",
        "intent": {"name": "nlu_fallback", "confidence": 0.62},
    }
    if calibration is not None:
        data["intent_calibration"] = calibration
    return data


@pytest.fixture()
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(write_settings(tmp_path)))
    services.reset()
    yield
    services.reset()


def tracker(latest: dict[str, Any], earlier: list[dict[str, Any]] | None = None) -> Tracker:
    events = [*(earlier or []), {"event": "user", "text": latest["text"], "parse_data": latest}]
    return Tracker("c1", {"language": "sl"}, latest, events, False, None, {}, "webchat")


async def test_two_close_intents_get_buttons_titled_in_the_customers_words(
    configured: None,
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionHandleFallback().run(dispatcher, tracker(parse_data(AMBIGUOUS)), {})
    assert events == []
    (message,) = dispatcher.messages
    assert message["response"] == "utter_did_you_mean"
    assert message["buttons"] == [
        {"title": "Kje je moje naročilo?", "payload": "/order_status"},
        {"title": "Želim preklicati naročilo", "payload": "/cancel_order"},
    ]


def test_an_ambiguous_message_is_not_a_miss() -> None:
    plain_miss = {"event": "user", "parse_data": parse_data(None)}
    ambiguous = {"event": "user", "parse_data": parse_data(AMBIGUOUS)}
    assert misses_in_a_row([plain_miss, plain_miss]) == 2
    assert misses_in_a_row([plain_miss, ambiguous]) == 0
    assert misses_in_a_row([ambiguous, plain_miss]) == 1


@pytest.mark.parametrize(
    "calibration",
    [
        None,
        {},
        {"ambiguous": []},
        {"ambiguous": [{"intent": "order_status", "title": "x"}]},  # one is no choice
        {"ambiguous": "order_status"},
        {"ambiguous": [{"intent": "", "title": "x"}, {"intent": "b", "title": "y"}]},
        "not a mapping",
    ],
)
def test_anything_but_two_named_choices_is_no_question(calibration: Any) -> None:
    data = parse_data(None)
    data["intent_calibration"] = calibration
    assert ambiguous_choices(data) == []


def test_buttons_keep_the_order_the_classifier_ranked() -> None:
    buttons = did_you_mean_buttons(AMBIGUOUS["ambiguous"])
    assert [b["payload"] for b in buttons] == ["/order_status", "/cancel_order"]
