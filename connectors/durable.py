"""Durable channel state in SQLite: each message processed once, until it completes.

Why it exists: Telegram and Meta deliver webhooks *at least once*. They retry when the
answer is slow or not 2xx, and retries cross our restarts; users also double-tap. A
webhook therefore

1. verifies and parses the whole request (:mod:`connectors.strict_json`); a body that is
   authentic but can never be processed is kept in the ``rejected`` table
   (:meth:`ChannelStore.reject`) and answered 200, because the platforms redeliver any
   other answer, for days, and a redelivery cannot fix it;
2. :meth:`ChannelStore.accept` s each platform message under its dedupe key in one
   committed ``INSERT OR IGNORE``: a duplicate, concurrent, from another process sharing
   the file, or a day later, is a no-op;
3. answers 200 at once, and
4. processes accepted messages in the background (:class:`Worker`).

**The turn contract.** ``process`` (the channel's call of Rasa's ``on_new_message``)
either returns, and the message is ``done``, or raises, and the turn did not happen: a
failed action or a store error. The message then stays ``pending`` and is tried again
with exponential backoff (:class:`RetryPolicy`: 10 tries over ~13 minutes by default);
the customer's later messages wait behind it, so they are answered in the order they
were written. After the last try it is *parked* (``failed``, with the error, logged at
ERROR) and the customer's next messages go on; ``python -m connectors.durable retry
<state_db>`` puts parked messages back in the queue once the cause is fixed.

**Once-only across processes.** A worker *claims* a message (``owner`` + ``lease_until``,
renewed while the turn runs) before processing it, so two processes on one state file
never run the same turn; a message whose owner died is claimable once its lease lapses
(:data:`LEASE_SECONDS`), and every worker sweeps for such messages periodically, so a
crashed process's work is resumed by any survivor or by its own restart. (The order of
one customer's messages is kept within a process; across processes, route a customer to
one process, or use the PostgreSQL queue of the scaling design.)

Replies carry a key derived from the inbound message's key and their position in the
turn; :class:`Replies` (on :meth:`ChannelStore.was_sent`/:meth:`mark_sent`) makes a
retried turn skip the replies the customer already has. Button payloads longer than a
platform allows (Telegram's callback data: 64 bytes) are kept here under a short key
(:meth:`short_payload`), so buttons keep working across restarts; a key this store never
issued expands to nothing, so a client cannot invent one.

One small file per channel (``state_db`` in credentials.yml, default
``var/<channel>.sqlite3``).
Every call is a single indexed statement of well under a millisecond, so it runs on the
event loop directly; SQLite's own locking makes it safe across processes too.

:func:`worker_blueprint` is the part every durable webhook shares: the Worker tied to the
server's start and stop, and the health route; each channel adds its own webhook route.
It also runs each turn through the two rules every channel shares: typed ``/intent``
text and unoffered button payloads become plain text (connectors/guard.py), and the turn
contract of bot/tracker_store.py: ``process`` raising (``TurnFailed`` when an action or
the tracker store failed) means the turn is not done and nothing of it was stored, so
the message must not be marked done: the Worker records it as ``failed`` with the
reason, and processing it again runs the whole turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.tracker_store import run_turn
from connectors.guard import looks_like_payload, offered_payloads, screen, screened_metadata

logger = logging.getLogger(__name__)

#: Rows of finished messages are kept this long (duplicates arrive within minutes;
#: Meta retries for up to 7 days), then pruned when the store opens.
KEEP_SECONDS = 14 * 24 * 3600
#: Prefix of a short button key standing for a stored payload.
PAYLOAD_PREFIX = "cb:"
#: How long a claim on a message holds without renewal. A running turn renews it every
#: third of this; a process killed mid-turn leaves its messages to others after it.
LEASE_SECONDS = 30.0
#: How often a worker looks for messages nobody holds (a dead process's, a parked one
#: put back by ``retry``).
SWEEP_SECONDS = 15.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbound (
    message_id  TEXT PRIMARY KEY,
    received_at REAL NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    item        TEXT NOT NULL,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS inbound_status ON inbound (status, received_at);
CREATE TABLE IF NOT EXISTS sent (
    reply_key   TEXT PRIMARY KEY,
    sent_at     REAL NOT NULL,
    platform_id TEXT
);
CREATE TABLE IF NOT EXISTS payloads (
    key     TEXT PRIMARY KEY,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    reason      TEXT NOT NULL,
    body        BLOB NOT NULL
);
"""
#: Columns added after the first release: (name, declaration), added when missing.
_ADDED_COLUMNS = (
    ("attempts", "INTEGER NOT NULL DEFAULT 0"),
    ("next_attempt_at", "REAL NOT NULL DEFAULT 0"),
    ("owner", "TEXT"),
    ("lease_until", "REAL NOT NULL DEFAULT 0"),
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, a failing turn is tried before it is parked.

    The default waits 2, 4, 8 ... seconds, at most 5 minutes, for 10 tries in all: about
    13.5 minutes, enough for a supervisor to bring back a crashed action server or
    database, short enough that a customer is not answered an hour late.
    """

    attempts: int = 10
    backoff: float = 2.0
    max_backoff: float = 300.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed try."""
        return float(min(self.backoff * 2 ** max(failures - 1, 0), self.max_backoff))


class ChannelStore:
    """Received messages, sent replies and long payloads of a channel (thread-safe)."""

    def __init__(self, path: Path) -> None:
        # Opened on first use: constructing a channel touches no file and no network.
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # accepted means on disk
            db.executescript(_SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(inbound)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process
                        db.execute(f"ALTER TABLE inbound ADD COLUMN {name} {declaration}")
            cutoff = time.time() - KEEP_SECONDS
            db.execute(
                "DELETE FROM inbound WHERE status = 'done' AND received_at < ?",
                (cutoff,),
            )
            db.execute("DELETE FROM sent WHERE sent_at < ?", (cutoff,))
            db.execute("DELETE FROM rejected WHERE received_at < ?", (cutoff,))
            self._db = db
        return self._db

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn().execute(sql, args)

    def accept(self, message_id: str, item: dict[str, Any]) -> bool:
        """Record a platform message as pending; False if its key was seen before.

        ``item`` must hold only storable text (the webhook checked it with
        :mod:`connectors.strict_json`).
        """
        cursor = self._run(
            "INSERT OR IGNORE INTO inbound (message_id, received_at, status, item) "
            "VALUES (?, ?, 'pending', ?)",
            (message_id, time.time(), json.dumps(item, ensure_ascii=False)),
        )
        return cursor.rowcount == 1

    def claim(self, message_id: str, owner: str, lease: float = LEASE_SECONDS) -> bool:
        """Take a pending message for ``owner`` unless another owner's lease is live."""
        now = time.time()
        cursor = self._run(
            "UPDATE inbound SET owner = ?, lease_until = ? WHERE message_id = ? "
            "AND status = 'pending' AND (owner IS NULL OR owner = ? OR lease_until < ?)",
            (owner, now + lease, message_id, owner, now),
        )
        return cursor.rowcount == 1

    def renew(self, message_id: str, owner: str, lease: float = LEASE_SECONDS) -> bool:
        """Extend ``owner``'s claim; False if it was lost (its lease lapsed and was taken)."""
        cursor = self._run(
            "UPDATE inbound SET lease_until = ? WHERE message_id = ? AND owner = ? "
            "AND status = 'pending'",
            (time.time() + lease, message_id, owner),
        )
        return cursor.rowcount == 1

    def release(self, message_id: str, owner: str) -> None:
        """Give up ``owner``'s claim on a still pending message (shutdown)."""
        self._run(
            "UPDATE inbound SET owner = NULL, lease_until = 0 WHERE message_id = ? "
            "AND owner = ? AND status = 'pending'",
            (message_id, owner),
        )

    def finish(self, message_id: str) -> None:
        self._run(
            "UPDATE inbound SET status = 'done', error = NULL, owner = NULL "
            "WHERE message_id = ?",
            (message_id,),
        )

    def retry_later(self, message_id: str, error: str, delay: float) -> None:
        """Count a failed try and note when the next one may run (kept across restarts)."""
        self._run(
            "UPDATE inbound SET attempts = attempts + 1, next_attempt_at = ?, error = ? "
            "WHERE message_id = ?",
            (time.time() + delay, error[:2000], message_id),
        )

    def attempts(self, message_id: str) -> int:
        row = self._run(
            "SELECT attempts FROM inbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def next_attempt_at(self, message_id: str) -> float:
        row = self._run(
            "SELECT next_attempt_at FROM inbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        return float(row[0]) if row else 0.0

    def park(self, message_id: str, error: str) -> None:
        """Stop trying a message; kept with what went wrong for an operator."""
        self._run(
            "UPDATE inbound SET status = 'failed', error = ?, owner = NULL "
            "WHERE message_id = ?",
            (error[:2000], message_id),
        )

    def requeue_failed(self) -> int:
        """Put every parked message back in the queue with fresh tries; how many."""
        cursor = self._run(
            "UPDATE inbound SET status = 'pending', attempts = 0, next_attempt_at = 0, "
            "owner = NULL, lease_until = 0 WHERE status = 'failed'"
        )
        return cursor.rowcount

    def status(self, message_id: str) -> str | None:
        row = self._run(
            "SELECT status FROM inbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def error(self, message_id: str) -> str | None:
        row = self._run(
            "SELECT error FROM inbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def claimable(self) -> list[tuple[str, dict[str, Any]]]:
        """Pending messages nobody holds a live claim on, oldest first."""
        rows = self._run(
            "SELECT message_id, item FROM inbound WHERE status = 'pending' "
            "AND (owner IS NULL OR lease_until < ?) ORDER BY received_at, rowid",
            (time.time(),),
        ).fetchall()
        return [(str(mid), json.loads(item)) for mid, item in rows]

    def counts(self, *, with_done: bool = True) -> dict[str, int]:
        """Messages per status, and rejected bodies (operators, the health route).

        ``with_done=False`` leaves out the done messages, by far the most rows, so that
        a frequently polled health check reads only the index entries of the backlog.
        """
        out = {"pending": 0, "done": 0, "failed": 0}
        where = "" if with_done else "WHERE status IN ('pending', 'failed') "
        for status, count in self._run(
            f"SELECT status, COUNT(*) FROM inbound {where}GROUP BY status"
        ).fetchall():
            out[str(status)] = int(count)
        if not with_done:
            del out["done"]
        (rejected,) = self._run("SELECT COUNT(*) FROM rejected").fetchone()
        out["rejected"] = int(rejected)
        return out

    def reject(self, reason: str, body: bytes) -> None:
        """Keep an authentic body that cannot be processed, with why (nothing is lost)."""
        self._run(
            "INSERT INTO rejected (received_at, reason, body) VALUES (?, ?, ?)",
            (time.time(), reason[:2000], body),
        )

    def rejected(self) -> list[tuple[str, bytes]]:
        """(reason, body) of every kept rejected body, oldest first."""
        rows = self._run("SELECT reason, body FROM rejected ORDER BY id").fetchall()
        return [(str(reason), bytes(body)) for reason, body in rows]

    def was_sent(self, reply_key: str) -> bool:
        row = self._run(
            "SELECT 1 FROM sent WHERE reply_key = ?", (reply_key,)
        ).fetchone()
        return row is not None

    def mark_sent(self, reply_key: str, platform_id: str | None) -> None:
        self._run(
            "INSERT OR REPLACE INTO sent (reply_key, sent_at, platform_id) "
            "VALUES (?, ?, ?)",
            (reply_key, time.time(), platform_id),
        )

    def short_payload(self, payload: str, max_bytes: int) -> str:
        """The payload if it fits the platform's limit, else a stored short key."""
        if len(payload.encode("utf-8")) <= max_bytes:
            return payload
        key = PAYLOAD_PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self._run(
            "INSERT OR IGNORE INTO payloads (key, payload) VALUES (?, ?)",
            (key, payload),
        )
        return key

    def expand_payload(self, data: str) -> str | None:
        """Inverse of :meth:`short_payload`; None for a key this store never issued."""
        if not data.startswith(PAYLOAD_PREFIX):
            return data
        row = self._run(
            "SELECT payload FROM payloads WHERE key = ?", (data,)
        ).fetchone()
        return str(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class Replies:
    """Numbers the replies of one turn and sends each of them at most once.

    The n-th reply of the turn that answers inbound message ``prefix`` has the key
    ``<prefix>:<n>``. A turn processed again after a crash replies in the same order, so
    it produces the same keys and skips what the customer already received. Telegram and
    WhatsApp differ only in how one reply is delivered, which the caller passes in.

    Args:
        store: where sent replies are recorded (None: no de-duplication).
        prefix: the inbound message's id (None: no keys, no de-duplication).
        channel: the channel's name, for the log.
    """

    def __init__(
        self, store: ChannelStore | None, prefix: str | None, channel: str
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.channel = channel
        self._count = 0

    async def send(self, deliver: Callable[[str | None], Awaitable[str | None]]) -> None:
        """Deliver the turn's next reply unless it was sent before.

        ``deliver(key)`` sends it and returns the platform's id for it, or None when the
        platform refused it (nothing is recorded, so it counts as not sent).
        """
        self._count += 1
        key = f"{self.prefix}:{self._count}" if self.prefix else None
        if key and self.store is not None and self.store.was_sent(key):
            logger.info(
                "%s: reply %s was already sent; not sending it again", self.channel, key
            )
            return
        platform_id = await deliver(key)
        if key and self.store is not None and platform_id is not None:
            self.store.mark_sent(key, platform_id)


Process = Callable[[str, dict[str, Any]], Awaitable[None]]


class Worker:
    """Processes accepted messages in the background: in order per customer, until done.

    Each message runs ``process(message_id, item)`` under this worker's claim. Success
    marks it done; an exception counts a failed try and, after the policy's backoff,
    tries again (logged at WARNING), until the policy's last try parks it (ERROR). A
    customer's later messages wait for the earlier ones, retries included, so they are
    answered in the order they were written.

    Args:
        store: the channel's store.
        process: runs one turn; raising means the turn did not complete.
        channel: the channel's name, for logs and task names.
        policy: retry policy for failing turns.
        lease: seconds a claim holds without renewal (:data:`LEASE_SECONDS`).
        sweep_every: seconds between looks for unclaimed messages (:data:`SWEEP_SECONDS`).
    """

    def __init__(
        self,
        store: ChannelStore,
        process: Process,
        channel: str,
        *,
        policy: RetryPolicy | None = None,
        lease: float = LEASE_SECONDS,
        sweep_every: float = SWEEP_SECONDS,
    ) -> None:
        self.store = store
        self.process = process
        self.channel = channel
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.sweep_every = sweep_every
        self.owner = uuid.uuid4().hex  # this worker's name in claims
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[str] = set()
        self._stopping = asyncio.Event()
        self._sweeper: asyncio.Task[None] | None = None

    def submit(self, message_id: str, item: dict[str, Any]) -> asyncio.Task[None] | None:
        """Queue an accepted message behind its sender's earlier ones (None: queued already)."""
        if message_id in self._inflight:
            return None
        sender = str(item.get("sender", ""))
        previous = self._tails.get(sender)
        self._inflight.add(message_id)
        task = asyncio.get_running_loop().create_task(
            self._run(message_id, item, previous), name=f"{self.channel}:{message_id}"
        )
        self._tails[sender] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._forget(sender, message_id, t))
        return task

    def _forget(self, sender: str, message_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._inflight.discard(message_id)
        if self._tails.get(sender) is task:
            del self._tails[sender]

    async def _pause(self, seconds: float) -> bool:
        """Sleep, cut short by shutdown; True when shutting down."""
        if seconds > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    async def _keep_claim(self, message_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            if not self.store.renew(message_id, self.owner, self.lease):
                logger.error(
                    "%s: lost the claim on message %s (event loop blocked > %.0f s?)",
                    self.channel,
                    message_id,
                    self.lease,
                )
                return

    async def _run(
        self, message_id: str, item: dict[str, Any], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        if self._stopping.is_set() or not self.store.claim(
            message_id, self.owner, self.lease
        ):
            return  # shutting down, done already, or another live process holds it
        keeper = asyncio.get_running_loop().create_task(self._keep_claim(message_id))
        try:
            await self._attempts(message_id, item)
        finally:
            keeper.cancel()
            # Still pending (shutdown, cancelled): anyone may take it from here.
            self.store.release(message_id, self.owner)

    async def _attempts(self, message_id: str, item: dict[str, Any]) -> None:
        # A message that failed before a restart keeps its backoff.
        if await self._pause(self.store.next_attempt_at(message_id) - time.time()):
            return
        while True:
            try:
                await self.process(message_id, item)
            except asyncio.CancelledError:
                raise  # shutting down: the message stays pending for the next start
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                failures = self.store.attempts(message_id) + 1
                delay = self.policy.delay(failures)
                self.store.retry_later(message_id, error, delay)
                if failures >= self.policy.attempts:
                    logger.error(
                        "%s: message %s failed %d times, parked (retry it with "
                        "`python -m connectors.durable retry %s`): %s",
                        self.channel,
                        message_id,
                        failures,
                        self.store.path,
                        error,
                        exc_info=exc,
                    )
                    self.store.park(message_id, error)
                    return
                logger.warning(
                    "%s: message %s failed (try %d of %d), retrying in %.1f s: %s",
                    self.channel,
                    message_id,
                    failures,
                    self.policy.attempts,
                    delay,
                    error,
                    exc_info=exc,
                )
                if await self._pause(delay):
                    return
            else:
                self.store.finish(message_id)
                return

    def resume_pending(self) -> int:
        """Submit every message nobody holds (a previous run's, a dead process's)."""
        items = [(m, i) for m, i in self.store.claimable() if m not in self._inflight]
        for message_id, item in items:
            self.submit(message_id, item)
        if items:
            logger.info(
                "%s: resuming %d message(s) accepted earlier and not finished",
                self.channel,
                len(items),
            )
        return len(items)

    def start(self) -> None:
        """Resume unfinished messages now and sweep for orphaned ones periodically."""
        self.resume_pending()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while not await self._pause(self.sweep_every):
            try:
                self.resume_pending()
            except sqlite3.Error:
                logger.exception("%s: sweeping for unclaimed messages failed", self.channel)

    async def drain(self, timeout: float) -> None:
        """Shutdown: running turns get ``timeout`` seconds; retries waiting stop at once.

        What does not finish stays pending, unclaimed, for the next start.
        """
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if not self._tasks:
            return
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in unfinished:
            task.cancel()
        if unfinished:  # let them release their claims before the store closes
            await asyncio.gather(*unfinished, return_exceptions=True)


def inbound_item(
    channel: str,
    platform_sender: Any,
    text: str,
    message_id: str,
    metadata: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """A parsed platform message as :meth:`ChannelStore.accept` stores it.

    The sender id is ``<channel>:<platform sender>`` so that conversations of different
    channels never collide; :func:`user_message` turns the item into Rasa's message.
    ``extra`` keys travel with the item for the channel's own processing.
    """
    return {
        "sender": f"{channel}:{platform_sender}",
        "text": text,
        "message_id": message_id,
        "metadata": metadata,
        **extra,
    }


def user_message(
    item: Mapping[str, Any], output: OutputChannel, channel: str
) -> UserMessage:
    """The Rasa message for an accepted item ``{sender, text, message_id, metadata}``.

    Items are stored as JSON by :meth:`ChannelStore.accept` and read back after a
    restart, so every channel must turn them into Rasa messages in this one way.
    """
    return UserMessage(
        item["text"],
        output,
        item["sender"],
        input_channel=channel,
        message_id=item["message_id"],
        metadata=item["metadata"],
    )


def reject(store: ChannelStore, channel: str, reason: str, body: bytes) -> HTTPResponse:
    """Answer an authentic body that can never be processed: kept, logged, 200.

    Telegram and Meta redeliver anything but a 2xx, for hours or days, and no redelivery
    can fix the body; a 4xx would only make them try again. So the body is kept in the
    ``rejected`` table for an operator, logged with the reason, and acknowledged with
    ``{"status": "rejected", "error": reason}``.
    """
    store.reject(reason, body)
    logger.warning(
        "%s: rejected an authentic webhook body (%d bytes, kept in %s): %s",
        channel,
        len(body),
        store.path,
        reason,
    )
    return response.json({"status": "rejected", "error": reason})


async def screen_item(item: dict[str, Any], tracker_store: Any) -> dict[str, Any]:
    """The accepted item as Rasa may see it: typed ``/intent`` text made plain text.

    Button payloads (Telegram callback data, WhatsApp button/list reply ids) stay
    payloads only when the bot offered them in this conversation (connectors/guard.py,
    the same rule as web chat's). Without a Rasa agent (``tracker_store`` None: the
    channel tests' server) nothing reads intents, and there is nothing to check against.
    """
    if tracker_store is None or not looks_like_payload(str(item["text"])):
        return item  # plain text: no tracker read on the hot path
    tracker = await tracker_store.retrieve(item["sender"])
    screened = screen(
        str(item["text"]), offered_payloads(tracker.events if tracker is not None else [])
    )
    if screened.typed is None:
        return item
    return {
        **item,
        "text": screened.text,
        "metadata": screened_metadata(item.get("metadata") or {}, screened),
    }


def worker_blueprint(
    channel: str,
    store: ChannelStore,
    process: Process,
    *,
    enabled: Callable[[], bool],
    close_client: Callable[[], Awaitable[None]],
    policy: RetryPolicy | None = None,
) -> tuple[Blueprint, Worker]:
    """A channel's webhook blueprint whose :class:`Worker` lives as long as the server.

    After the server starts, messages an earlier run accepted but did not finish are
    processed (only when ``enabled()``: a disabled channel has nobody to answer them).
    Before it stops, running turns get 10 seconds (what does not finish stays pending
    for the next start), then the platform client and the store are closed. ``GET /``
    says whether the channel is configured and, if it is, how many messages are
    pending, parked (``failed``) and rejected. The caller adds its webhook route and
    submits accepted messages to the returned worker.
    """
    # Rasa registers it under /webhooks/<name> (InputChannel.url_prefix) whatever it says.
    bp = Blueprint(f"{channel}_webhook", f"/webhooks/{channel}")
    server: dict[str, Any] = {}  # the Sanic app once started: its Rasa agent's tracker store

    async def guarded(message_id: str, item: dict[str, Any]) -> None:
        async def turn(accepted: dict[str, Any]) -> None:
            agent = getattr(getattr(server.get("app"), "ctx", None), "agent", None)
            screened = await screen_item(accepted, getattr(agent, "tracker_store", None))
            await process(message_id, screened)

        await run_turn(turn, item)

    worker = Worker(store, guarded, channel, policy=policy)

    @bp.listener("after_server_start")
    async def resume(app: Any, loop: Any) -> None:
        server["app"] = app
        if enabled():
            worker.start()

    @bp.listener("before_server_stop")
    async def stop(app: Any, loop: Any) -> None:
        await worker.drain(timeout=10.0)
        await close_client()
        store.close()

    @bp.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        if not enabled():
            return response.json({"status": "disabled"})
        return response.json({"status": "ok", **store.counts(with_done=False)})

    return bp, worker


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.durable status|retry STATE_DB``: look at or requeue parked."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.durable",
        description="a channel's durable queue (var/telegram.sqlite3, var/whatsapp.sqlite3)",
    )
    parser.add_argument("command", choices=["status", "retry"])
    parser.add_argument("state_db", type=Path)
    args = parser.parse_args(argv)
    if not args.state_db.is_file():
        print(f"error: {args.state_db}: no such state file", file=sys.stderr)
        return 2
    store = ChannelStore(args.state_db)
    try:
        if args.command == "retry":
            count = store.requeue_failed()
            print(f"{count} parked message(s) back in the queue; a running channel "
                  f"picks them up within {SWEEP_SECONDS:.0f} s")
        else:
            print(json.dumps(store.counts()))
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
