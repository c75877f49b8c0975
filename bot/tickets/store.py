"""Ticket stores: SQLite for the embedded default, PostgreSQL for the scale-out set-up.

Both implement ``TicketStore`` and pass the same contract tests
(tests/bot/tickets/test_store_contract.py). Plain SQL, two tables:

* ``tickets``: one row per ticket; ``number`` is the ticket number (never reused);
  ``dedupe_key`` is unique, so a retried escalation finds the ticket it already created.
* ``ticket_turns``: the transcript, one row per turn, ordered by ``seq``.

``create`` commits before it returns (SQLite with ``synchronous=FULL``), so the number
the customer is told survives a crash. Every method is safe to call from several
threads; each store holds one connection behind a lock (writes are serialised by the
database anyway: SQLite has one writer, and the PostgreSQL transactions here take a few
milliseconds). Across processes, SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's row locks
and unique constraint keep numbering, appends and de-duplication correct.

The calls block: from async code (rasa_sdk actions) run them in an executor.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from bot.errors import SupportBotError
from bot.settings import Section
from bot.tickets.model import (
    STATUSES,
    Speaker,
    Ticket,
    TicketDraft,
    TicketStatus,
    Turn,
    format_ref,
)

Clock = Callable[[], datetime]

#: Bumped when the schema changes; a database written by a newer version is refused.
SCHEMA_VERSION = 1
DEFAULT_LIST_LIMIT = 50

_TICKET_COLUMNS = (
    "number", "created_at", "updated_at", "status", "conversation_id", "channel",
    "customer_id", "language", "reason", "queue", "priority", "after_hours",
    "promised_reply_at", "tags", "summary", "dedupe_key",
)
_TURN_COLUMNS = (
    "ticket_number", "seq", "at", "speaker", "text", "language", "translation",
    "intent", "confidence", "kb_articles", "message_id", "channel",
)
_DRAFT_FIELDS = tuple(f.name for f in fields(TicketDraft))


# ---------------------------------------------------------------------- errors


class TicketStoreError(SupportBotError):
    """The ticket database failed; the message names the database and the fix."""

    def __init__(self, database: str, problem: str, fix: str = "") -> None:
        self.database = database
        self.problem = problem
        self.fix = fix
        text = f"tickets database {database}: {problem}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class TicketStoreUnavailableError(TicketStoreError):
    """The database cannot be reached or opened (server down, no permission, locked)."""


class TicketStoreCorruptError(TicketStoreError):
    """The SQLite file is not a database, is damaged, or is from a newer version."""


class TicketNotFoundError(TicketStoreError, LookupError):
    """No ticket with that number."""

    def __init__(self, database: str, number: int) -> None:
        self.number = number
        super().__init__(database, f"no ticket {format_ref(number)}")


# ---------------------------------------------------------------------- protocol


@runtime_checkable
class TicketStore(Protocol):
    """Where tickets live. Every implementation passes the same contract suite."""

    def create(self, draft: TicketDraft) -> Ticket:
        """Store a new ticket (status ``new``) and commit before returning it.

        A draft whose ``dedupe_key`` is already stored returns that ticket unchanged.
        """
        ...

    def get(self, number: int) -> Ticket | None:
        """The ticket with its full transcript, or None."""
        ...

    def list(
        self,
        status: str | None = None,
        queue: str | None = None,
        language: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        *,
        conversation_id: str | None = None,
    ) -> builtins.list[Ticket]:
        """Tickets matching every given filter, newest first, with transcripts."""
        ...

    def append_turns(self, number: int, turns: Sequence[Turn]) -> None:
        """Add turns after the existing transcript; raises TicketNotFoundError."""
        ...

    def set_status(self, number: int, status: str) -> Ticket:
        """Set the status and return the updated ticket; raises TicketNotFoundError."""
        ...

    def close(self) -> None:
        """Release the connection; further calls fail."""
        ...


# ---------------------------------------------------------------------- shared helpers


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _check_status(status: str) -> TicketStatus:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    return cast(TicketStatus, status)


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    return limit


def _ticket_from_draft(
    draft: TicketDraft, number: int, created_at: datetime
) -> Ticket:
    values = {name: getattr(draft, name) for name in _DRAFT_FIELDS}
    values["transcript"] = list(draft.transcript)
    return Ticket(
        **values, number=number, created_at=created_at, status="new",
        updated_at=created_at,
    )


def _filters(
    status: str | None, queue: str | None, language: str | None,
    conversation_id: str | None,
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if status is not None:
        out.append(("status", _check_status(status)))
    if queue is not None:
        out.append(("queue", queue))
    if language is not None:
        out.append(("language", language))
    if conversation_id is not None:
        out.append(("conversation_id", conversation_id))
    return out


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``***``, safe for logs and errors."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


# ---------------------------------------------------------------------- SQLite

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    number            INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status IN ('new', 'open', 'pending', 'resolved')),
    conversation_id   TEXT NOT NULL,
    channel           TEXT NOT NULL,
    customer_id       TEXT NOT NULL,
    language          TEXT NOT NULL,
    reason            TEXT NOT NULL,
    queue             TEXT NOT NULL,
    priority          TEXT NOT NULL,
    after_hours       INTEGER NOT NULL,
    promised_reply_at TEXT,
    tags              TEXT NOT NULL DEFAULT '[]',
    summary           TEXT NOT NULL DEFAULT '',
    dedupe_key        TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS ticket_turns (
    ticket_number INTEGER NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    at            TEXT NOT NULL,
    speaker       TEXT NOT NULL,
    text          TEXT NOT NULL,
    language      TEXT,
    translation   TEXT,
    intent        TEXT,
    confidence    REAL,
    kb_articles   TEXT NOT NULL DEFAULT '[]',
    message_id    TEXT,
    channel       TEXT,
    PRIMARY KEY (ticket_number, seq)
);
CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status);
CREATE INDEX IF NOT EXISTS tickets_queue ON tickets (queue);
CREATE INDEX IF NOT EXISTS tickets_language ON tickets (language);
CREATE INDEX IF NOT EXISTS tickets_conversation ON tickets (conversation_id);
"""

