"""The one contract every ticket store passes (STYLE 12): SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.tickets.model import Ticket, TicketDraft, Turn
from bot.tickets.store import (
    CsatRefusedError,
    TicketNotFoundError,
    TicketStore,
    TicketStoreError,
)

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
LJUBLJANA = ZoneInfo("Europe/Ljubljana")


def turn(i: int, **kw: Any) -> Turn:
    values: dict[str, Any] = {
        "at": T0 + timedelta(seconds=i),
        "speaker": "customer" if i % 2 == 0 else "bot",
        "text": f"message {i}",
    }
    values.update(kw)
    return Turn(**values)


RICH_TRANSCRIPT = [
    Turn(
        at=T0, speaker="customer", text="Dvakrat ste mi zaračunali — nujno!",
        language="sl", translation="You charged me twice — urgent!",
        intent="double_charge", confidence=0.912, message_id="tg-1", channel="telegram",
    ),
    Turn(
        at=T0 + timedelta(seconds=1, microseconds=250_000), speaker="bot",
        text="Žal nam je.\nPreverite izpisek.", language="sl",
        kb_articles=("double-charge", "refund-times"), channel="telegram",
    ),
    Turn(
        at=T0 + timedelta(seconds=5), speaker="customer", text="أريد موظفاً فوراً",
        language="ar", intent="request_human", confidence=1.0,
    ),
    Turn(at=T0 + timedelta(seconds=6), speaker="system", text="handed to a human"),
]


def draft(**kw: Any) -> TicketDraft:
    values: dict[str, Any] = {
        "conversation_id": "tg-5550123",
        "channel": "telegram",
        "customer_id": "5550123",
        "language": "sl",
        "reason": "asked_for_human",
        "queue": "billing-sl",
        "priority": "high",
        "after_hours": True,
        "promised_reply_at": datetime(2026, 3, 3, 8, 0, tzinfo=LJUBLJANA),
        "tags": ("double_charge",),
        "summary": 'Customer (sl): "Dvakrat ste mi zaračunali"',
        "transcript": list(RICH_TRANSCRIPT),
        "dedupe_key": None,
    }
    values.update(kw)
    return TicketDraft(**values)


def test_is_a_ticket_store(store: TicketStore) -> None:
    assert isinstance(store, TicketStore)


def test_create_returns_the_stored_ticket(store: TicketStore) -> None:
    d = draft()
    ticket = store.create(d)
    assert isinstance(ticket, Ticket)
    assert ticket.number >= 1
    assert ticket.ref == f"LU-{ticket.number:06d}"
    assert ticket.status == "new"
    assert ticket.created_at.tzinfo is not None
    assert ticket.updated_at == ticket.created_at
    for name in TicketDraft.__dataclass_fields__:
        assert getattr(ticket, name) == getattr(d, name), name
    assert store.get(ticket.number) == ticket


def test_get_round_trips_every_field(store: TicketStore) -> None:
    ticket = store.create(draft())
    got = store.get(ticket.number)
    assert got is not None
    assert got.transcript == RICH_TRANSCRIPT
    assert got.transcript[1].kb_articles == ("double-charge", "refund-times")
    assert got.transcript[1].at.microsecond == 250_000
    assert got.transcript[3].language is None and got.transcript[3].confidence is None
    assert got.promised_reply_at == datetime(2026, 3, 3, 7, 0, tzinfo=timezone.utc)
    assert got.tags == ("double_charge",)
    assert got.after_hours is True


def test_empty_transcript_and_optional_fields(store: TicketStore) -> None:
    ticket = store.create(
        draft(transcript=[], tags=(), promised_reply_at=None, after_hours=False,
              summary="")
    )
    got = store.get(ticket.number)
    assert got == ticket
    assert got is not None and got.transcript == [] and got.promised_reply_at is None


def test_get_unknown_is_none(store: TicketStore) -> None:
    assert store.get(424242) is None


def test_numbers_increase(store: TicketStore) -> None:
    numbers = [store.create(draft()).number for _ in range(3)]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_durable_across_reopen(store_factory: Any) -> None:
    first = store_factory.open()
    ticket = first.create(draft())
    # Committed before create returned: a second connection sees it right away.
    second = store_factory.open()
    assert second.get(ticket.number) == ticket
    first.close()
    second.close()
    reopened = store_factory.open()
    assert reopened.get(ticket.number) == ticket
    assert [t.number for t in reopened.list()] == [ticket.number]


def test_durable_when_the_process_dies_right_after_create(store_factory: Any) -> None:
    spec = {k: str(v) for k, v in store_factory.spec.items()}
    if store_factory.kind == "sqlite":
        opener = f"SQLiteTicketStore({spec['path']!r})"
    else:
        opener = f"PostgresTicketStore({spec['dsn']!r}, schema={spec['schema']!r})"
    code = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, timezone
        from bot.tickets.model import TicketDraft, Turn
        from bot.tickets.store import SQLiteTicketStore, PostgresTicketStore
        store = {opener}
        t = store.create(TicketDraft(
            "c-crash", "webchat", "u1", "en", "asked_for_human", "general-en",
            transcript=[Turn(datetime.now(timezone.utc), "customer", "help")]))
        print(t.number, flush=True)
        os._exit(0)  # no close, no commit at exit, no cleanup
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    )
    number = int(out.stdout.strip())
    got = store_factory.open().get(number)
    assert got is not None and got.conversation_id == "c-crash"
    assert [t.text for t in got.transcript] == ["help"]


def test_dedupe_key_returns_the_existing_ticket(store: TicketStore) -> None:
    first = store.create(draft(dedupe_key="tg-5550123:escalate:42"))
    again = store.create(
        draft(dedupe_key="tg-5550123:escalate:42", summary="retried", transcript=[])
    )
    assert again == first  # unchanged: the retry does not overwrite
    other = store.create(draft(dedupe_key="tg-5550123:escalate:43"))
    assert other.number != first.number
    assert len(store.list()) == 2


def test_without_dedupe_key_every_create_is_new(store: TicketStore) -> None:
    a = store.create(draft(dedupe_key=None))
    b = store.create(draft(dedupe_key=None))
    assert a.number != b.number


@pytest.fixture()
def populated(store: TicketStore) -> dict[str, Ticket]:
    made = {
        "sl_billing": store.create(draft()),
        "ar_orders": store.create(
            draft(language="ar", queue="orders-ar", conversation_id="wc-1")
        ),
        "en_general": store.create(draft(language="en", queue="general-en")),
        "hr_general": store.create(
            draft(language="hr", queue="general-en", conversation_id="wc-2")
        ),
    }
    made["ar_orders"] = store.set_status(made["ar_orders"].number, "open")
    made["hr_general"] = store.set_status(made["hr_general"].number, "resolved")
    return made


LIST_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("everything, newest first", {}, ["hr_general", "en_general", "ar_orders",
                                      "sl_billing"]),
    ("status", {"status": "new"}, ["en_general", "sl_billing"]),
    ("queue", {"queue": "general-en"}, ["hr_general", "en_general"]),
    ("language", {"language": "ar"}, ["ar_orders"]),
    ("combined", {"queue": "general-en", "status": "resolved"}, ["hr_general"]),
    ("nothing matches", {"language": "de"}, []),
    ("limit", {"limit": 2}, ["hr_general", "en_general"]),
    ("conversation", {"conversation_id": "wc-2"}, ["hr_general"]),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [c[1:] for c in LIST_CASES], ids=[c[0] for c in LIST_CASES]
)
def test_list_filters(
    store: TicketStore, populated: dict[str, Ticket], filters: dict[str, Any],
    expected: list[str],
) -> None:
    got = store.list(**filters)
    assert [t.number for t in got] == [populated[name].number for name in expected]
    for ticket in got:  # listed tickets are complete, transcript included
        assert ticket.transcript == RICH_TRANSCRIPT


@pytest.mark.parametrize("bad", [{"status": "closed"}, {"limit": 0}, {"limit": -1}])
def test_list_rejects_bad_arguments(store: TicketStore, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        store.list(**bad)


def test_append_turns(store: TicketStore) -> None:
    ticket = store.create(draft(transcript=[turn(0)]))
    store.append_turns(
        ticket.number, [turn(1), turn(2, speaker="agent", language="sl")]
    )
    store.append_turns(ticket.number, [])
    store.append_turns(ticket.number, [turn(3)])
    got = store.get(ticket.number)
    assert got is not None
    assert [t.text for t in got.transcript] == [f"message {i}" for i in range(4)]
    assert got.transcript[2].speaker == "agent"
    assert got.updated_at is not None and got.updated_at > ticket.created_at
    assert got.created_at == ticket.created_at


def test_append_to_a_ticket_created_without_transcript(store: TicketStore) -> None:
    ticket = store.create(draft(transcript=[]))
    store.append_turns(ticket.number, [turn(0)])
    got = store.get(ticket.number)
    assert got is not None and [t.text for t in got.transcript] == ["message 0"]


def test_append_to_unknown_ticket(store: TicketStore) -> None:
    with pytest.raises(TicketNotFoundError, match="LU-424242"):
        store.append_turns(424242, [turn(0)])


@pytest.mark.parametrize("status", ["open", "pending", "resolved", "new"])
def test_set_status(store: TicketStore, status: str) -> None:
    ticket = store.create(draft())
    updated = store.set_status(ticket.number, status)
    assert updated.status == status
    assert updated.updated_at is not None and updated.updated_at > ticket.created_at
    assert store.get(ticket.number) == updated
    assert updated.transcript == ticket.transcript


def test_set_status_rejects_unknown_status(store: TicketStore) -> None:
    ticket = store.create(draft())
    with pytest.raises(ValueError, match="closed"):
        store.set_status(ticket.number, "closed")
    got = store.get(ticket.number)
    assert got is not None and got.status == "new"


def test_set_status_of_unknown_ticket(store: TicketStore) -> None:
    with pytest.raises(TicketNotFoundError):
        store.set_status(424242, "open")


def test_closed_store_refuses_work(store_factory: Any) -> None:
    store = store_factory.open()
    store.close()
    store.close()  # idempotent
    with pytest.raises(TicketStoreError, match="closed"):
        store.get(1)


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_creates_and_appends(store_factory: Any, shared: bool) -> None:
    threads, per_thread = 6, 5
    main = store_factory.open()
    target = main.create(draft(transcript=[]))
    stores = [main if shared else store_factory.open() for _ in range(threads)]
    created: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        s = stores[i]
        for j in range(per_thread):
            t = s.create(draft(conversation_id=f"c{i}-{j}", transcript=[turn(j)]))
            with lock:
                created.append(t.number)
            s.append_turns(target.number, [turn(j, text=f"t{i}-{j}")])

    _run_threads(threads, work)
    assert len(set(created)) == threads * per_thread
    got = main.get(target.number)
    assert got is not None
    texts = [t.text for t in got.transcript]
    assert sorted(texts) == sorted(f"t{i}-{j}" for i in range(threads)
                                   for j in range(per_thread))
    for i in range(threads):  # each thread's appends stay in its order
        mine = [x for x in texts if x.startswith(f"t{i}-")]
        assert mine == [f"t{i}-{j}" for j in range(per_thread)]
    assert len(main.list(limit=1000)) == threads * per_thread + 1


@pytest.mark.parametrize("shared", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_retries_create_one_ticket(store_factory: Any, shared: bool) -> None:
    threads = 6
    main = store_factory.open()
    stores = [main if shared else store_factory.open() for _ in range(threads)]
    numbers: list[int] = []

    def work(i: int) -> None:
        numbers.append(stores[i].create(draft(dedupe_key="retry-me")).number)

    _run_threads(threads, work)
    assert len(set(numbers)) == 1
    assert len(main.list()) == 1


# ---------------------------------------------------------------------- handoff (v2)

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T1 + timedelta(minutes=minutes)


def agent_turn(translation: str = "Pozdravljeni, preverila bom.", **kw: Any) -> Turn:
    values: dict[str, Any] = {
        "at": at(5), "speaker": "agent", "text": "Hello, I will check.",
        "translation": translation, "language": "sl",
    }
    values.update(kw)
    return Turn(**values)


def test_a_new_ticket_has_no_handoff_state_and_one_created_event(
    store: TicketStore,
) -> None:
    ticket = store.create(draft(), now=T1)
    assert ticket.created_at == T1
    assert (ticket.assignee, ticket.csat, ticket.first_response_at,
            ticket.resolved_at) == (None, None, None, None)
    events = store.events(ticket.number)
    assert [(e.seq, e.kind, e.actor, e.at) for e in events] == [
        (1, "created", "bot", T1)
    ]
    assert events[0].data["reason"] == "asked_for_human"
    assert events[0].data["queue"] == "billing-sl"


def test_assign_opens_the_ticket_and_records_who(store: TicketStore) -> None:
    ticket = store.create(draft(), now=T1)
    got = store.assign(ticket.number, "ana", now=at(2))
    assert got.assignee == "ana" and got.status == "open" and got.updated_at == at(2)
    again = store.assign(ticket.number, "bojan", now=at(3))
    assert again.assignee == "bojan"
    assert store.get(ticket.number) == again
    assigned = [e for e in store.events(ticket.number) if e.kind == "assigned"]
    assert [(e.actor, e.data["previous"], e.data["from"]) for e in assigned] == [
        ("ana", None, "new"), ("bojan", "ana", "open"),
    ]


def test_agent_reply_appends_a_turn_and_sets_first_response_once(
    store: TicketStore,
) -> None:
    ticket = store.create(draft(), now=T1)
    store.assign(ticket.number, "ana", now=at(1))
    first = store.add_agent_reply(ticket.number, "ana", agent_turn(), now=at(5))
    assert first.first_response_at == at(5)
    assert first.transcript[-1] == agent_turn()
    assert len(first.transcript) == len(RICH_TRANSCRIPT) + 1
    second = store.add_agent_reply(
        ticket.number, "ana", agent_turn("Vračilo je odobreno.", at=at(9)), now=at(9)
    )
    assert second.first_response_at == at(5)  # never moves
    replies = [e for e in store.events(ticket.number) if e.kind == "agent_reply"]
    assert [e.data["first_response"] for e in replies] == [True, False]
    assert replies[0].data["translation"] == "Pozdravljeni, preverila bom."
    assert replies[0].data["text"] == "Hello, I will check."


def test_agent_reply_to_a_new_ticket_opens_it(store: TicketStore) -> None:
    ticket = store.create(draft(), now=T1)
    assert store.add_agent_reply(ticket.number, "ana", agent_turn()).status == "open"


@pytest.mark.parametrize(
    "bad", [{"speaker": "bot"}, {"text": "  "}], ids=["not an agent turn", "empty"]
)
def test_agent_reply_rejects_what_is_not_one(
    store: TicketStore, bad: dict[str, Any]
) -> None:
    ticket = store.create(draft())
    with pytest.raises(ValueError):
        store.add_agent_reply(ticket.number, "ana", agent_turn(**bad))
    got = store.get(ticket.number)
    assert got is not None and got.transcript == RICH_TRANSCRIPT
    assert [e.kind for e in store.events(ticket.number)] == ["created"]


def test_notes_are_events_not_transcript(store: TicketStore) -> None:
    ticket = store.create(draft(), now=T1)
    note = store.add_note(ticket.number, "ana", "Customer is a VIP <b>!</b>", now=at(4))
    assert (note.number, note.kind, note.actor, note.at) == (
        ticket.number, "note", "ana", at(4)
    )
    assert note.data == {"text": "Customer is a VIP <b>!</b>"}
    assert store.events(ticket.number)[-1] == note
    got = store.get(ticket.number)
    assert got is not None and got.transcript == RICH_TRANSCRIPT
    with pytest.raises(ValueError):
        store.add_note(ticket.number, "ana", "")


def test_resolve_and_csat(store: TicketStore) -> None:
    ticket = store.create(draft(), now=T1)
    store.assign(ticket.number, "ana", now=at(1))
    resolved = store.resolve(ticket.number, "ana", now=at(30))
    assert resolved.status == "resolved" and resolved.resolved_at == at(30)
    store.ask_csat(ticket.number, now=at(30))
    rated = store.set_csat(ticket.number, 4, now=at(31))
    assert rated.csat == 4 and rated.status == "resolved"
    assert store.get(ticket.number) == rated
    kinds = [(e.kind, e.actor) for e in store.events(ticket.number)]
    assert kinds == [("created", "bot"), ("assigned", "ana"), ("resolved", "ana"),
                     ("csat_asked", "bot"), ("csat", "customer")]
    assert store.events(ticket.number)[-1].data == {"score": 4}


def test_csat_is_asked_only_about_a_resolved_unrated_ticket_and_recorded_once(
    store: TicketStore,
) -> None:
    ticket = store.create(draft(), now=T1)
    with pytest.raises(CsatRefusedError, match="new, not resolved"):
        store.ask_csat(ticket.number)
    store.resolve(ticket.number, "ana", now=at(10))
    store.ask_csat(ticket.number, now=at(11))
    store.ask_csat(ticket.number, now=at(12))  # a retried turn: nothing new
    assert [e.kind for e in store.events(ticket.number)].count("csat_asked") == 1
    store.set_csat(ticket.number, 5, now=at(13))
    with pytest.raises(CsatRefusedError, match="rated already"):
        store.ask_csat(ticket.number)


@pytest.mark.parametrize(
    "history",
    [
        [],
        ["assign"],
        ["resolve"],
        ["resolve", "ask", "reopen"],
        ["resolve", "ask", "reopen", "resolve"],
        ["resolve", "ask", "rate"],
    ],
    ids=["new", "open", "not-asked", "reopened", "resolved-again-not-asked", "twice"],
)
def test_a_rating_nobody_asked_for_is_refused(
    store: TicketStore, history: list[str]
) -> None:
    ticket = store.create(draft(), now=T1)
    steps: dict[str, Callable[[], Any]] = {
        "assign": lambda: store.assign(ticket.number, "ana"),
        "resolve": lambda: store.resolve(ticket.number, "ana"),
        "ask": lambda: store.ask_csat(ticket.number),
        "reopen": lambda: store.set_status(ticket.number, "open", actor="ana"),
        "rate": lambda: store.set_csat(ticket.number, 2),
    }
    for step in history:
        steps[step]()
    events = len(store.events(ticket.number))
    with pytest.raises(CsatRefusedError, match="LU-"):
        store.set_csat(ticket.number, 5)
    got = store.get(ticket.number)
    assert got is not None and got.csat == (2 if "rate" in history else None)
    assert len(store.events(ticket.number)) == events  # the refusal wrote nothing


@pytest.mark.parametrize("score", [0, 6, 3.5, True, "4", None])
def test_csat_must_be_one_to_five(store: TicketStore, score: Any) -> None:
    ticket = store.create(draft())
    with pytest.raises(ValueError, match=r"1\.\.5"):
        store.set_csat(ticket.number, score)
    got = store.get(ticket.number)
    assert got is not None and got.csat is None


def test_reopening_clears_resolved_at_and_status_changes_are_events(
    store: TicketStore,
) -> None:
    ticket = store.create(draft(), now=T1)
    store.resolve(ticket.number, "ana", now=at(10))
    reopened = store.set_status(ticket.number, "pending", actor="ana", now=at(11))
    assert reopened.resolved_at is None and reopened.status == "pending"
    same = store.set_status(ticket.number, "pending", now=at(12))
    assert same.updated_at == at(12)
    status = [e for e in store.events(ticket.number) if e.kind == "status"]
    assert [(e.actor, e.data) for e in status] == [
        ("ana", {"from": "resolved", "to": "pending"})
    ]  # setting the same status again changes nothing: no event
    again = store.set_status(ticket.number, "resolved", now=at(20))
    assert again.resolved_at == at(20)


def test_customer_messages_are_events_and_end_waiting(store: TicketStore) -> None:
    ticket = store.create(draft(transcript=[]), now=T1)
    store.set_status(ticket.number, "pending", now=at(1))
    store.append_turns(
        ticket.number,
        [turn(0, text="Še vedno čakam", message_id="m-7"), turn(1, text="bot says")],
        now=at(2),
    )
    got = store.get(ticket.number)
    assert got is not None and got.status == "open"
    messages = [e for e in store.events(ticket.number) if e.kind == "customer_message"]
    assert [(e.actor, e.data["text"], e.data["message_id"]) for e in messages] == [
        ("customer", "Še vedno čakam", "m-7")
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.assign(424242, "ana"),
        lambda s: s.add_note(424242, "ana", "x"),
        lambda s: s.add_agent_reply(424242, "ana", agent_turn()),
        lambda s: s.resolve(424242, "ana"),
        lambda s: s.set_csat(424242, 5),
        lambda s: s.ask_csat(424242),
        lambda s: s.events(424242),
    ],
    ids=["assign", "note", "reply", "resolve", "csat", "ask-csat", "events"],
)
def test_handoff_methods_on_an_unknown_ticket(
    store: TicketStore, call: Callable[[TicketStore], Any]
) -> None:
    with pytest.raises(TicketNotFoundError, match="LU-424242"):
        call(store)


def test_naive_now_is_refused(store: TicketStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.create(draft(), now=datetime(2026, 3, 2, 9, 0))


def test_open_ticket_for_a_conversation(store: TicketStore) -> None:
    assert store.open_ticket_for("tg-5550123") is None
    first = store.create(draft(), now=T1)
    store.create(draft(conversation_id="someone-else"), now=at(1))
    assert store.open_ticket_for("tg-5550123") == first
    store.resolve(first.number, "ana", now=at(2))
    assert store.open_ticket_for("tg-5550123") is None
    second = store.create(draft(), now=at(3))
    third = store.create(draft(), now=at(4))
    assert store.open_ticket_for("tg-5550123") == third
    store.resolve(third.number, "ana", now=at(5))
    found = store.open_ticket_for("tg-5550123")
    assert found is not None and found.number == second.number


@pytest.fixture()
def inbox(store: TicketStore) -> dict[str, Ticket]:
    made = {
        "sl_new": store.create(draft(), now=at(0)),
        "ar_mine": store.create(
            draft(language="ar", queue="orders-ar", priority="normal",
                  after_hours=False, customer_id="c-ar"), now=at(1)),
        "en_old": store.create(
            draft(language="en", queue="general-en", priority="normal",
                  customer_id="c-en"), now=at(-60 * 24 * 10)),
        "en_done": store.create(
            draft(language="en", queue="general-en", after_hours=False,
                  customer_id="c-en"), now=at(2)),
    }
    made["ar_mine"] = store.assign(made["ar_mine"].number, "ana", now=at(3))
    made["en_done"] = store.resolve(made["en_done"].number, "bojan", now=at(4))
    return made


INBOX_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("queues", {"queues": ["orders-ar", "general-en"]}, ["en_done", "en_old",
                                                          "ar_mine"]),
    ("no queues", {"queues": []}, []),
    ("assignee", {"assignee": "ana"}, ["ar_mine"]),
    ("unassigned", {"unassigned": True}, ["en_done", "en_old", "sl_new"]),
    ("after hours", {"after_hours": True}, ["en_old", "sl_new"]),
    ("in hours", {"after_hours": False}, ["en_done", "ar_mine"]),
    ("priority", {"priority": "high"}, ["en_done", "sl_new"]),
    ("statuses", {"status": ["new", "open"]}, ["en_old", "ar_mine", "sl_new"]),
    ("customer", {"customer_id": "c-en"}, ["en_done", "en_old"]),
    ("repeat window", {"customer_id": "c-en", "created_after": at(-60 * 24 * 7)},
     ["en_done"]),
    ("before", {"created_before": at(1)}, ["en_old", "sl_new"]),
    ("combined", {"queues": ["general-en"], "status": "resolved",
                  "language": "en"}, ["en_done"]),
    ("no limit", {"limit": None}, ["en_done", "en_old", "ar_mine", "sl_new"]),
]


@pytest.mark.parametrize(
    ("filters", "expected"), [c[1:] for c in INBOX_CASES],
    ids=[c[0] for c in INBOX_CASES],
)
def test_inbox_filters(
    store: TicketStore, inbox: dict[str, Ticket], filters: dict[str, Any],
    expected: list[str],
) -> None:
    got = store.list(**filters)
    assert [t.number for t in got] == [inbox[name].number for name in expected]
    assert got == [store.get(t.number) for t in got]


def test_list_without_transcripts(store: TicketStore, inbox: dict[str, Ticket]) -> None:
    light = store.list(transcripts=False)
    assert light and all(t.transcript == [] for t in light)
    assert [t.assignee for t in light] == [t.assignee for t in store.list()]


def test_events_since_spans_tickets(
    store: TicketStore, inbox: dict[str, Ticket]
) -> None:
    recent = store.events_since(at(0))
    assert [(e.number, e.kind) for e in recent] == [
        (inbox["sl_new"].number, "created"), (inbox["ar_mine"].number, "created"),
        (inbox["en_done"].number, "created"), (inbox["ar_mine"].number, "assigned"),
        (inbox["en_done"].number, "resolved"),
    ]
    assert [e.kind for e in store.events_since(kinds=["resolved"])] == ["resolved"]


def test_concurrent_events_keep_one_sequence(store_factory: Any) -> None:
    main = store_factory.open()
    ticket = main.create(draft(transcript=[]))
    stores = [store_factory.open() for _ in range(4)]

    def work(i: int) -> None:
        for j in range(5):
            stores[i].add_note(ticket.number, f"agent{i}", f"note {j}")

    _run_threads(4, work)
    seqs = [e.seq for e in main.events(ticket.number)]
    assert seqs == list(range(1, 22))
