"""The durable queue: once-only under concurrency and across processes, honest retries.

The store is a real SQLite file; concurrency across processes uses real processes
(``multiprocessing`` with ``spawn``) on the same file. The worker runs real asyncio tasks
with a fast retry policy; ``process`` stands for a channel's call of Rasa.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from connectors.durable import (
    ChannelStore,
    RetryPolicy,
    Worker,
    inbound_item,
    main,
)

pytestmark = pytest.mark.rasa_env
FAST = RetryPolicy(attempts=3, backoff=0.05, max_backoff=0.2)


def item(sender: str, text: str, message_id: str) -> dict[str, Any]:
    return inbound_item("telegram", sender, text, message_id, {"channel": "telegram"})


class TurnFailed(RuntimeError):
    """What a failed action or a store error looks like to the channel."""


class Rasa:
    """Records turns in order; the first ``fail[text]`` tries of a text raise."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.fail = dict(fail or {})
        self.tries: list[str] = []
        self.done: list[str] = []

    async def process(self, message_id: str, data: dict[str, Any]) -> None:
        text = data["text"]
        self.tries.append(text)
        await asyncio.sleep(0.01)
        if self.fail.get(text, 0) > 0:
            self.fail[text] -= 1
            raise TurnFailed(f"action failed for {text!r}")
        self.done.append(text)


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------ retries


async def test_a_failing_turn_is_retried_until_it_completes(tmp_path: Path) -> None:
    store = ChannelStore(tmp_path / "q.sqlite3")
    rasa = Rasa(fail={"hello": 2})
    worker = Worker(store, rasa.process, "telegram", policy=FAST)
    assert store.accept("1", item("telegram:1", "hello", "1"))
    worker.submit("1", item("telegram:1", "hello", "1"))
    await until(lambda: store.status("1") == "done")
    assert rasa.tries == ["hello"] * 3 and rasa.done == ["hello"]
    assert store.attempts("1") == 2, "two failed tries were counted"
    await worker.drain(1)


async def test_later_messages_of_the_customer_wait_behind_a_retried_one(
    tmp_path: Path,
) -> None:
    store = ChannelStore(tmp_path / "q.sqlite3")
    rasa = Rasa(fail={"first": 2})
    worker = Worker(store, rasa.process, "telegram", policy=FAST)
    for n, (sender, text) in enumerate(
        [("telegram:1", "first"), ("telegram:1", "second"), ("telegram:2", "other")]
    ):
        data = item(sender, text, str(n))
        assert store.accept(str(n), data)
        worker.submit(str(n), data)
    await until(lambda: len(rasa.done) == 3)
    assert rasa.done.index("first") < rasa.done.index("second"), "written order kept"
    assert rasa.done[0] == "other", "another customer does not wait"
    await worker.drain(1)


async def test_a_turn_failing_every_time_is_parked_and_the_customer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ChannelStore(tmp_path / "q.sqlite3")
    rasa = Rasa(fail={"broken": 99})
    worker = Worker(store, rasa.process, "telegram", policy=FAST)
    with caplog.at_level(logging.WARNING, logger="connectors.durable"):
        for n, text in enumerate(["broken", "next"]):
            data = item("telegram:1", text, str(n))
            store.accept(str(n), data)
            worker.submit(str(n), data)
        await until(lambda: rasa.done == ["next"])
    assert rasa.tries == ["broken"] * 3 + ["next"], "bounded: policy.attempts tries"
    assert store.status("0") == "failed"
    assert "TurnFailed: action failed for 'broken'" in (store.error("0") or "")
    parked = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(parked) == 1 and "parked" in parked[0].getMessage()
    await worker.drain(1)

    # An operator fixes the cause and puts it back; a running worker's sweep takes it.
    assert main(["retry", str(store.path)]) == 0
    rasa.fail.clear()
    worker = Worker(store, rasa.process, "telegram", policy=FAST, sweep_every=0.05)
    worker.start()
    await until(lambda: store.status("0") == "done")
    assert rasa.done == ["next", "broken"]
    await worker.drain(1)


