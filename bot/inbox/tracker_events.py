"""New conversation events for the inbox, read from Rasa's SQL tracker store.

Why not Rasa's HTTP API: ``GET /conversations/{id}/tracker`` has no "since" parameter;
every read makes Rasa load and replay the whole tracker and the inbox re-parse it, for
every open ticket, every poll: 10 open tickets and no customers cost 28-47 % of a core.
Rasa's SQL tracker store (endpoints.yml ``tracker_store: type: SQL``) keeps one row per
event in ``events`` (``id`` increasing, ``sender_id`` indexed, ``data`` = the event's
JSON, exactly what the API returns), so the inbox asks it, read-only, for the rows after
the last one it has seen:

* ``poll(conversations)``: one query per poll for all open conversations, rows with an
  ``id`` above the watermark; the cost grows with new events, not with open tickets.
* ``events_after(conversation, timestamp)``: one conversation's events since a moment
  (a ticket's newest known turn): what a page view or a resolve reads.

Writes still go through Rasa's HTTP API (the conversation lock, side effects).

The watermark trails the newest row by ``lag_rows_seconds`` on PostgreSQL, where ids are
taken before commit and a slower transaction can commit a smaller id after a larger one
was read; re-read rows are harmless (bot.inbox.sync skips turns a ticket already has).
SQLite commits one writer at a time, so there is no lag there.

Any other tracker store (Redis, Mongo, in-memory): ``from_endpoints`` returns None and
the inbox reads trackers through the HTTP API as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from bot.errors import SupportBotError

logger = logging.getLogger(__name__)

_VAR = re.compile(r"\$\{(\w+)\}")
#: Conversations per ``IN (...)`` list (SQLite's default limit on variables is 999).
_CHUNK = 500


def trailing_watermark(
    heads: deque[tuple[float, int]], now: float, lag: float
) -> int | None:
    """The newest head read at least ``lag`` seconds before ``now`` (else the oldest).

    ``heads`` holds (when read, newest event id then), oldest first; entries older than
    the one returned are dropped. None before the first poll. Pure but for the trim.
    """
    while len(heads) > 1 and now - heads[1][0] >= lag:
        heads.popleft()
    return heads[0][1] if heads else None


class TrackerEventsError(SupportBotError):
    """Rasa's tracker store could not be read; the message names the database."""


class TrackerEvents:
    """Read-only access to Rasa's ``events`` table (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        connect: Callable[[], Any],
        placeholder: str,
        *,
        where: str,
        lag_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._conn: Any = None
        self._mark = placeholder
        self._lock = threading.Lock()
        self._lag = lag_seconds
        self._clock = clock
        #: (when read, newest id then): the watermark is the newest id read at least
        #: ``lag_seconds`` ago.
        self._heads: deque[tuple[float, int]] = deque()
        self.where = where

    @classmethod
    def sqlite(cls, path: str | os.PathLike[str]) -> TrackerEvents:
        uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(
                uri, uri=True, timeout=10, isolation_level=None, check_same_thread=False
            )

        return cls(connect, "?", where=str(path))

    @classmethod
    def postgres(cls, dsn: str, schema: str | None = None) -> TrackerEvents:
        def connect() -> Any:
            import psycopg

            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')
            return conn

        return cls(connect, "%s", where="PostgreSQL tracker store", lag_seconds=5.0)

    @classmethod
    def from_endpoints(
        cls, endpoints: Path, env: Mapping[str, str] | None = None
    ) -> TrackerEvents | None:
        """The reader for endpoints.yml's ``tracker_store``, or None when it is not SQL."""
        env = os.environ if env is None else env
        try:
            data = yaml.safe_load(endpoints.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            logger.warning("inbox: cannot read %s (%s); reading trackers over HTTP",
                           endpoints, exc)
            return None
        store = data.get("tracker_store") if isinstance(data, Mapping) else None
        if not isinstance(store, Mapping) or "dialect" not in store:
            return None

        def value(key: str, default: str = "") -> str:
            raw = store.get(key)
            text = default if raw is None else str(raw)
            return _VAR.sub(lambda m: env.get(m.group(1), ""), text)

        dialect = value("dialect").lower()
        if dialect == "sqlite":
            db = value("db", "rasa.db")
            return cls.sqlite(db) if db else None
        if dialect.startswith("postgres"):
            user, password = value("username"), value("password")
            auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
            host = value("url", "localhost")
            port = value("port", "5432")
            dsn = f"postgresql://{auth + '@' if auth else ''}{host}:{port}/{value('db', 'rasa')}"
            return cls.postgres(dsn, env.get("POSTGRESQL_SCHEMA") or None)
        return None

    # ------------------------------------------------------------------ reading

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                cur = self._conn.cursor()
                cur.execute("BEGIN")  # one snapshot for the head and the rows
                try:
                    yield cur
                finally:
                    cur.execute("ROLLBACK")
            except (sqlite3.Error, OSError) as exc:
                self._drop()
                raise TrackerEventsError(
                    f"cannot read Rasa's tracker store {self.where}: {exc}"
                ) from None
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    self._drop()
                    raise TrackerEventsError(
                        f"cannot read Rasa's tracker store {self.where}: {exc}"
                    ) from None
                raise

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the connection is gone either way
                self._conn.close()
            self._conn = None

    def _sql(self, text: str) -> str:
        return text.replace("?", self._mark)

    @staticmethod
    def _event(raw: str) -> dict[str, Any] | None:
        try:
            event = json.loads(raw)
        except (TypeError, ValueError):
            return None
        return event if isinstance(event, dict) else None

    def poll(self, conversations: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Events stored since the previous poll, for these conversations.

        The first poll only sets the watermark (returns {}): the caller reads each open
        conversation once in full when it starts.
        """
        now = self._clock()
        with self._read() as cur:
            head = cur.execute("SELECT max(id) FROM events").fetchone()[0] or 0
            watermark = trailing_watermark(self._heads, now, self._lag)
            found: dict[str, list[dict[str, Any]]] = {}
            if watermark is not None and conversations and head > watermark:
                for start in range(0, len(conversations), _CHUNK):
                    chunk = list(conversations[start : start + _CHUNK])
                    rows = cur.execute(
                        self._sql(
                            "SELECT sender_id, data FROM events WHERE id > ? AND id <= ? "
                            f"AND sender_id IN ({', '.join('?' * len(chunk))}) ORDER BY id"
                        ),
                        (watermark, head, *chunk),
                    ).fetchall()
                    for sender, data in rows:
                        if (event := self._event(data)) is not None:
                            found.setdefault(str(sender), []).append(event)
        self._heads.append((now, int(head)))
        return found

    def events_after(
        self, conversation_id: str, timestamp: float | None
    ) -> list[dict[str, Any]]:
        """The conversation's events stored with a timestamp from ``timestamp`` on."""
        with self._read() as cur:
            if timestamp is None:
                rows = cur.execute(
                    self._sql("SELECT data FROM events WHERE sender_id = ? ORDER BY id"),
                    (conversation_id,),
                ).fetchall()
            else:
                rows = cur.execute(
                    self._sql(
                        "SELECT data FROM events WHERE sender_id = ? AND timestamp >= ? "
                        "ORDER BY id"
                    ),
                    (conversation_id, timestamp),
                ).fetchall()
        return [e for (data,) in rows if (e := self._event(data)) is not None]

    def close(self) -> None:
        with self._lock:
            self._drop()
