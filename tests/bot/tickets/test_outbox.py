"""The helpdesk outbox: queued with each change, delivered at least once, signed, with
backoff; a stand-in helpdesk that fails and recovers receives every change exactly once
per idempotency key, also when the worker is killed and restarted mid-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.settings import Section
from bot.tickets.model import Turn
from bot.tickets.outbox import (
    OutboxConfig,
    OutboxWorker,
    Secret,
    encode_body,
    retry_delay,
    sign,
    verify_signature,
)
from bot.tickets.store import SQLiteTicketStore
from tests.bot.tickets.helpdesk import Helpdesk, running_helpdesk
from tests.bot.tickets.test_store_contract import draft
from tests.conftest import ROOT, write_settings

SECRET = "s3cret-for-tests-0123456789"
FILE = Path("/etc/supportbot/supportbot.yml")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def config(url: str = "http://127.0.0.1:9/x", **kw: Any) -> OutboxConfig:
    values: dict[str, Any] = {
        "url": url, "secret": Secret(SECRET), "max_attempts": 20,
        "backoff_seconds": 0.05, "backoff_max_seconds": 0.2, "timeout_seconds": 0.5,
        "poll_seconds": 0.05,
    }
    values.update(kw)
    return OutboxConfig(**values)


def reply(text: str = "Preverila bom.") -> Turn:
    return Turn(at=T0, speaker="agent", text="I will check.", translation=text,
                language="sl")


def make_history(store: Any, tickets: int = 3) -> None:
    """Tickets with the changes an inbox makes: every one queues a document."""
    for i in range(tickets):
        t = store.create(draft(conversation_id=f"c{i}"), now=T0)
        store.assign(t.number, "ana", now=T0 + timedelta(minutes=1))
        store.add_agent_reply(t.number, "ana", reply(), now=T0 + timedelta(minutes=2))
        if i % 2 == 0:
            store.resolve(t.number, "ana", now=T0 + timedelta(minutes=3))


# ---------------------------------------------------------------- pure parts


def test_backoff_doubles_up_to_the_cap() -> None:
    waits = [retry_delay(n, 5, 60).total_seconds() for n in range(1, 7)]
    assert waits == [5, 10, 20, 40, 60, 60]
    assert retry_delay(500, 5, 3600) == timedelta(hours=1)
    with pytest.raises(ValueError):
        retry_delay(0, 5, 60)


def test_signatures_verify_only_the_signed_body_in_time() -> None:
    body = encode_body({"idempotency_key": "LU-000001/1", "text": "Dvakrat"})
    now = datetime.now(timezone.utc)
    header = sign(SECRET, body, int(now.timestamp()))
    assert header.startswith("t=") and ",v1=" in header
    assert verify_signature(SECRET, header, body, now)
    assert not verify_signature(SECRET, header, body + b" ", now)
    assert not verify_signature("another-secret-0123456", header, body, now)
    assert not verify_signature(SECRET, header, body, now + timedelta(minutes=10))
    assert not verify_signature(SECRET, None, body, now)
    assert not verify_signature(SECRET, "t=abc,v1=00", body, now)


def test_the_secret_never_shows() -> None:
    cfg = config()
    assert SECRET not in repr(cfg) and SECRET not in str(cfg.secret)
    assert cfg.secret.get() == SECRET


def section(**data: Any) -> Section:
    return Section(name="outbox", data=data, file=FILE, base_dir=FILE.parent)


def test_config_from_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_SECRET", SECRET)
    cfg = OutboxConfig.from_section(section(
        url="https://helpdesk.example.com/hook", secret="$HELPDESK_SECRET",
        max_attempts=3, backoff_seconds=2, backoff_max_seconds=30,
    ))
    assert cfg is not None
    assert (cfg.url, cfg.secret.get(), cfg.max_attempts) == (
        "https://helpdesk.example.com/hook", SECRET, 3
    )
    assert cfg.lease == timedelta(seconds=21)
    assert OutboxConfig.from_section(section()) is None
    assert OutboxConfig.from_section(section(url="", secret="$UNSET_X")) is None


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"url": "ftp://x/y", "secret": SECRET}, "outbox.url", "http(s)"),
        ({"url": "http://h/x"}, "outbox.secret", "at least 16"),
        ({"url": "http://h/x", "secret": "short"}, "outbox.secret", "at least 16"),
        ({"url": "http://h/x", "secret": "$UNSET_OUTBOX_SECRET_42"}, "outbox.secret",
         "not set"),
        ({"url": "http://h/x", "secret": SECRET, "max_attempts": 0},
         "outbox.max_attempts", "above 0"),
        ({"url": "http://h/x", "secret": SECRET, "max_attempts": 2.5},
         "outbox.max_attempts", "whole number"),
        ({"url": "http://h/x", "secret": SECRET, "backoff_seconds": 10,
          "backoff_max_seconds": 5}, "outbox.backoff_max_seconds", "below"),
        ({"url": "http://h/x", "secret": SECRET, "retries": 3}, "outbox.retries",
         "not an outbox setting"),
    ],
)
def test_config_errors_name_the_key(data: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        OutboxConfig.from_section(section(**data))
    assert info.value.key == key and words in info.value.problem
    assert SECRET not in str(info.value)


# ---------------------------------------------------------------- queued with changes


def test_every_change_queues_one_document_in_order(store_factory: Any) -> None:
    store = store_factory.open()
    store.outbox = True
    make_history(store, tickets=1)
    store.add_note(1, "ana", "internal only")
    store.ask_csat(1)  # a history event the helpdesk does not get
    store.set_csat(1, 5)
    items = store.outbox_items()
    kinds = [i.payload["event"]["kind"] for i in items]
    assert kinds == ["created", "assigned", "agent_reply", "resolved", "note", "csat"]
    assert [i.idempotency_key for i in items] == [
        f"LU-000001/{n}" for n in (1, 2, 3, 4, 5, 7)
    ]
    created, _, answered, resolved, note, csat = (i.payload for i in items)
    assert created["event"]["type"] == "ticket.created"
    assert created["ticket"]["status"] == "new"
    assert len(created["transcript"]) == 4  # the whole conversation, once
    assert answered["event"]["type"] == "ticket.updated"
    assert "transcript" not in answered
    assert answered["ticket"]["comment"] == {
        "body": "Preverila bom.", "public": True, "author": "ana",
        "original": "I will check.",
    }
    assert answered["ticket"]["assignee"] == "ana"
    assert resolved["ticket"]["status"] == "solved"
    assert note["ticket"]["comment"]["public"] is False
    assert csat["ticket"]["satisfaction_rating"] == {"score": 5}
    assert store.outbox_counts() == {"pending": 6, "delivered": 0, "dead": 0}


def test_without_an_outbox_nothing_is_queued(store: Any) -> None:
    make_history(store, tickets=1)
    assert store.outbox_items() == []


def test_a_failed_change_queues_nothing(store_factory: Any) -> None:
    store = store_factory.open()
    store.outbox = True
    store.create(draft(), now=T0)
    with pytest.raises(ValueError):
        store.set_csat(1, 9)
    with pytest.raises(ValueError):
        store.add_agent_reply(1, "ana", Turn(at=T0, speaker="bot", text="x"))
    assert len(store.outbox_items()) == 1


# ---------------------------------------------------------------- delivery


def deliver_all(worker: OutboxWorker, store: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while store.outbox_counts()["pending"]:
        assert time.monotonic() < deadline, store.outbox_items("pending")
        worker.run_once()
        time.sleep(0.02)


def assert_exactly_once(desk: Helpdesk, store: Any) -> None:
    keys = [i.idempotency_key for i in store.outbox_items()]
    assert sorted(desk.applied) == sorted(keys)
    assert len(desk.order) == len(set(desk.order)) == len(keys)
    assert not desk.rejected
    # Each ticket's changes were applied in the order they happened.
    by_ticket: dict[str, list[int]] = {}
    for key in desk.order:
        ref, seq = key.split("/")
        by_ticket.setdefault(ref, []).append(int(seq))
    assert all(seqs == sorted(seqs) for seqs in by_ticket.values())
    # The store knows: every document delivered, each with a "delivered" event.
    assert store.outbox_counts() == {"pending": 0, "delivered": len(keys), "dead": 0}
    for number in {i.number for i in store.outbox_items()}:
        events = store.events(number)
        delivered = {e.data["event_seq"] for e in events if e.kind == "delivered"}
        assert delivered == {e.seq for e in events if e.kind != "delivered"}


def test_a_failing_helpdesk_that_recovers_gets_everything_once(
    store_factory: Any,
) -> None:
    store = store_factory.open()
    store.outbox = True
    make_history(store, tickets=3)
    desk = Helpdesk(SECRET, ["500", "drop", "slow", "500", "500", "slow", "drop"],
                    slow_seconds=1.0)
    with running_helpdesk(desk):
        worker = OutboxWorker(store, config(desk.url))
        try:
            deliver_all(worker, store)
        finally:
            worker.close()
    assert_exactly_once(desk, store)
    # The slow answers were timeouts for the sender: it retried, the receiver had
    # already applied them and only acknowledged the repeat.
    assert sum(desk.duplicates.values()) == 2
    failed = [i for i in store.outbox_items() if i.attempts > 1]
    assert failed and all(i.last_error is None for i in failed)


def test_backoff_waits_between_attempts() -> None:
    start = datetime.now(timezone.utc)  # the receiver checks signature times
    clock_now = [start]
    with running_helpdesk(Helpdesk(SECRET, ["500", "500", "500"])) as desk:
        store = SQLiteTicketStore(":memory:", outbox=True)
        store.create(draft(), now=T0)
        worker = OutboxWorker(store, config(desk.url, backoff_seconds=10,
                                            backoff_max_seconds=15),
                              clock=lambda: clock_now[0])
        report = worker.run_once()
        assert (report.delivered, report.failed) == (0, 1)
        [item] = store.outbox_items()
        assert item.next_attempt_at == start + timedelta(seconds=10)
        assert "HTTP 500" in (item.last_error or "")
        assert worker.run_once().attempted == 0  # not due yet
        clock_now[0] = start + timedelta(seconds=10)
        assert worker.run_once().failed == 1
        assert store.outbox_items()[0].next_attempt_at == clock_now[0] + timedelta(
            seconds=15)  # 20 s, capped at 15
        clock_now[0] += timedelta(seconds=15)
        assert worker.run_once().failed == 1
        clock_now[0] += timedelta(seconds=15)
        assert worker.run_once().delivered == 1
        worker.close()
        store.close()


def test_after_max_attempts_a_document_is_parked_and_can_be_requeued() -> None:
    store = SQLiteTicketStore(":memory:", outbox=True)
    store.create(draft(), now=T0)
    store.create(draft(), now=T0)
    with running_helpdesk(Helpdesk(SECRET, ["500"] * 3)) as desk:
        worker = OutboxWorker(store, config(desk.url, max_attempts=2,
                                            backoff_seconds=0.01))
        deliver_all(worker, store)
        counts = store.outbox_counts()
        assert counts == {"pending": 0, "delivered": 1, "dead": 1}
        [dead] = store.outbox_items("dead")
        assert dead.attempts == 2 and "HTTP 500" in (dead.last_error or "")
        assert store.outbox_requeue_dead() == 1
        deliver_all(worker, store)
        worker.close()
    assert store.outbox_counts() == {"pending": 0, "delivered": 2, "dead": 0}
    assert sorted(desk.applied) == ["LU-000001/1", "LU-000002/1"]


def test_a_wrong_secret_is_refused_and_retried_not_lost() -> None:
    store = SQLiteTicketStore(":memory:", outbox=True)
    store.create(draft(), now=T0)
    with running_helpdesk(Helpdesk("the-receivers-own-secret-0000")) as desk:
        worker = OutboxWorker(store, config(desk.url))
        assert worker.run_once().failed == 1
        worker.close()
    assert desk.applied == {} and desk.rejected == ["LU-000001/1"]
    assert store.outbox_counts()["pending"] == 1
    assert "HTTP 401" in (store.outbox_items()[0].last_error or "")


# ---------------------------------------------------------------- kill and restart


def _spawn_worker(settings: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, SUPPORTBOT_CONFIG=str(settings), PYTHONPATH=str(ROOT),
               SUPPORTBOT_OUTBOX_SECRET=SECRET)
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "outbox", "run"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killing_the_worker_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    desk = Helpdesk(SECRET, ["ok", "ok", "slow", "slow", "slow"], slow_seconds=0.6)
    with running_helpdesk(desk):
        settings = write_settings(tmp_path, outbox={
            "url": desk.url, "secret": "$SUPPORTBOT_OUTBOX_SECRET",
            "backoff_seconds": 0.1, "backoff_max_seconds": 0.5,
            "timeout_seconds": 0.4, "poll_seconds": 0.1,
        })
        store = SQLiteTicketStore(tmp_path / "tickets.sqlite3", outbox=True)
        make_history(store, tickets=4)
        total = len(store.outbox_items())

        first = _spawn_worker(settings)
        try:
            # Kill it while it waits on a slow answer: a document is in flight.
            _wait(lambda: sum(desk.requests.values()) >= 3, 60, "the first requests")
            time.sleep(0.2)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        counts = store.outbox_counts()
        assert 0 < counts["delivered"] < total and counts["pending"] > 0
        assert any(i.attempts for i in store.outbox_items("pending"))

        second = _spawn_worker(settings)
        try:
            _wait(lambda: store.outbox_counts()["pending"] == 0, 90, "delivery")
        finally:
            second.send_signal(signal.SIGTERM)
            out, _ = second.communicate(timeout=30)
        assert second.returncode == 0, out.decode()
    assert_exactly_once(desk, store)
    store.close()