# SQLite result codes that mean the file itself is bad, not the moment.
_SQLITE_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def _sqlite_time(value: datetime) -> str:
    # Fixed width, UTC: sorts as text and round-trips with fromisoformat.
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _sqlite_time_opt(value: datetime | None) -> str | None:
    return None if value is None else _sqlite_time(value)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


class SQLiteTicketStore:
    """Tickets in one SQLite file (WAL mode). Creates the folder and the schema."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        config_hint: str = "tickets.database in supportbot.yml",
    ) -> None:
        self.path = Path(path)
        self.database = str(path)
        self._clock = clock or _utcnow
        self._hint = config_hint
        self._lock = threading.RLock()
        self._closed = False
        memory = str(path) == ":memory:"
        if not memory:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TicketStoreUnavailableError(
                    self.database,
                    f"cannot create the folder {self.path.parent}: "
                    f"{exc.strerror or exc}",
                    f"make the folder writable or point {self._hint} elsewhere",
                ) from None
        try:
            self._conn = sqlite3.connect(
                self.database, timeout=timeout, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        try:
            self._init_schema()
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._translate(exc) from None
        except TicketStoreError:
            self._conn.close()
            raise

    def _init_schema(self) -> None:
        conn = self._conn
        # Reading the header first: a file that is not a database fails here.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise TicketStoreCorruptError(
                self.database,
                f"schema version {version} is newer than this bot ({SCHEMA_VERSION})",
                "upgrade the bot, or point "
                f"{self._hint} at a database this version created",
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._write() as c:
            for statement in _SQLITE_SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- plumbing

    def _translate(self, exc: sqlite3.Error) -> TicketStoreError:
        name = getattr(exc, "sqlite_errorname", "")
        text = str(exc)
        if (
            name in _SQLITE_CORRUPT_CODES
            or "not a database" in text
            or "malformed" in text
        ):
            return TicketStoreCorruptError(
                self.database,
                f"the file is damaged or not a SQLite database ({text})",
                "move the file aside (a new one is created on the next start) or "
                "restore it from a backup; check it with: sqlite3 "
                f"{self.database} 'PRAGMA integrity_check'",
            )
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                fix = "another process holds the write lock too long; retry or stop it"
            elif "readonly" in text or "unable to open" in text:
                fix = (
                    "make the file and its folder writable "
                    f"or point {self._hint} elsewhere"
                )
            else:
                fix = f"check the disk and {self._hint}"
            return TicketStoreUnavailableError(self.database, text, fix)
        return TicketStoreError(self.database, f"{type(exc).__name__}: {text}")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        if self._closed:
            raise TicketStoreError(self.database, "the store is closed")
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front."""
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._rollback()
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads spanning both tables."""
        with self._lock, self._errors():
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            except BaseException:
                self._rollback()
                raise
            self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        # SQLite rolls some failures back by itself; never mask the original error.
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    # -- API

    def create(self, draft: TicketDraft) -> Ticket:
        created_at = self._clock()
        with self._write() as c:
            if draft.dedupe_key is not None:
                row = c.execute(
                    "SELECT number FROM tickets WHERE dedupe_key = ?",
                    (draft.dedupe_key,),
                ).fetchone()
                if row is not None:
                    found = self._load(c, [row[0]])
                    return found[0]
            cur = c.execute(
                f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS[1:])}) "
                f"VALUES ({', '.join('?' * (len(_TICKET_COLUMNS) - 1))})",
                (
                    _sqlite_time(created_at), _sqlite_time(created_at), "new",
                    draft.conversation_id, draft.channel, draft.customer_id,
                    draft.language, draft.reason, draft.queue, draft.priority,
                    int(draft.after_hours), _sqlite_time_opt(draft.promised_reply_at),
                    json.dumps(list(draft.tags), ensure_ascii=False), draft.summary,
                    draft.dedupe_key,
                ),
            )
            number = cur.lastrowid
            assert number is not None
            self._insert_turns(c, number, 0, draft.transcript)
        return _ticket_from_draft(draft, number, created_at)

    def get(self, number: int) -> Ticket | None:
        with self._read() as c:
            found = self._load(c, [number])
        return found[0] if found else None

    def list(
        self,
        status: str | None = None,
        queue: str | None = None,
        language: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        *,
        conversation_id: str | None = None,
    ) -> builtins.list[Ticket]:
        conditions = _filters(status, queue, language, conversation_id)
        where = " AND ".join(f"{col} = ?" for col, _ in conditions) or "1"
        params: list[Any] = [value for _, value in conditions]
        with self._read() as c:
            numbers = [
                row[0]
                for row in c.execute(
                    f"SELECT number FROM tickets WHERE {where} "
                    "ORDER BY number DESC LIMIT ?",
                    [*params, _check_limit(limit)],
                )
            ]
            return self._load(c, numbers)

    def append_turns(self, number: int, turns: Sequence[Turn]) -> None:
        with self._write() as c:
            row = c.execute(
                "SELECT (SELECT coalesce(max(seq), -1) FROM ticket_turns"
                " WHERE ticket_number = t.number) FROM tickets t WHERE number = ?",
                (number,),
            ).fetchone()
            if row is None:
                raise TicketNotFoundError(self.database, number)
            self._insert_turns(c, number, row[0] + 1, turns)
            c.execute(
                "UPDATE tickets SET updated_at = ? WHERE number = ?",
                (_sqlite_time(self._clock()), number),
            )

    def set_status(self, number: int, status: str) -> Ticket:
        checked = _check_status(status)
        with self._write() as c:
            cur = c.execute(
                "UPDATE tickets SET status = ?, updated_at = ? WHERE number = ?",
                (checked, _sqlite_time(self._clock()), number),
            )
            if cur.rowcount == 0:
                raise TicketNotFoundError(self.database, number)
            return self._load(c, [number])[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> SQLiteTicketStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteTicketStore({self.database!r})"

    # -- rows

    @staticmethod
    def _insert_turns(
        c: sqlite3.Connection, number: int, first_seq: int, turns: Sequence[Turn]
    ) -> None:
        c.executemany(
            f"INSERT INTO ticket_turns ({', '.join(_TURN_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_TURN_COLUMNS))})",
            [
                (
                    number, first_seq + i, _sqlite_time(t.at), t.speaker, t.text,
                    t.language, t.translation, t.intent, t.confidence,
                    json.dumps(list(t.kb_articles), ensure_ascii=False), t.message_id,
                    t.channel,
                )
                for i, t in enumerate(turns)
            ],
        )

    @staticmethod
    def _load(c: sqlite3.Connection, numbers: Sequence[int]) -> builtins.list[Ticket]:
        if not numbers:
            return []
        marks = ", ".join("?" * len(numbers))
        turns: dict[int, list[Turn]] = {n: [] for n in numbers}
        for row in c.execute(
            f"SELECT {', '.join(_TURN_COLUMNS)} FROM ticket_turns "
            f"WHERE ticket_number IN ({marks}) ORDER BY ticket_number, seq",
            list(numbers),
        ):
            r = dict(zip(_TURN_COLUMNS, row, strict=True))
            turns[r["ticket_number"]].append(
                _turn_from_row(r, _parse_time(r["at"]), json.loads(r["kb_articles"]))
            )
        by_number = {}
        for row in c.execute(
            f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets "
            f"WHERE number IN ({marks})",
            list(numbers),
        ):
            r = dict(zip(_TICKET_COLUMNS, row, strict=True))
            by_number[r["number"]] = _ticket_from_row(
                r,
                created_at=_parse_time(r["created_at"]),
                updated_at=_parse_time(r["updated_at"]),
                promised=(
                    _parse_time(r["promised_reply_at"])
                    if r["promised_reply_at"]
                    else None
                ),
                tags=json.loads(r["tags"]),
                transcript=turns[r["number"]],
            )
        return [by_number[n] for n in numbers if n in by_number]


def _turn_from_row(r: Mapping[str, Any], at: datetime, kb: Sequence[str]) -> Turn:
    return Turn(
        at=at, speaker=cast(Speaker, r["speaker"]), text=r["text"],
        language=r["language"], translation=r["translation"], intent=r["intent"],
        confidence=r["confidence"], kb_articles=tuple(kb), message_id=r["message_id"],
        channel=r["channel"],
    )


def _ticket_from_row(
    r: Mapping[str, Any],
    *,
    created_at: datetime,
    updated_at: datetime,
    promised: datetime | None,
    tags: Sequence[str],
    transcript: builtins.list[Turn],
) -> Ticket:
    return Ticket(
        conversation_id=r["conversation_id"], channel=r["channel"],
        customer_id=r["customer_id"], language=r["language"], reason=r["reason"],
        queue=r["queue"], priority=r["priority"], after_hours=bool(r["after_hours"]),
        promised_reply_at=promised, tags=tuple(tags), summary=r["summary"],
        transcript=transcript, dedupe_key=r["dedupe_key"], number=int(r["number"]),
        created_at=created_at, status=cast(TicketStatus, r["status"]),
        updated_at=updated_at,
    )


# ---------------------------------------------------------------------- PostgreSQL

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    number            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL
                      CHECK (status IN ('new', 'open', 'pending', 'resolved')),
    conversation_id   TEXT NOT NULL,
    channel           TEXT NOT NULL,
    customer_id       TEXT NOT NULL,
    language          TEXT NOT NULL,
    reason            TEXT NOT NULL,
    queue             TEXT NOT NULL,
    priority          TEXT NOT NULL,
    after_hours       BOOLEAN NOT NULL,
    promised_reply_at TIMESTAMPTZ,
    tags              TEXT[] NOT NULL DEFAULT '{}',
    summary           TEXT NOT NULL DEFAULT '',
    dedupe_key        TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS ticket_turns (
    ticket_number BIGINT NOT NULL REFERENCES tickets (number) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    at            TIMESTAMPTZ NOT NULL,
    speaker       TEXT NOT NULL,
    text          TEXT NOT NULL,
    language      TEXT,
    translation   TEXT,
    intent        TEXT,
    confidence    DOUBLE PRECISION,
    kb_articles   TEXT[] NOT NULL DEFAULT '{}',
    message_id    TEXT,
    channel       TEXT,
    PRIMARY KEY (ticket_number, seq)
);
CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status);
CREATE INDEX IF NOT EXISTS tickets_queue ON tickets (queue);
CREATE INDEX IF NOT EXISTS tickets_language ON tickets (language);
CREATE INDEX IF NOT EXISTS tickets_conversation ON tickets (conversation_id);
CREATE TABLE IF NOT EXISTS ticket_schema (version INTEGER NOT NULL);
"""
#: Serialises schema creation between processes starting at the same time.
_PG_SCHEMA_LOCK = 0x5EB0_71C7
_SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresTicketStore:
    """Tickets in PostgreSQL (psycopg 3). Creates the tables (and ``schema``) if needed.

    ``schema`` puts the tables in their own PostgreSQL schema (created if missing)
    instead of the connection's default search path; tests use it for isolation.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        connect_timeout: int = 5,
        config_hint: str = "tickets.database in supportbot.yml",
    ) -> None:
        if schema is not None and not _SCHEMA_NAME_RE.match(schema):
            raise ValueError(
                f"schema must be a lowercase SQL identifier, got {schema!r}"
            )
        self.dsn = dsn
        self.database = redact_dsn(dsn) + (f" (schema {schema})" if schema else "")
        self.schema = schema
        self._clock = clock or _utcnow
        self._hint = config_hint
        self._connect_timeout = connect_timeout
        self._lock = threading.RLock()
        self._closed = False
        self._conn = self._connect()
        try:
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    # -- plumbing

    def _connect(self) -> Any:
        import psycopg

        options = "-c TimeZone=UTC"
        if self.schema:
            options += f" -c search_path={self.schema}"
        try:
            return psycopg.connect(
                self.dsn,
                connect_timeout=self._connect_timeout,
                options=options,
                autocommit=True,  # transactions only where _tx() opens them
            )
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise TicketStoreUnavailableError(
                self.database,
                f"cannot connect: {reason}",
                f"start PostgreSQL, or correct {self._hint}, "
                "e.g. postgresql://user:password@host:5432/dbname",
            ) from None

    def _init_schema(self) -> None:
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_SCHEMA_LOCK,))
            if self.schema:
                cur.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                )
                if cur.fetchone() is None:
                    cur.execute(f'CREATE SCHEMA "{self.schema}"')
            for statement in _PG_SCHEMA.split(";"):
                if statement.strip():
                    cur.execute(statement)
            cur.execute("SELECT max(version) FROM ticket_schema")
            row = cur.fetchone()
            version = row[0] if row else None
            if version is None:
                cur.execute(
                    "INSERT INTO ticket_schema (version) VALUES (%s)", (SCHEMA_VERSION,)
                )
            elif version > SCHEMA_VERSION:
                raise TicketStoreCorruptError(
                    self.database,
                    f"schema version {version} is newer than this bot "
                    f"({SCHEMA_VERSION})",
                    f"upgrade the bot, or point {self._hint} at another database",
                )

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction on the (re)connected connection, committed on success."""
        import psycopg

        with self._lock:
            if self._closed:
                raise TicketStoreError(self.database, "the store is closed")
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError as exc:
                raise TicketStoreUnavailableError(
                    self.database,
                    " ".join(str(exc).split()),
                    f"check that PostgreSQL is running and {self._hint}",
                ) from exc
            except psycopg.Error as exc:
                raise TicketStoreError(
                    self.database, f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                ) from exc

    # -- API

    def create(self, draft: TicketDraft) -> Ticket:
        created_at = self._clock()
        with self._tx() as cur:
            cur.execute(
                f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS[1:])}) "
                f"VALUES ({', '.join(['%s'] * (len(_TICKET_COLUMNS) - 1))}) "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING number",
                (
                    created_at, created_at, "new", draft.conversation_id, draft.channel,
                    draft.customer_id, draft.language, draft.reason, draft.queue,
                    draft.priority, draft.after_hours, draft.promised_reply_at,
                    list(draft.tags), draft.summary, draft.dedupe_key,
                ),
            )
            row = cur.fetchone()
            if row is None:  # the dedupe key exists: hand back that ticket
                cur.execute(
                    "SELECT number FROM tickets WHERE dedupe_key = %s",
                    (draft.dedupe_key,),
                )
                existing = cur.fetchone()
                return self._load(cur, [existing[0]])[0]
            number = int(row[0])
            self._insert_turns(cur, number, 0, draft.transcript)
        return _ticket_from_draft(draft, number, created_at)

    def get(self, number: int) -> Ticket | None:
        with self._tx() as cur:
            found = self._load(cur, [number])
        return found[0] if found else None

    def list(
        self,
        status: str | None = None,
        queue: str | None = None,
        language: str | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
        *,
        conversation_id: str | None = None,
    ) -> builtins.list[Ticket]:
        conditions = _filters(status, queue, language, conversation_id)
        where = " AND ".join(f"{col} = %s" for col, _ in conditions) or "TRUE"
        params: list[Any] = [value for _, value in conditions]
        with self._tx() as cur:
            cur.execute(
                f"SELECT number FROM tickets WHERE {where} "
                "ORDER BY number DESC LIMIT %s",
                [*params, _check_limit(limit)],
            )
            numbers = [int(row[0]) for row in cur.fetchall()]
            return self._load(cur, numbers)

    def append_turns(self, number: int, turns: Sequence[Turn]) -> None:
        with self._tx() as cur:
            # The row lock serialises appends to one ticket across processes.
            cur.execute(
                "SELECT number FROM tickets WHERE number = %s FOR UPDATE", (number,)
            )
            if cur.fetchone() is None:
                raise TicketNotFoundError(self.database, number)
            cur.execute(
                "SELECT coalesce(max(seq), -1) FROM ticket_turns "
                "WHERE ticket_number = %s",
                (number,),
            )
            row = cur.fetchone()
            self._insert_turns(cur, number, int(row[0]) + 1, turns)
            cur.execute(
                "UPDATE tickets SET updated_at = %s WHERE number = %s",
                (self._clock(), number),
            )

    def set_status(self, number: int, status: str) -> Ticket:
        checked = _check_status(status)
        with self._tx() as cur:
            cur.execute(
                "UPDATE tickets SET status = %s, updated_at = %s WHERE number = %s",
                (checked, self._clock(), number),
            )
            if cur.rowcount == 0:
                raise TicketNotFoundError(self.database, number)
            return self._load(cur, [number])[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> PostgresTicketStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresTicketStore({self.database!r})"

    # -- rows

    @staticmethod
    def _insert_turns(
        cur: Any, number: int, first_seq: int, turns: Sequence[Turn]
    ) -> None:
        if not turns:
            return
        cur.executemany(
            f"INSERT INTO ticket_turns ({', '.join(_TURN_COLUMNS)}) "
            f"VALUES ({', '.join(['%s'] * len(_TURN_COLUMNS))})",
            [
                (
                    number, first_seq + i, t.at, t.speaker, t.text, t.language,
                    t.translation, t.intent, t.confidence, list(t.kb_articles),
                    t.message_id, t.channel,
                )
                for i, t in enumerate(turns)
            ],
        )

    @staticmethod
    def _load(cur: Any, numbers: Sequence[int]) -> builtins.list[Ticket]:
        if not numbers:
            return []
        turns: dict[int, list[Turn]] = {n: [] for n in numbers}
        cur.execute(
            f"SELECT {', '.join(_TURN_COLUMNS)} FROM ticket_turns "
            "WHERE ticket_number = ANY(%s) ORDER BY ticket_number, seq",
            (list(numbers),),
        )
        for row in cur.fetchall():
            r = dict(zip(_TURN_COLUMNS, row, strict=True))
            turns[int(r["ticket_number"])].append(
                _turn_from_row(r, _as_utc(r["at"]), r["kb_articles"] or ())
            )
        cur.execute(
            f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets WHERE number = ANY(%s)",
            (list(numbers),),
        )
        by_number = {}
        for row in cur.fetchall():
            r = dict(zip(_TICKET_COLUMNS, row, strict=True))
            number = int(r["number"])
            by_number[number] = _ticket_from_row(
                r,
                created_at=_as_utc(r["created_at"]),
                updated_at=_as_utc(r["updated_at"]),
                promised=(
                    _as_utc(r["promised_reply_at"]) if r["promised_reply_at"] else None
                ),
                tags=r["tags"] or (),
                transcript=turns[number],
            )
        return [by_number[n] for n in numbers if n in by_number]


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


# ---------------------------------------------------------------------- factory

_PG_SCHEMES = ("postgresql://", "postgres://")


def open_store(section: Section, *, clock: Clock | None = None) -> TicketStore:
    """The store configured in the ``tickets:`` section.

    ``database:`` is a file path (SQLite, relative to the settings file; ``$VARS`` are
    expanded) or a ``postgresql://`` URL. ``schema:`` optionally names a PostgreSQL
    schema.

    Raises:
        ConfigError: the setting is missing or malformed.
        TicketStoreError: the database cannot be opened (unreachable, corrupt, …).
    """
    raw = section.require("database")
    if not isinstance(raw, str) or not raw.strip():
        raise section.error(
            "database", f"must be a file path or postgresql:// URL, got {raw!r}",
            "e.g. 'database: var/tickets.sqlite3'",
        )
    value = os.path.expandvars(raw.strip())
    hint = f"{section.where('database')} in {section.file}"
    schema = section.get("schema")
    if value.lower().startswith(_PG_SCHEMES):
        if schema is not None and (
            not isinstance(schema, str) or not _SCHEMA_NAME_RE.match(schema)
        ):
            raise section.error(
                "schema", f"must be a lowercase SQL identifier, got {schema!r}",
                "e.g. 'schema: support'",
            )
        return PostgresTicketStore(value, schema=schema, clock=clock, config_hint=hint)
    if "://" in value or "$" in value:
        raise section.error(
            "database",
            f"{redact_dsn(value)!r} is neither a file path nor a postgresql:// URL"
            + (" (an environment variable is not set)" if "$" in value else ""),
            "use a path such as var/tickets.sqlite3 or postgresql://user@host/db",
        )
    if schema is not None:
        raise section.error(
            "schema", "only applies to PostgreSQL",
            "remove it, or use a postgresql:// URL",
        )
    return SQLiteTicketStore(section.path("database"), clock=clock, config_hint=hint)
