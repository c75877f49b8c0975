"""The CSAT actions with a real CollectingDispatcher, trackers from JSON and a real
SQLite ticket store: asked once, the answer stored on the right ticket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import (
    CSAT_SLOT,
    ActionAskCsat,
    ActionSessionStart,
    ActionStoreCsat,
    parse_csat,
)
from bot import services
from bot.tickets.model import TicketDraft
from bot.tickets.store import SQLiteTicketStore
from tests.conftest import write_settings


@pytest.fixture()
def store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SQLiteTicketStore]:
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(write_settings(tmp_path)))
    services.reset()
    opened = SQLiteTicketStore(tmp_path / "tickets.sqlite3")
    yield opened
    opened.close()
    services.reset()


def tracker(sender: str, text: str = "", **slots: Any) -> Tracker:
    latest = {"text": text, "intent": {"name": "csat_score", "confidence": 0.99}}
    return Tracker(
        sender,
        {"language": "sl", **slots},
        latest,
        [{"event": "user", "text": text}],
        False,
        None,
        {},
        "webchat",
    )


def ticket(store: SQLiteTicketStore, conversation: str) -> Any:
    return store.create(
        TicketDraft(
            conversation, "webchat", conversation, "sl", "asked_for_human", "orders-sl"
        )
    )


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("٤", 4),
        ("4/5", 4),
        ("3 od 5", 3),
        ("pet", 5),
        ("five stars", 5),
        ("٥ من ٥", 5),
        ("ocena: 2", 2),
        ("3 or 4", None),
        ("10", None),
        ("0", None),
        ("naročilo 12345", None),
        ("", None),
        ("petek", None),
    ],
)
def test_a_score_is_read_from_what_customers_type(text: str, score: int | None) -> None:
    assert parse_csat(text) == score


async def test_the_question_is_about_the_conversations_latest_ticket(
    store: SQLiteTicketStore,
) -> None:
    ticket(store, "web-1")
    latest = ticket(store, "web-1")
    ticket(store, "web-2")
    dispatcher = CollectingDispatcher()
    events = await ActionAskCsat().run(dispatcher, tracker("web-1"), {})
    assert events == [
        {"event": "slot", "timestamp": None, "name": CSAT_SLOT, "value": latest.ref}
    ]
    assert dispatcher.messages[0]["response"] == "utter_ask_csat"
    assert dispatcher.messages[0]["ticket_ref"] == latest.ref


async def test_a_rated_ticket_is_not_asked_about_again(
    store: SQLiteTicketStore,
) -> None:
    rated = ticket(store, "web-1")
    store.set_csat(rated.number, 4)
    dispatcher = CollectingDispatcher()
    assert await ActionAskCsat().run(dispatcher, tracker("web-1"), {}) == []
    assert dispatcher.messages == []


async def test_the_answer_is_stored_and_thanked_for(store: SQLiteTicketStore) -> None:
    asked = ticket(store, "web-1")
    dispatcher = CollectingDispatcher()
    events = await ActionStoreCsat().run(
        dispatcher, tracker("web-1", "4", **{CSAT_SLOT: asked.ref}), {}
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_csat_thanks"]
    assert events[0]["name"] == CSAT_SLOT and events[0]["value"] is None
    stored = store.get(asked.number)
    assert stored is not None and stored.csat == 4
    assert "csat" in [e.kind for e in store.events(asked.number)]


async def test_an_unclear_answer_repeats_the_question(store: SQLiteTicketStore) -> None:
    asked = ticket(store, "web-1")
    dispatcher = CollectingDispatcher()
    events = await ActionStoreCsat().run(
        dispatcher, tracker("web-1", "3 ali 4", **{CSAT_SLOT: asked.ref}), {}
    )
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_csat"]
    assert store.get(asked.number).csat is None  # type: ignore[union-attr]


async def test_a_number_nobody_asked_for_is_no_rating(store: SQLiteTicketStore) -> None:
    unasked = ticket(store, "web-1")
    dispatcher = CollectingDispatcher()
    assert await ActionStoreCsat().run(dispatcher, tracker("web-1", "5"), {}) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_rephrase"]
    assert store.get(unasked.number).csat is None  # type: ignore[union-attr]


async def test_a_new_session_starts_paused_while_an_agent_holds_the_conversation(
    store: SQLiteTicketStore,
) -> None:
    held = ticket(store, "web-held")
    store.assign(held.number, "maja")
    ticket(store, "web-free")
    domain = {"session_config": {"carry_over_slots_to_new_session": True}}
    for sender, paused in (("web-held", True), ("web-free", False), ("web-new", False)):
        events = await ActionSessionStart().run(
            CollectingDispatcher(), tracker(sender), domain
        )
        kinds = [e["event"] for e in events]
        assert kinds[0] == "session_started" and kinds[-1] == "action"
        assert ("pause" in kinds) is paused, sender
        assert {
            "event": "slot",
            "timestamp": None,
            "name": "language",
            "value": "sl",
        } in events


async def test_a_resolved_ticket_does_not_pause_the_next_session(
    store: SQLiteTicketStore,
) -> None:
    done = ticket(store, "web-done")
    store.assign(done.number, "maja")
    store.resolve(done.number, "maja")
    events = await ActionSessionStart().run(
        CollectingDispatcher(), tracker("web-done"), {}
    )
    assert "pause" not in [e["event"] for e in events]