async def test_a_shutdown_during_backoff_loses_nothing_and_keeps_the_backoff(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    store = ChannelStore(path)
    slow = RetryPolicy(attempts=5, backoff=0.6, max_backoff=0.6)
    rasa = Rasa(fail={"hello": 1})
    worker = Worker(store, rasa.process, "telegram", policy=slow)
    store.accept("1", item("telegram:1", "hello", "1"))
    worker.submit("1", item("telegram:1", "hello", "1"))
    await until(lambda: store.attempts("1") == 1)
    started = time.monotonic()
    await worker.drain(timeout=5)
    assert time.monotonic() - started < 0.5, "a waiting retry does not hold shutdown"
    store.close()

    # The next process resumes it, not before the backoff noted in the store.
    store = ChannelStore(path)
    assert store.status("1") == "pending"
    assert store.next_attempt_at("1") > time.time()
    worker = Worker(store, rasa.process, "telegram", policy=slow)
    worker.start()
    await until(lambda: store.status("1") == "done")
    assert rasa.tries == ["hello", "hello"] and rasa.done == ["hello"]
    await worker.drain(1)


# ------------------------------------------------------- claims across processes


async def test_a_message_claimed_by_a_live_worker_is_not_taken_by_another(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    one, two = ChannelStore(path), ChannelStore(path)  # two processes' connections
    one.accept("1", item("telegram:1", "hello", "1"))
    assert one.claim("1", "worker-a", lease=30)
    assert not two.claim("1", "worker-b", lease=30)
    assert two.claimable() == []


async def test_a_dead_workers_messages_are_resumed_by_a_survivors_sweep(
    tmp_path: Path,
) -> None:
    path = tmp_path / "q.sqlite3"
    dead = ChannelStore(path)
    dead.accept("1", item("telegram:1", "hello", "1"))
    assert dead.claim("1", "killed-mid-turn", lease=0.2)  # never renewed: kill -9
    rasa = Rasa()
    survivor = Worker(
        ChannelStore(path), rasa.process, "telegram", policy=FAST, lease=1, sweep_every=0.05
    )
    survivor.start()
    await until(lambda: rasa.done == ["hello"])
    assert survivor.store.status("1") == "done"
    await survivor.drain(1)


async def test_a_long_turn_keeps_its_claim(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    store = ChannelStore(path)

    async def slow(message_id: str, data: dict[str, Any]) -> None:
        await asyncio.sleep(0.6)  # two lease lengths

    worker = Worker(store, slow, "telegram", lease=0.3)
    store.accept("1", item("telegram:1", "hello", "1"))
    worker.submit("1", item("telegram:1", "hello", "1"))
    await asyncio.sleep(0.45)
    assert not ChannelStore(path).claim("1", "other", lease=1), "renewed while running"
    await until(lambda: store.status("1") == "done")
    await worker.drain(1)


#: One process of the race: wait for the go file, then accept the same key 8 times.
_RACER = """
import sys, time
from pathlib import Path
from connectors.durable import ChannelStore, inbound_item
store, go = ChannelStore(Path(sys.argv[1])), Path(sys.argv[2])
data = inbound_item("telegram", 7, "hi", "51", {"channel": "telegram"})
store.counts()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
print(sum(store.accept("7:51", data) for _ in range(8)), flush=True)
"""


def test_sixteen_simultaneous_duplicates_in_two_processes_are_accepted_once(
    tmp_path: Path,
) -> None:
    path, go = tmp_path / "q.sqlite3", tmp_path / "go"
    ChannelStore(path).counts()  # the schema exists before the race
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    go.touch()
    accepted = [int(racer.communicate(timeout=60)[0].strip()) for racer in racers]
    assert sorted(accepted) == [0, 1], "exactly one of 16 accepts, in one of two processes"
    assert ChannelStore(path).counts()["pending"] == 1


# ------------------------------------------------------------ store and tool


def test_a_state_file_of_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE inbound (message_id TEXT PRIMARY KEY, received_at REAL NOT NULL,"
        " status TEXT NOT NULL, item TEXT NOT NULL, error TEXT);"
    )
    db.execute(
        "INSERT INTO inbound VALUES ('1', ?, 'pending', ?, NULL)",
        (time.time(), json.dumps(item("telegram:1", "kept", "1"))),
    )
    db.commit()
    db.close()
    store = ChannelStore(path)
    assert [(m, d["text"]) for m, d in store.claimable()] == [("1", "kept")]
    assert store.claim("1", "me") and store.attempts("1") == 0


def test_the_status_tool_counts_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ChannelStore(tmp_path / "q.sqlite3")
    store.accept("1", item("telegram:1", "a", "1"))
    store.reject("not JSON", b"{")
    assert main(["status", str(store.path)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "pending": 1,
        "done": 0,
        "failed": 0,
        "rejected": 1,
    }
    assert main(["status", str(tmp_path / "missing.sqlite3")]) == 2


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 2.0), (2, 4.0), (5, 32.0), (9, 300.0), (30, 300.0)]
)
def test_the_default_backoff_doubles_up_to_five_minutes(failures: int, delay: float) -> None:
    assert RetryPolicy().delay(failures) == delay
