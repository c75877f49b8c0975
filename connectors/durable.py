"""Durable channel state in SQLite: each message processed once, each reply sent once.

Why it exists: Telegram and Meta deliver webhooks *at least once*. They retry when the
answer is slow or not 2xx, and retries cross our restarts; users also double-tap. A
webhook therefore

1. verifies and parses the whole request,
2. :meth:`ChannelStore.accept` s each platform message under its platform id in one
   committed ``INSERT OR IGNORE`` (a duplicate, concurrent or a day later, is a no-op),
3. answers 200 at once, and
4. processes accepted messages in the background (:class:`Worker`), marking each one
   ``done`` or ``failed``. Messages still ``pending`` after a crash are processed again
   at the next start (:meth:`ChannelStore.pending`), so nothing accepted is lost.

Replies carry a key derived from the inbound message id and their position in the
turn; :class:`Replies` (on :meth:`ChannelStore.was_sent`/:meth:`mark_sent`) makes a
re-processed turn skip the replies the customer already has. Button payloads longer
than a platform allows (Telegram's callback data: 64 bytes) are kept here under a short
key (:meth:`short_payload`), so buttons keep working across restarts.

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

import asyncio
import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.tracker_store import run_turn
from connectors.guard import offered_payloads, screen, screened_metadata

logger = logging.getLogger(__name__)

#: Rows of finished messages are kept this long (duplicates arrive within minutes;
#: Meta retries for up to 7 days), then pruned when the store opens.
KEEP_SECONDS = 14 * 24 * 3600
#: Prefix of a short button key standing for a stored payload.
PAYLOAD_PREFIX = "cb:"

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
"""


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
            cutoff = time.time() - KEEP_SECONDS
            db.execute(
                "DELETE FROM inbound WHERE status = 'done' AND received_at < ?",
                (cutoff,),
            )
            db.execute("DELETE FROM sent WHERE sent_at < ?", (cutoff,))
            self._db = db
        return self._db

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn().execute(sql, args)

    def accept(self, message_id: str, item: dict[str, Any]) -> bool:
        """Record a platform message as pending; False if its id was seen before."""
        cursor = self._run(
            "INSERT OR IGNORE INTO inbound (message_id, received_at, status, item) "
            "VALUES (?, ?, 'pending', ?)",
            (message_id, time.time(), json.dumps(item, ensure_ascii=False)),
        )
        return cursor.rowcount == 1

    def finish(self, message_id: str) -> None:
        self._run(
            "UPDATE inbound SET status = 'done', error = NULL WHERE message_id = ?",
            (message_id,),
        )

    def fail(self, message_id: str, error: str) -> None:
        """Keep the message for an operator (and the logs) with what went wrong."""
        self._run(
            "UPDATE inbound SET status = 'failed', error = ? WHERE message_id = ?",
            (error[:2000], message_id),
        )

    def status(self, message_id: str) -> str | None:
        row = self._run(
            "SELECT status FROM inbound WHERE message_id = ?", (message_id,)
        ).fetchone()
        return str(row[0]) if row else None

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """Accepted but unfinished messages, oldest first (re-processed at start-up)."""
        rows = self._run(
            "SELECT message_id, item FROM inbound WHERE status = 'pending' "
            "ORDER BY received_at"
        ).fetchall()
        return [(str(mid), json.loads(item)) for mid, item in rows]

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
    """Processes accepted messages in the background, in order per conversation.

    Each message runs ``process(message_id, item)``; success marks it done, an exception
    marks it failed (logged with the traceback, never shown to the customer). Messages
    of one sender wait for that sender's previous message, so a customer's two quick
    messages are answered in the order they were written.
    """

    def __init__(self, store: ChannelStore, process: Process, channel: str) -> None:
        self.store = store
        self.process = process
        self.channel = channel
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, message_id: str, item: dict[str, Any]) -> asyncio.Task[None]:
        sender = str(item.get("sender", ""))
        previous = self._tails.get(sender)
        task = asyncio.get_running_loop().create_task(
            self._run(message_id, item, previous), name=f"{self.channel}:{message_id}"
        )
        self._tails[sender] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._forget(sender, t))
        return task

    def _forget(self, sender: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(sender) is task:
            del self._tails[sender]

    async def _run(
        self, message_id: str, item: dict[str, Any], previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await asyncio.shield(previous)
        try:
            await self.process(message_id, item)
        except asyncio.CancelledError:
            # Shutting down: the message stays pending and is processed at next start.
            raise
        except Exception as exc:
            logger.exception(
                "%s: processing message %s failed", self.channel, message_id
            )
            self.store.fail(message_id, f"{type(exc).__name__}: {exc}")
        else:
            self.store.finish(message_id)

    def resume_pending(self) -> int:
        """Submit every message left pending by a previous run; returns how many."""
        items = self.store.pending()
        for message_id, item in items:
            self.submit(message_id, item)
        if items:
            logger.info(
                "%s: resuming %d message(s) accepted before a restart",
                self.channel,
                len(items),
            )
        return len(items)

    async def drain(self, timeout: float) -> None:
        """Wait for running work (shutdown); what does not finish stays pending."""
        if not self._tasks:
            return
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in unfinished:
            task.cancel()


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


async def screen_item(item: dict[str, Any], tracker_store: Any) -> dict[str, Any]:
    """The accepted item as Rasa may see it: typed ``/intent`` text made plain text.

    Button payloads (Telegram callback data, WhatsApp button/list reply ids) stay
    payloads only when the bot offered them in this conversation (connectors/guard.py,
    the same rule as web chat's). Without a Rasa agent (``tracker_store`` None: the
    channel tests' server) nothing reads intents, and there is nothing to check against.
    """
    if tracker_store is None:
        return item
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
) -> tuple[Blueprint, Worker]:
    """A channel's webhook blueprint whose :class:`Worker` lives as long as the server.

    After the server starts, messages an earlier run accepted but did not finish are
    processed (only when ``enabled()``: a disabled channel has nobody to answer them).
    Before it stops, running turns get 10 seconds (what does not finish stays pending
    for the next start), then the platform client and the store are closed. ``GET /``
    says whether the channel is configured. The caller adds its webhook route and
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

    worker = Worker(store, guarded, channel)

    @bp.listener("after_server_start")
    async def resume(app: Any, loop: Any) -> None:
        server["app"] = app
        if enabled():
            worker.resume_pending()

    @bp.listener("before_server_stop")
    async def stop(app: Any, loop: Any) -> None:
        await worker.drain(timeout=10.0)
        await close_client()
        store.close()

    @bp.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok" if enabled() else "disabled"})

    return bp, worker
