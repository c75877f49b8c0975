"""Agents' sessions, stored server-side in the ticket database.

Why server-side: a signed cookie keeps working until it expires, whatever happens on
the server, so logging out (or changing a password) could not end a stolen session.
Here the cookie is only a random token; the row holding the session is keyed by the
token's SHA-256 (bot.inbox.auth.session_key) and deleted on logout. The table lives in
the ticket database (SQLite file or PostgreSQL) so that a second inbox process on the
same database shares the sessions; it is created if missing and is not part of the
ticket schema's versions (it holds nothing that outlives a login).

A session also carries a one-shot "flash" message: the banner the next page shows
("Sent.", "Resolved …"). It is written by the POST that did the work and removed when
shown, so no link can make the inbox display a banner it did not produce.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.inbox.auth import Session, new_session_token, session_key
from bot.tickets.store import PostgresTicketStore, SQLiteTicketStore, SQLTicketStore

_TABLE = """
CREATE TABLE IF NOT EXISTS inbox_sessions (
    key TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    csrf TEXT NOT NULL,
    stamp TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    flash TEXT
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS inbox_sessions_agent ON inbox_sessions (agent)"


class SessionStore:
    """Create, look up and delete sessions; every call is one short transaction."""

    def __init__(self, connect: Any, placeholder: str, *, where: str) -> None:
        self._conn = connect()
        self._mark = placeholder
        self._lock = threading.Lock()
        self.where = where
        with self._tx() as cur:
            cur.execute(_TABLE)
            cur.execute(_INDEX)

    @classmethod
    def sqlite(cls, path: str | os.PathLike[str]) -> SessionStore:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(
                str(path), timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            return conn

        return cls(connect, "?", where=str(path))

    @classmethod
    def postgres(cls, dsn: str, schema: str | None = None) -> SessionStore:
        import psycopg

        def connect() -> Any:
            conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')
            return conn

        return cls(connect, "%s", where="PostgreSQL")

    @classmethod
    def beside(cls, store: SQLTicketStore) -> SessionStore:
        """Sessions in the same database as ``store``'s tickets."""
        if isinstance(store, SQLiteTicketStore):
            return cls.sqlite(store.path)
        if isinstance(store, PostgresTicketStore):
            return cls.postgres(store.dsn, store.schema)
        raise TypeError(f"no session table for {type(store).__name__}")

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _sql(self, text: str) -> str:
        return text.replace("?", self._mark)

    def create(
        self, agent: str, stamp: str, now: datetime, lifetime: timedelta
    ) -> tuple[str, Session]:
        """A new session for ``agent``; returns the cookie token and the session."""
        token = new_session_token()
        session = Session(agent=agent, csrf=new_session_token(), expires=now + lifetime)
        with self._tx() as cur:
            # Expired rows go when someone logs in: the table stays the size of the
            # sessions in use without a separate clean-up job.
            cur.execute(
                self._sql("DELETE FROM inbox_sessions WHERE expires_at <= ?"),
                (now.timestamp(),),
            )
            cur.execute(
                self._sql(
                    "INSERT INTO inbox_sessions (key, agent, csrf, stamp, expires_at) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                (session_key(token), agent, session.csrf, stamp, session.expires.timestamp()),
            )
        return token, session

    def get(self, token: str | None, stamp_of: Any, now: datetime) -> Session | None:
        """The live session for a cookie token, or None.

        None when the token is unknown, ended or expired, or when the agent's password
        changed since the login (``stamp_of(agent)`` differs from the stored stamp).
        """
        if not token or len(token) > 256:
            return None
        with self._tx() as cur:
            row = cur.execute(
                self._sql(
                    "SELECT agent, csrf, stamp, expires_at FROM inbox_sessions "
                    "WHERE key = ?"
                ),
                (session_key(token),),
            ).fetchone()
        if row is None:
            return None
        agent, csrf, stamp, expires_at = row
        if float(expires_at) <= now.timestamp() or stamp_of(agent) != stamp:
            self.end(token)
            return None
        return Session(
            agent=str(agent),
            csrf=str(csrf),
            expires=datetime.fromtimestamp(float(expires_at), tz=timezone.utc),
        )

    def end(self, token: str) -> None:
        """Log out: the token no longer names a session, in any inbox process."""
        with self._tx() as cur:
            cur.execute(
                self._sql("DELETE FROM inbox_sessions WHERE key = ?"), (session_key(token),)
            )

    def end_all(self, agent: str) -> int:
        """Revoke every session of ``agent``; returns how many there were."""
        with self._tx() as cur:
            cur.execute(self._sql("DELETE FROM inbox_sessions WHERE agent = ?"), (agent,))
            return int(cur.rowcount)

    def set_flash(self, token: str, text: str) -> None:
        with self._tx() as cur:
            cur.execute(
                self._sql("UPDATE inbox_sessions SET flash = ? WHERE key = ?"),
                (text[:500], session_key(token)),
            )

    def pop_flash(self, token: str) -> str:
        """The pending banner of this session, removed as it is read ("" if none)."""
        with self._tx() as cur:
            row = cur.execute(
                self._sql("SELECT flash FROM inbox_sessions WHERE key = ?"),
                (session_key(token),),
            ).fetchone()
            if row and row[0]:
                cur.execute(
                    self._sql("UPDATE inbox_sessions SET flash = NULL WHERE key = ?"),
                    (session_key(token),),
                )
                return str(row[0])
        return ""

    def close(self) -> None:
        with self._lock:
            self._conn.close()

