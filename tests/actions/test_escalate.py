"""action_escalate with a real dispatcher, a real tracker and a real SQLite store.

The tracker is the recorded Slovenian double-charge conversation (tests/bot/tickets/
fixtures); the clock is pinned with SUPPORTBOT_FAKE_NOW; settings come from a copy of
supportbot.yml with its own ticket database.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.escalate import ActionEscalate
from bot import services
from bot.hours import BusinessHours, format_opening
from bot.settings import Section
from bot.tickets.model import TicketDraft
from bot.tickets.store import SQLiteTicketStore, TicketStoreUnavailableError
from tests.conftest import ROOT, write_settings

FIXTURE = (
    Path(__file__).resolve().parents[1] / "bot" / "tickets" / "fixtures"
    / "tracker_sl_double_charge.json"
)
NOW = "2026-03-02T09:05:00+01:00"  # Monday; business_hours are open 08-18
UTC = timezone.utc

# Billing keeps Dubai hours here: closed at 12:05 Dubai, opens 14:00 (10:00 UTC).
BILLING_HOURS = {
    "timezone": "Asia/Dubai",
    "weekly": {day: ["14:00-22:00"] for day in ("mon", "tue", "wed", "thu", "sun")}
    | {"fri": "closed", "sat": "closed"},
}


def tracker(extra_events: list[dict[str, Any]] = ()) -> Tracker:  # type: ignore[assignment]
    events = json.loads(FIXTURE.read_text(encoding="utf-8"))
    events = events[:-2]  # up to the customer's "yes" (the old reply is not given yet)
    events += copy.deepcopy(list(extra_events))
    latest = next(e for e in reversed(events) if e["event"] == "user")
    message = dict(latest["parse_data"], message_id=latest["message_id"])
    return Tracker(
        "tg-5550123", {"language": "sl", "detected_language": "sl"}, message, events,
        False, None, {}, "action_listen",
    )


def user(text: str, at: float, intent: str, message_id: str) -> dict[str, Any]:
    return {
        "event": "user", "timestamp": at, "text": text, "input_channel": "telegram",
        "message_id": message_id,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "text": text,
                       "language": {"language": "sl", "confidence": 0.9}},
    }


@pytest.fixture()
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    routing = {
        "queues": {
            "billing": {"intents": ["double_charge", "payment_methods"],
                        "languages": ["en", "sl"], "hours": BILLING_HOURS},
            "general": {"languages": ["en", "ar", "sl"]},
        },
        "default_queue": "general",
    }
    path = write_settings(tmp_path, routing=routing)
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(path))
    monkeypatch.setenv("SUPPORTBOT_FAKE_NOW", NOW)
    services.reset()
    yield path
    services.get_services().tickets.close()
    services.reset()


async def escalate(t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await ActionEscalate().run(dispatcher, t, {})
    return events, dispatcher.messages


async def test_the_after_hours_promise_is_the_queues_own_next_opening(
    settings: Path,
) -> None:
    events, messages = await escalate(tracker())
    store = services.get_services().tickets
    [ticket] = store.list()
    assert ticket.queue == "billing-sl" and ticket.priority == "high"
    # Business hours are open, but billing's own hours are not: after hours.
    assert ticket.after_hours is True
    opening = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert ticket.promised_reply_at == opening
    billing = BusinessHours.from_section(
        Section("routing.queues.billing.hours", BILLING_HOURS, settings,
                settings.parent)
    )
    now = datetime.fromisoformat(NOW)
    assert billing.next_opening(now) == opening
    assert len(messages) == 1
    assert messages[0]["response"] == "utter_ticket_created_after_hours"
    assert messages[0]["ticket_ref"] == ticket.ref
    assert messages[0]["next_opening"] == format_opening(opening.astimezone(
        billing.timezone), "sl", now)
    assert "danes ob 14:00" in messages[0]["next_opening"]
    assert events == [{"event": "slot", "timestamp": None, "name": "ticket_ref",
                       "value": ticket.ref}]
    # The case intent and the articles the bot offered before the handoff.
    assert ticket.tags == ("double_charge", "kb:double-charge", "kb:refund-times")


async def test_asking_again_adds_to_the_open_ticket(settings: Path) -> None:
    _, first = await escalate(tracker())
    later = [
        user("Še vedno nič?", 1772438600.0, "request_human", "tg-200"),
    ]
    _, second = await escalate(tracker(later))
    store = services.get_services().tickets
    [ticket] = store.list()
    assert first[0]["ticket_ref"] == second[0]["ticket_ref"] == ticket.ref
    texts = [t.text for t in ticket.transcript]
    assert texts.count("Še vedno nič?") == 1
    assert texts.count("To mi ni pomagalo") == 1  # nothing twice
    # Running it again with nothing new adds nothing.
    await escalate(tracker(later))
    assert store.get(ticket.number) == store.list()[0]
    assert len(store.get(ticket.number).transcript) == len(ticket.transcript)


async def test_a_resolved_ticket_is_not_reused_and_makes_a_repeat_contact(
    settings: Path,
) -> None:
    store = services.get_services().tickets
    earlier = store.create(
        TicketDraft("tg-5550123", "telegram", "tg-5550123", "sl", "asked_for_human",
                    "general-sl", priority="normal"),
        now=datetime(2026, 2, 27, 9, 0, tzinfo=UTC),
    )
    store.resolve(earlier.number, "ana", now=datetime(2026, 2, 27, 10, 0, tzinfo=UTC))
    await escalate(tracker())
    newest = store.list()[0]
    assert newest.number != earlier.number
    assert newest.priority == "urgent"  # high (double charge), raised by the repeat
    assert "repeat_contact" in newest.tags


async def test_an_old_ticket_is_no_repeat_contact(settings: Path) -> None:
    store = services.get_services().tickets
    old = store.create(
        TicketDraft("other", "telegram", "tg-5550123", "sl", "asked_for_human",
                    "general-sl"),
        now=datetime(2026, 3, 2, 8, 0, tzinfo=UTC) - timedelta(days=8),
    )
    store.resolve(old.number, "ana")
    await escalate(tracker())
    assert store.list()[0].priority == "high"


def test_the_shipped_settings_validate() -> None:
    """services.check() parses routing: too, so a broken file fails at start-up."""
    services.reset()
    try:
        services.get_services().check()
    finally:
        services.reset()


# ------------------------------------------------ honest escalation: nothing before the ticket

COMPLAINT = user("To je nesprejemljivo, pritožujem se!", 1772438600.0, "complaint", "tg-300")


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process holds the ticket database's write lock (a real store failure)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def impatient(store: SQLiteTicketStore) -> SQLiteTicketStore:
    """Wait 0.1 s instead of 10 s for a held lock, so the failure comes at once."""
    store._conn.execute("PRAGMA busy_timeout = 100")
    return store


async def test_a_ticket_store_failure_sends_no_promise_and_fails_the_turn(
    settings: Path,
) -> None:
    store = impatient(services.get_services().tickets)
    dispatcher = CollectingDispatcher()
    with write_locked(store.path), pytest.raises(TicketStoreUnavailableError, match="locked"):
        await ActionEscalate().run(dispatcher, tracker([COMPLAINT]), {})
    assert dispatcher.messages == []  # no apology, no "passing you on", no number
    assert store.list() == []


async def test_the_retried_turn_makes_one_ticket_and_acknowledges_it_once(
    settings: Path,
) -> None:
    store = impatient(services.get_services().tickets)
    with write_locked(store.path), pytest.raises(TicketStoreUnavailableError):
        await escalate(tracker([COMPLAINT]))
    # The store is back; the channel retries the same message (same message id).
    events, messages = await escalate(tracker([COMPLAINT]))
    [ticket] = store.list()
    assert ticket.reason == "complaint" and ticket.dedupe_key == "tg-5550123:tg-300"
    responses = [m["response"] for m in messages]
    assert responses[0] == "utter_complaint_sorry"  # said once the ticket exists
    assert responses[1:] == ["utter_ticket_created_after_hours"]
    assert [m.get("ticket_ref") for m in messages] == [None, ticket.ref]
    assert events == [{"event": "slot", "timestamp": None, "name": "ticket_ref",
                       "value": ticket.ref}]
    # The reply was lost (the server died after the commit): the next retry finds the
    # same ticket, adds nothing and acknowledges that number once more, once.
    _, again = await escalate(tracker([COMPLAINT]))
    assert [m.get("ticket_ref") for m in again] == [None, ticket.ref]
    assert store.list() == [store.get(ticket.number)]
    assert len(store.get(ticket.number).transcript) == len(ticket.transcript)  # type: ignore[union-attr]
    assert [e.kind for e in store.events(ticket.number)] == ["created"]


def _steps(folder: str, key: str) -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for path in sorted((ROOT / "data" / folder).glob("*.yml")):
        for flow in yaml.safe_load(path.read_text(encoding="utf-8")).get(key) or []:
            out.append((f"{path.name}: {flow.get(key[:-1]) or flow.get('story')}",
                        flow["steps"]))
    return out


@pytest.mark.parametrize(
    ("name", "steps"), _steps("rules", "rules") + _steps("stories", "stories"),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_no_rule_or_story_speaks_between_the_customer_and_the_escalation(
    name: str, steps: list[dict[str, Any]]
) -> None:
    """A response before action_escalate would promise a handoff that may not happen."""
    for before, step in pairwise(steps):
        if step.get("action") == "action_escalate":
            assert "intent" in before, f"{name}: {before} runs before the ticket exists"


async def test_the_slow_parts_of_an_escalation_run_off_the_event_loop(
    settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQL, reading the events and routing scale with the conversation: in an executor,
    so that one long conversation never stalls the action server's other calls."""
    import actions.escalate as module

    loop_thread = threading.get_ident()
    calls: list[tuple[str, bool]] = []

    def watch(name: str, func: Any) -> Any:
        def watched(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, threading.get_ident() == loop_thread))
            return func(*args, **kwargs)
        return watched

    store = services.get_services().tickets
    for name in ("open_ticket_for", "list", "create", "append_turns"):
        monkeypatch.setattr(store, name, watch(name, getattr(store, name)))
    for name in ("turns_from_events", "summarise"):
        monkeypatch.setattr(module, name, watch(name, getattr(module, name)))
    monkeypatch.setattr(module.routing, "route", watch("route", module.routing.route))
    await escalate(tracker())
    await escalate(tracker([user("Še vedno nič?", 1772438600.0, "request_human", "tg-200")]))
    assert {name for name, _ in calls} == {
        "open_ticket_for", "list", "create", "append_turns", "turns_from_events",
        "summarise", "route",
    }
    assert [name for name, on_loop in calls if on_loop] == []
