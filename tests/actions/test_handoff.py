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


def resolved(store: SQLiteTicketStore, conversation: str) -> Any:
    """A ticket an agent handled and resolved: the one case that may be rated."""
    made = ticket(store, conversation)
    store.assign(made.number, "maja")
    return store.resolve(made.number, "maja")


def asked(store: SQLiteTicketStore, conversation: str) -> Any:
    """A resolved ticket whose CSAT question was sent."""
    return store.ask_csat(resolved(store, conversation).number)


async def test_the_question_is_about_the_conversations_latest_ticket(
    store: SQLiteTicketStore,
) -> None:
    resolved(store, "web-1")
    latest = resolved(store, "web-1")
    resolved(store, "web-2")
    dispatcher = CollectingDispatcher()
    events = await ActionAskCsat().run(dispatcher, tracker("web-1"), {})
    assert events == [
        {"event": "slot", "timestamp": None, "name": CSAT_SLOT, "value": latest.ref}
    ]
    assert dispatcher.messages[0]["response"] == "utter_ask_csat"
    assert dispatcher.messages[0]["ticket_ref"] == latest.ref
    assert [e.kind for e in store.events(latest.number)][-1] == "csat_asked"


async def test_a_retried_question_is_recorded_once(store: SQLiteTicketStore) -> None:
    latest = resolved(store, "web-1")
    for _ in range(2):
        await ActionAskCsat().run(CollectingDispatcher(), tracker("web-1"), {})
    kinds = [e.kind for e in store.events(latest.number)]
    assert kinds.count("csat_asked") == 1


async def test_a_rated_ticket_is_not_asked_about_again(
    store: SQLiteTicketStore,
) -> None:
    rated = asked(store, "web-1")
    store.set_csat(rated.number, 4)
    dispatcher = CollectingDispatcher()
    assert await ActionAskCsat().run(dispatcher, tracker("web-1"), {}) == []
    assert dispatcher.messages == []


@pytest.mark.parametrize("status", ["new", "open", "pending"])
async def test_an_unresolved_ticket_is_not_asked_about(
    store: SQLiteTicketStore, status: str
) -> None:
    """A typed ``/EXTERNAL_ask_csat`` while the case is still open asks nothing."""
    made = ticket(store, "web-1")
    if status != "new":
        store.set_status(made.number, status)
    dispatcher = CollectingDispatcher()
    assert await ActionAskCsat().run(dispatcher, tracker("web-1"), {}) == []
    assert dispatcher.messages == []
    assert "csat_asked" not in [e.kind for e in store.events(made.number)]


async def test_the_answer_is_stored_and_thanked_for(store: SQLiteTicketStore) -> None:
    question = asked(store, "web-1")
    dispatcher = CollectingDispatcher()
    events = await ActionStoreCsat().run(
        dispatcher, tracker("web-1", "4", **{CSAT_SLOT: question.ref}), {}
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_csat_thanks"]
    assert events[0]["name"] == CSAT_SLOT and events[0]["value"] is None
    stored = store.get(question.number)
    assert stored is not None and stored.csat == 4
    assert "csat" in [e.kind for e in store.events(question.number)]


async def test_an_unclear_answer_repeats_the_question(store: SQLiteTicketStore) -> None:
    question = asked(store, "web-1")
    dispatcher = CollectingDispatcher()
    events = await ActionStoreCsat().run(
        dispatcher, tracker("web-1", "3 ali 4", **{CSAT_SLOT: question.ref}), {}
    )
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_csat"]
    assert store.get(question.number).csat is None  # type: ignore[union-attr]


async def test_a_number_nobody_asked_for_is_no_rating(store: SQLiteTicketStore) -> None:
    unasked = ticket(store, "web-1")
    dispatcher = CollectingDispatcher()
    assert await ActionStoreCsat().run(dispatcher, tracker("web-1", "5"), {}) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_rephrase"]
    assert store.get(unasked.number).csat is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "state", ["new", "open", "resolved-not-asked", "reopened-after-asking", "rated"]
)
async def test_a_forged_rating_is_not_stored(store: SQLiteTicketStore, state: str) -> None:
    """The slot and the text are the tracker's: a forged call or a typed
    ``/csat_score`` names any ticket. Only a resolved ticket that asked, once, is rated."""
    target = ticket(store, "web-1")
    if state == "open":
        store.assign(target.number, "maja")
    elif state == "resolved-not-asked":
        target = resolved(store, "web-2")
    elif state == "reopened-after-asking":
        target = asked(store, "web-2")
        store.assign(target.number, "maja")
    elif state == "rated":
        target = asked(store, "web-2")
        store.set_csat(target.number, 2)
    before = store.get(target.number)
    dispatcher = CollectingDispatcher()
    events = await ActionStoreCsat().run(
        dispatcher, tracker("web-1", "5", **{CSAT_SLOT: target.ref}), {}
    )
    assert [m["response"] for m in dispatcher.messages] == ["utter_rephrase"]
    assert events == [{"event": "slot", "timestamp": None, "name": CSAT_SLOT, "value": None}]
    after = store.get(target.number)
    assert after is not None and before is not None and after.csat == before.csat
    assert [e.kind for e in store.events(target.number)].count("csat") == (
        1 if state == "rated" else 0
    )


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
