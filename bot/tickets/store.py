"""Ticket stores: SQLite for the embedded default, PostgreSQL for the scale-out set-up.

One implementation, ``SQLTicketStore``, holds every query; a ``Dialect`` carries the
few things the two databases spell differently (placeholders, column types, how times,
lists and booleans are stored, row locks), and two thin subclasses own the connection.
Both pass the same contract tests (tests/bot/tickets/test_store_contract.py).

Tables (plain SQL, versioned by ``MIGRATIONS`` in bot/tickets/schema.py, with the
dialects; a database from an older version is upgraded in place when opened, one from
a newer version is refused):

* ``tickets``: one row per ticket; ``number`` is never reused; ``dedupe_key`` is unique,
  so a retried escalation finds the ticket it already created.
* ``ticket_turns``: the transcript, one row per turn, ordered by ``seq``.
* ``ticket_events`` (v2): the history; every state change writes one event in the same
  transaction as the change.
* ``ticket_outbox`` (v2): when the store is opened with ``outbox=True``, every event
  except ``delivered`` also queues a helpdesk document (bot/tickets/payload.py) in that
  same transaction; bot/tickets/outbox.py delivers it.

Writes commit before they return (SQLite with ``synchronous=FULL``), so the number the
customer is told survives a crash. Every method is safe to call from several threads;
each store holds one connection behind a lock. Across processes, SQLite's
``BEGIN IMMEDIATE`` and PostgreSQL's row locks and unique constraints keep numbering,
appends, event sequences and de-duplication correct.

Every method that changes something takes ``now`` (default: the store's clock) so tests
and metrics are deterministic. The calls block: from async code run them in an executor.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from bot.errors import SupportBotError
from bot.settings import Section, Settings
from bot.tickets.model import (
    STATUSES,
    EventKind,
    Speaker,
    Ticket,
    TicketDraft,
    TicketEvent,
    TicketStatus,
    Turn,
    check_csat,
    datetime_to_json,
    format_ref,
)
from bot.tickets.payload import build_payload, idempotency_key
from bot.tickets.schema import (
    EVENT_COLUMNS,
    MIGRATIONS,
    OUTBOX_COLUMNS,
    POSTGRES,
    SCHEMA_VERSION,
    SQLITE,
    TICKET_COLUMNS,
    TURN_COLUMNS,
    Dialect,
)

Clock = Callable[[], datetime]

DEFAULT_LIST_LIMIT = 50
#: Tickets loaded per query when transcripts are attached (keeps IN lists short).
_CHUNK = 500

_DRAFT_FIELDS = tuple(f.name for f in fields(TicketDraft))
#: History events that stay in the store: a helpdesk has no use for them.
_NOT_PUSHED = frozenset({"delivered", "csat_asked"})
#: Events after which a CSAT question must be asked anew (the status changed).
_STATUS_EVENTS = ("resolved", "status", "assigned")


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


class CsatRefusedError(SupportBotError, ValueError):
    """A rating the ticket did not ask for: not resolved, not asked since, or rated.

    Not a database failure: the store works and refuses, so that a typed
    ``/csat_score`` or a forged action call cannot rate an open ticket or rate twice.
    """

    def __init__(self, number: int, problem: str) -> None:
        self.number = number
        self.problem = problem
        super().__init__(f"{format_ref(number)}: no rating accepted: {problem}")


class TicketNotFoundError(TicketStoreError, LookupError):
    """No ticket with that number."""

    def __init__(self, database: str, number: int) -> None:
        self.number = number
        super().__init__(database, f"no ticket {format_ref(number)}")


# ---------------------------------------------------------------------- protocol


@dataclass(frozen=True)
class OutboxItem:
    """One queued helpdesk document and its delivery state."""

    id: int
    idempotency_key: str
    number: int
    event_seq: int
    created_at: datetime
    payload: dict[str, Any]
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str | None

    @property
    def state(self) -> str:
        """``delivered``, ``dead`` (gave up) or ``pending``."""
        if self.delivered_at is not None:
            return "delivered"
        return "dead" if self.dead_at is not None else "pending"


# ---------------------------------------------------------------------- helpers


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _check_status(status: str) -> TicketStatus:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    return cast(TicketStatus, status)


def _check_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    return limit


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value.strip()


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


class _Tx:
    """One open transaction: runs ``?``-style SQL through the dialect."""

    def __init__(self, raw: Any, dialect: Dialect) -> None:
        self._raw = raw  # sqlite3.Connection or a psycopg cursor
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self._raw.execute(self._dialect.sql(sql), params or ())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        return cast(builtins.list[Any], self.execute(sql, params).fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute; the number of rows changed."""
        return int(self.execute(sql, params).rowcount)

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._raw.executemany(self._dialect.sql(sql), rows)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


# ---------------------------------------------------------------------- the store


class SQLTicketStore(ABC):
    """Every ticket query, once; subclasses own the connection and version record."""

    dialect: Dialect
    database: str

    def __init__(
        self, dialect: Dialect, *, clock: Clock | None, config_hint: str, outbox: bool
    ) -> None:
        self.dialect = dialect
        self._clock = clock or _utcnow
        self._hint = config_hint
        #: Whether changes queue helpdesk documents (the ``outbox:`` section is set).
        self.outbox = outbox
        self._lock = threading.RLock()
        self._closed = False

    # -- what a subclass provides

    @abstractmethod
    def _transaction(self, write: bool) -> AbstractContextManager[_Tx]:
        """One transaction on the subclass's connection (``write``: take the write lock)."""

    @abstractmethod
    def _read_version(self, tx: _Tx) -> int:
        """The schema version the database records (0 for an empty database)."""

    @abstractmethod
    def _write_version(self, tx: _Tx, version: int) -> None:
        """Record ``version`` inside the migrating transaction."""

    @abstractmethod
    def _close_connection(self) -> None:
        """Close the subclass's connection."""

    # -- schema

    def _migrate(self) -> None:
        """Bring the schema to SCHEMA_VERSION in one transaction (or refuse)."""
        with self._transaction(write=True) as tx:
            self._serialise_migrations(tx)
            version = self._read_version(tx)
            if version > SCHEMA_VERSION:
                raise TicketStoreCorruptError(
                    self.database,
                    f"schema version {version} is newer than this bot "
                    f"({SCHEMA_VERSION})",
                    f"upgrade the bot, or point {self._hint} at a database this "
                    "version created",
                )
            for target, template in MIGRATIONS:
                if target > version:
                    for statement in self.dialect.ddl(template):
                        tx.execute(statement)
            if version < SCHEMA_VERSION:
                self._write_version(tx, SCHEMA_VERSION)

    @abstractmethod
    def _serialise_migrations(self, tx: _Tx) -> None:
        """Keep two processes from migrating the same database at once."""

    # -- plumbing

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            return self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, got {now.isoformat()}")
        return now

    def _ticket_row(self, tx: _Tx, number: int) -> dict[str, Any]:
        """The ticket's row, locked for the rest of the transaction (PostgreSQL)."""
        row = tx.one(
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets WHERE number = ?"
            + self.dialect.lock_rows,
            (number,),
        )
        if row is None:
            raise TicketNotFoundError(self.database, number)
        return dict(zip(TICKET_COLUMNS, row, strict=True))

    def _record(
        self, tx: _Tx, number: int, kind: EventKind, actor: str,
        data: Mapping[str, Any], at: datetime,
    ) -> TicketEvent:
        """Write one history event (and its outbox document) in the caller's tx."""
        row = tx.one(
            "SELECT coalesce(max(seq), 0) FROM ticket_events WHERE ticket_number = ?",
            (number,),
        )
        event = TicketEvent(
            number=number, seq=int(row[0]) + 1, at=at, kind=kind, actor=actor,
            data=dict(data),
        )
        tx.run(
            f"INSERT INTO ticket_events ({', '.join(EVENT_COLUMNS)}) "
            f"VALUES ({_marks(len(EVENT_COLUMNS))})",
            (
                number, event.seq, self.dialect.encode_time(at), kind, actor,
                json.dumps(event.data, ensure_ascii=False, sort_keys=True),
            ),
        )
        if self.outbox and kind not in _NOT_PUSHED:
            ticket = self._load(tx, [number], transcripts=kind == "created")[0]
            payload = build_payload(ticket, event)
            tx.run(
                "INSERT INTO ticket_outbox (idempotency_key, ticket_number, event_seq,"
                " created_at, payload, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    idempotency_key(number, event.seq), number, event.seq,
                    self.dialect.encode_time(at),
                    json.dumps(payload, ensure_ascii=False),
                    self.dialect.encode_time(at),
                ),
            )
        return event

    def _update(self, tx: _Tx, number: int, values: Mapping[str, Any]) -> None:
        cols = ", ".join(f"{name} = ?" for name in values)
        tx.run(
            f"UPDATE tickets SET {cols} WHERE number = ?", [*values.values(), number]
        )

    # -- API: tickets

    def create(self, draft: TicketDraft, *, now: datetime | None = None) -> Ticket:
        """Store a new ticket (status ``new``) and commit before returning it.

        A draft whose ``dedupe_key`` is already stored returns that ticket unchanged.
        """
        created_at = self._now(now)
        d = self.dialect
        t = d.encode_time(created_at)
        with self._transaction(write=True) as tx:
            row = tx.one(
                f"INSERT INTO tickets ({', '.join(TICKET_COLUMNS[1:16])}) "
                f"VALUES ({_marks(15)}) "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING number",
                (
                    t, t, "new", draft.conversation_id, draft.channel,
                    draft.customer_id, draft.language, draft.reason, draft.queue,
                    draft.priority, d.encode_bool(draft.after_hours),
                    d.time_opt(draft.promised_reply_at), d.encode_list(draft.tags),
                    draft.summary, draft.dedupe_key,
                ),
            )
            if row is None:  # the dedupe key exists: hand back that ticket
                existing = tx.one(
                    "SELECT number FROM tickets WHERE dedupe_key = ?",
                    (draft.dedupe_key,),
                )
                return self._load(tx, [int(existing[0])])[0]
            number = int(row[0])
            self._insert_turns(tx, number, 0, draft.transcript)
            self._record(tx, number, "created", "bot", {
                "reason": draft.reason, "queue": draft.queue,
                "priority": draft.priority, "language": draft.language,
                "channel": draft.channel, "after_hours": draft.after_hours,
                "promised_reply_at": (
                    datetime_to_json(draft.promised_reply_at)
                    if draft.promised_reply_at else None
                ),
            }, created_at)
        values = {name: getattr(draft, name) for name in _DRAFT_FIELDS}
        values["transcript"] = list(draft.transcript)
        return Ticket(
            **values, number=number, created_at=created_at, status="new",
            updated_at=created_at,
        )

    def get(self, number: int) -> Ticket | None:
        """The ticket with its full transcript, or None."""
        with self._transaction(write=False) as tx:
            found = self._load(tx, [number])
        return found[0] if found else None

    def list(
        self,
        status: str | Sequence[str] | None = None,
        queue: str | None = None,
        language: str | None = None,
        limit: int | None = DEFAULT_LIST_LIMIT,
        *,
        conversation_id: str | None = None,
        queues: Sequence[str] | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        after_hours: bool | None = None,
        priority: str | None = None,
        customer_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        transcripts: bool = True,
    ) -> builtins.list[Ticket]:
        """Tickets matching every given filter, newest first."""
        d = self.dialect
        where: builtins.list[str] = []
        params: builtins.list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            where.append(f"{column} IN ({_marks(len(values))})" if values else "1 = 0")
            params.extend(values)

        if status is not None:
            wanted = [status] if isinstance(status, str) else builtins.list(status)
            any_of("status", [_check_status(s) for s in wanted])
        if queues is not None:
            any_of("queue", builtins.list(queues))
        for column, value in (
            ("queue", queue), ("language", language),
            ("conversation_id", conversation_id), ("assignee", assignee),
            ("priority", priority), ("customer_id", customer_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if unassigned:
            where.append("assignee IS NULL")
        if after_hours is not None:
            where.append("after_hours = ?")
            params.append(d.encode_bool(after_hours))
        if created_after is not None:
            where.append("created_at >= ?")
            params.append(d.encode_time(self._now(created_after)))
        if created_before is not None:
            where.append("created_at < ?")
            params.append(d.encode_time(self._now(created_before)))
        sql = (
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets "
            f"WHERE {' AND '.join(where) or '1 = 1'} ORDER BY number DESC"
        )
        checked = _check_limit(limit)
        if checked is not None:
            sql += " LIMIT ?"
            params.append(checked)
        with self._transaction(write=False) as tx:
            rows = [
                dict(zip(TICKET_COLUMNS, r, strict=True)) for r in tx.all(sql, params)
            ]
            numbers = [int(r["number"]) for r in rows]
            turns = self._turns(tx, numbers) if transcripts else {}
        return [self._ticket(r, turns.get(int(r["number"]), [])) for r in rows]

    def open_ticket_for(self, conversation_id: str) -> Ticket | None:
        """The newest ticket of the conversation that is not resolved."""
        with self._transaction(write=False) as tx:
            row = tx.one(
                "SELECT max(number) FROM tickets WHERE conversation_id = ? "
                "AND status <> 'resolved'",
                (conversation_id,),
            )
            if row is None or row[0] is None:
                return None
            return self._load(tx, [int(row[0])])[0]

    def append_turns(
        self, number: int, turns: Sequence[Turn], *, now: datetime | None = None
    ) -> None:
        """Add turns after the existing transcript; raises TicketNotFoundError."""
        at = self._now(now)
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._insert_turns(tx, number, self._next_turn(tx, number), turns)
            changes: dict[str, Any] = {"updated_at": self.dialect.encode_time(at)}
            customer = [t for t in turns if t.speaker == "customer"]
            # The customer answered: the ticket no longer waits on them.
            if customer and current["status"] == "pending":
                changes["status"] = "open"
            self._update(tx, number, changes)
            for t in customer:
                self._record(tx, number, "customer_message", "customer", {
                    "text": t.text, "language": t.language,
                    "message_id": t.message_id, "channel": t.channel,
                    "at": datetime_to_json(t.at),
                }, at)

    def set_status(
        self, number: int, status: str, *, actor: str = "system",
        now: datetime | None = None,
    ) -> Ticket:
        """Set the status and return the updated ticket; raises TicketNotFoundError."""
        checked = _check_status(status)
        at = self._now(now)
        d = self.dialect
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            changes: dict[str, Any] = {
                "status": checked, "updated_at": d.encode_time(at),
            }
            if checked == "resolved" and current["status"] != "resolved":
                changes["resolved_at"] = d.encode_time(at)
            elif checked != "resolved":
                changes["resolved_at"] = None
            self._update(tx, number, changes)
            if current["status"] != checked:
                self._record(tx, number, "status", actor, {
                    "from": current["status"], "to": checked,
                }, at)
            return self._load(tx, [number])[0]

    def assign(self, number: int, agent: str, *, now: datetime | None = None) -> Ticket:
        """Give the ticket to ``agent`` and open it."""
        name = _check_name("agent", agent)
        at = self._now(now)
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._update(tx, number, {
                "assignee": name, "status": "open", "resolved_at": None,
                "updated_at": self.dialect.encode_time(at),
            })
            self._record(tx, number, "assigned", name, {
                "assignee": name, "previous": current["assignee"],
                "from": current["status"], "to": "open",
            }, at)
            return self._load(tx, [number])[0]

    def add_note(
        self, number: int, agent: str, text: str, *, now: datetime | None = None
    ) -> TicketEvent:
        """An internal note (never shown to the customer)."""
        name = _check_name("agent", agent)
        body = _check_name("note text", text)
        at = self._now(now)
        with self._transaction(write=True) as tx:
            self._ticket_row(tx, number)
            self._update(tx, number, {"updated_at": self.dialect.encode_time(at)})
            return self._record(tx, number, "note", name, {"text": body}, at)

    def add_agent_reply(
        self, number: int, agent: str, turn: Turn, *, now: datetime | None = None
    ) -> Ticket:
        """Append the agent's reply; the first one sets ``first_response_at``."""
        name = _check_name("agent", agent)
        if turn.speaker != "agent":
            raise ValueError(
                f"an agent reply needs speaker 'agent', got {turn.speaker!r}"
            )
        _check_name("reply text", turn.text)
        at = self._now(now)
        d = self.dialect
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._insert_turns(tx, number, self._next_turn(tx, number), [turn])
            first = current["first_response_at"] is None
            changes: dict[str, Any] = {"updated_at": d.encode_time(at)}
            if first:
                changes["first_response_at"] = d.encode_time(at)
            if current["status"] == "new":
                changes["status"] = "open"
            self._update(tx, number, changes)
            self._record(tx, number, "agent_reply", name, {
                "text": turn.text, "translation": turn.translation,
                "language": turn.language, "first_response": first,
            }, at)
            return self._load(tx, [number])[0]

    def resolve(
        self, number: int, agent: str, *, now: datetime | None = None
    ) -> Ticket:
        """Mark resolved and set ``resolved_at``."""
        name = _check_name("agent", agent)
        at = self._now(now)
        d = self.dialect
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._update(tx, number, {
                "status": "resolved", "resolved_at": d.encode_time(at),
                "updated_at": d.encode_time(at),
            })
            self._record(tx, number, "resolved", name, {"from": current["status"]}, at)
            return self._load(tx, [number])[0]

    def _csat_asked(self, tx: _Tx, number: int) -> bool:
        """Whether the CSAT question was asked since the ticket's status last changed."""
        row = tx.one(
            "SELECT coalesce(max(seq), 0) FROM ticket_events WHERE ticket_number = ? "
            "AND kind = 'csat_asked' AND seq > (SELECT coalesce(max(seq), 0) FROM "
            f"ticket_events WHERE ticket_number = ? AND kind IN ({_marks(3)}))",
            (number, number, *_STATUS_EVENTS),
        )
        return bool(row[0])

    @staticmethod
    def _check_rateable(current: Mapping[str, Any]) -> None:
        if current["status"] != "resolved":
            raise CsatRefusedError(
                int(current["number"]), f"the ticket is {current['status']}, not resolved"
            )
        if current["csat"] is not None:
            raise CsatRefusedError(
                int(current["number"]), f"it was rated already ({current['csat']}/5)"
            )

    def ask_csat(self, number: int, *, now: datetime | None = None) -> Ticket:
        """Record that the customer was asked to rate the resolved ``number``.

        Only a resolved, unrated ticket can be asked (else CsatRefusedError); asking
        again before the status changes records nothing (a retried turn asks once).
        ``set_csat`` accepts a score only after this.
        """
        at = self._now(now)
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._check_rateable(current)
            if not self._csat_asked(tx, number):
                self._record(tx, number, "csat_asked", "bot", {}, at)
            return self._load(tx, [number])[0]

    def set_csat(
        self, number: int, score: int, *, now: datetime | None = None
    ) -> Ticket:
        """Store the customer's 1..5 satisfaction score, once, where it was asked for.

        Raises:
            ValueError: ``score`` is not a whole number 1..5.
            CsatRefusedError: the ticket is not resolved, was not asked (``ask_csat``)
                since its status last changed, or is rated already.
            TicketNotFoundError: no such ticket.
        """
        checked = check_csat(score)
        at = self._now(now)
        with self._transaction(write=True) as tx:
            current = self._ticket_row(tx, number)
            self._check_rateable(current)
            if not self._csat_asked(tx, number):
                raise CsatRefusedError(number, "the customer was not asked to rate it")
            self._update(tx, number, {
                "csat": checked, "updated_at": self.dialect.encode_time(at),
            })
            self._record(tx, number, "csat", "customer", {"score": checked}, at)
            return self._load(tx, [number])[0]

    def events(self, number: int) -> builtins.list[TicketEvent]:
        """The ticket's history, oldest first; raises TicketNotFoundError."""
        with self._transaction(write=False) as tx:
            if tx.one("SELECT 1 FROM tickets WHERE number = ?", (number,)) is None:
                raise TicketNotFoundError(self.database, number)
            rows = tx.all(
                f"SELECT {', '.join(EVENT_COLUMNS)} FROM ticket_events "
                "WHERE ticket_number = ? ORDER BY seq",
                (number,),
            )
        return [self._event(r) for r in rows]

    def events_since(
        self, after: datetime | None = None, kinds: Sequence[str] | None = None
    ) -> builtins.list[TicketEvent]:
        """Events of every ticket (optionally after a time / of some kinds)."""
        where, params = ["1 = 1"], []
        if after is not None:
            where.append("at >= ?")
            params.append(self.dialect.encode_time(self._now(after)))
        if kinds is not None:
            where.append(f"kind IN ({_marks(len(kinds))})" if kinds else "1 = 0")
            params.extend(kinds)
        with self._transaction(write=False) as tx:
            rows = tx.all(
                f"SELECT {', '.join(EVENT_COLUMNS)} FROM ticket_events "
                f"WHERE {' AND '.join(where)} ORDER BY at, ticket_number, seq",
                params,
            )
        return [self._event(r) for r in rows]

    # -- API: outbox (bot/tickets/outbox.py drives these)

    def outbox_claim(
        self, now: datetime, lease_until: datetime, limit: int = 20
    ) -> builtins.list[OutboxItem]:
        """Due documents, oldest first, at most one per ticket (ticket order kept).

        Each is leased until ``lease_until`` (counted as an attempt): a worker that
        dies mid-delivery leaves it to be retried when the lease ends.
        """
        d = self.dialect
        with self._transaction(write=True) as tx:
            rows = tx.all(
                f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM ticket_outbox o "
                "WHERE delivered_at IS NULL AND dead_at IS NULL "
                "AND next_attempt_at <= ? AND NOT EXISTS ("
                " SELECT 1 FROM ticket_outbox p WHERE p.ticket_number = o.ticket_number"
                " AND p.id < o.id AND p.delivered_at IS NULL AND p.dead_at IS NULL) "
                "ORDER BY id LIMIT ?" + d.skip_locked,
                (d.encode_time(now), _check_limit(limit)),
            )
            items = [self._outbox_item(r) for r in rows]
            for item in items:
                tx.run(
                    "UPDATE ticket_outbox SET attempts = attempts + 1, "
                    "next_attempt_at = ? WHERE id = ?",
                    (d.encode_time(lease_until), item.id),
                )
        return [
            OutboxItem(**{**item.__dict__, "attempts": item.attempts + 1,
                          "next_attempt_at": lease_until})
            for item in items
        ]

    def outbox_delivered(self, item_id: int, *, now: datetime | None = None) -> None:
        """Mark delivered and record a ``delivered`` event on the ticket."""
        at = self._now(now)
        with self._transaction(write=True) as tx:
            row = tx.one(
                "SELECT ticket_number, idempotency_key, event_seq, attempts, "
                "delivered_at FROM ticket_outbox WHERE id = ?" + self.dialect.lock_rows,
                (item_id,),
            )
            if row is None or row[4] is not None:
                return  # already delivered (a parallel worker): nothing to record
            tx.run(
                "UPDATE ticket_outbox SET delivered_at = ?, last_error = NULL "
                "WHERE id = ?",
                (self.dialect.encode_time(at), item_id),
            )
            self._record(tx, int(row[0]), "delivered", "outbox", {
                "idempotency_key": row[1], "event_seq": int(row[2]),
                "attempts": int(row[3]),
            }, at)

    def outbox_failed(
        self, item_id: int, error: str, *, retry_at: datetime | None,
        now: datetime | None = None,
    ) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up when None."""
        at = self._now(now)
        d = self.dialect
        with self._transaction(write=True) as tx:
            if retry_at is None:
                tx.run(
                    "UPDATE ticket_outbox SET dead_at = ?, last_error = ? "
                    "WHERE id = ? AND delivered_at IS NULL",
                    (d.encode_time(at), error[:500], item_id),
                )
            else:
                tx.run(
                    "UPDATE ticket_outbox SET next_attempt_at = ?, last_error = ? "
                    "WHERE id = ? AND delivered_at IS NULL",
                    (d.encode_time(retry_at), error[:500], item_id),
                )

    def outbox_requeue_dead(self, *, now: datetime | None = None) -> int:
        """Give every abandoned document a fresh set of attempts; how many."""
        at = self._now(now)
        with self._transaction(write=True) as tx:
            return tx.run(
                "UPDATE ticket_outbox SET dead_at = NULL, attempts = 0, "
                "next_attempt_at = ? "
                "WHERE dead_at IS NOT NULL AND delivered_at IS NULL",
                (self.dialect.encode_time(at),),
            )

    def outbox_items(
        self, state: str | None = None, limit: int | None = None
    ) -> builtins.list[OutboxItem]:
        """Queued documents, oldest first; ``state``: pending, delivered or dead."""
        conditions = {
            None: "1 = 1",
            "pending": "delivered_at IS NULL AND dead_at IS NULL",
            "delivered": "delivered_at IS NOT NULL",
            "dead": "dead_at IS NOT NULL AND delivered_at IS NULL",
        }
        if state not in conditions:
            raise ValueError(f"state must be pending, delivered or dead, got {state!r}")
        sql = (
            f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM ticket_outbox "
            f"WHERE {conditions[state]} ORDER BY id"
        )
        params: builtins.list[Any] = []
        if _check_limit(limit) is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._transaction(write=False) as tx:
            return [self._outbox_item(r) for r in tx.all(sql, params)]

    def outbox_counts(self) -> dict[str, int]:
        """How many documents are pending, delivered and dead."""
        with self._transaction(write=False) as tx:
            row = tx.one(
                "SELECT "
                "sum(CASE WHEN delivered_at IS NULL AND dead_at IS NULL"
                " THEN 1 ELSE 0 END),"
                " sum(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END),"
                " sum(CASE WHEN dead_at IS NOT NULL AND delivered_at IS NULL"
                " THEN 1 ELSE 0 END) FROM ticket_outbox"
            )
        return {
            "pending": int(row[0] or 0), "delivered": int(row[1] or 0),
            "dead": int(row[2] or 0),
        }

    # -- lifecycle

    def close(self) -> None:
        """Release the connection; further calls fail."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._close_connection()

    def __enter__(self) -> SQLTicketStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database!r})"

    # -- rows

    @staticmethod
    def _next_turn(tx: _Tx, number: int) -> int:
        row = tx.one(
            "SELECT coalesce(max(seq), -1) FROM ticket_turns WHERE ticket_number = ?",
            (number,),
        )
        return int(row[0]) + 1

    def _insert_turns(
        self, tx: _Tx, number: int, first_seq: int, turns: Sequence[Turn]
    ) -> None:
        d = self.dialect
        tx.many(
            f"INSERT INTO ticket_turns ({', '.join(TURN_COLUMNS)}) "
            f"VALUES ({_marks(len(TURN_COLUMNS))})",
            [
                (
                    number, first_seq + i, d.encode_time(t.at), t.speaker, t.text,
                    t.language, t.translation, t.intent, t.confidence,
                    d.encode_list(t.kb_articles), t.message_id, t.channel,
                )
                for i, t in enumerate(turns)
            ],
        )

    def _turns(self, tx: _Tx, numbers: Sequence[int]) -> dict[int, builtins.list[Turn]]:
        d = self.dialect
        out: dict[int, builtins.list[Turn]] = {n: [] for n in numbers}
        for start in range(0, len(numbers), _CHUNK):
            chunk = numbers[start:start + _CHUNK]
            for row in tx.all(
                f"SELECT {', '.join(TURN_COLUMNS)} FROM ticket_turns "
                f"WHERE ticket_number IN ({_marks(len(chunk))}) "
                "ORDER BY ticket_number, seq",
                chunk,
            ):
                r = dict(zip(TURN_COLUMNS, row, strict=True))
                out[int(r["ticket_number"])].append(Turn(
                    at=d.decode_time(r["at"]), speaker=cast(Speaker, r["speaker"]),
                    text=r["text"], language=r["language"],
                    translation=r["translation"], intent=r["intent"],
                    confidence=r["confidence"],
                    kb_articles=tuple(d.decode_list(r["kb_articles"])),
                    message_id=r["message_id"], channel=r["channel"],
                ))
        return out

    def _load(
        self, tx: _Tx, numbers: Sequence[int], *, transcripts: bool = True
    ) -> builtins.list[Ticket]:
        if not numbers:
            return []
        rows = tx.all(
            f"SELECT {', '.join(TICKET_COLUMNS)} FROM tickets "
            f"WHERE number IN ({_marks(len(numbers))})",
            builtins.list(numbers),
        )
        by_number = {
            int(r[0]): dict(zip(TICKET_COLUMNS, r, strict=True)) for r in rows
        }
        turns = self._turns(tx, builtins.list(by_number)) if transcripts else {}
        return [
            self._ticket(by_number[n], turns.get(n, []))
            for n in numbers if n in by_number
        ]

    def _ticket(self, r: Mapping[str, Any], transcript: builtins.list[Turn]) -> Ticket:
        d = self.dialect
        return Ticket(
            conversation_id=r["conversation_id"], channel=r["channel"],
            customer_id=r["customer_id"], language=r["language"], reason=r["reason"],
            queue=r["queue"], priority=r["priority"],
            after_hours=bool(r["after_hours"]),
            promised_reply_at=d.time_or_none(r["promised_reply_at"]),
            tags=tuple(d.decode_list(r["tags"])), summary=r["summary"],
            transcript=transcript, dedupe_key=r["dedupe_key"], number=int(r["number"]),
            created_at=d.decode_time(r["created_at"]),
            status=cast(TicketStatus, r["status"]),
            updated_at=d.time_or_none(r["updated_at"]),
            assignee=r["assignee"],
            csat=None if r["csat"] is None else int(r["csat"]),
            first_response_at=d.time_or_none(r["first_response_at"]),
            resolved_at=d.time_or_none(r["resolved_at"]),
        )

    def _event(self, row: Sequence[Any]) -> TicketEvent:
        r = dict(zip(EVENT_COLUMNS, row, strict=True))
        return TicketEvent(
            number=int(r["ticket_number"]), seq=int(r["seq"]),
            at=self.dialect.decode_time(r["at"]), kind=r["kind"], actor=r["actor"],
            data=json.loads(r["data"] or "{}"),
        )

    def _outbox_item(self, row: Sequence[Any]) -> OutboxItem:
        r = dict(zip(OUTBOX_COLUMNS, row, strict=True))
        d = self.dialect
        return OutboxItem(
            id=int(r["id"]), idempotency_key=r["idempotency_key"],
            number=int(r["ticket_number"]), event_seq=int(r["event_seq"]),
            created_at=d.decode_time(r["created_at"]),
            payload=json.loads(r["payload"]), attempts=int(r["attempts"]),
            next_attempt_at=d.decode_time(r["next_attempt_at"]),
            delivered_at=d.time_or_none(r["delivered_at"]),
            dead_at=d.time_or_none(r["dead_at"]), last_error=r["last_error"],
        )


#: The type callers hold: both databases run this one implementation and pass the same
#: contract suite (tests/bot/tickets/test_store_contract.py).
TicketStore = SQLTicketStore


# ---------------------------------------------------------------------- SQLite

# SQLite result codes that mean the file itself is bad, not the moment.
_SQLITE_CORRUPT_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


class SQLiteTicketStore(SQLTicketStore):
    """Tickets in one SQLite file (WAL mode). Creates the folder and the schema."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        config_hint: str = "tickets.database in supportbot.yml",
        outbox: bool = False,
    ) -> None:
        super().__init__(SQLITE, clock=clock, config_hint=config_hint, outbox=outbox)
        self.path = Path(path)
        self.database = str(path)
        if str(path) != ":memory:":
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
            # Reading the header first: a file that is not a database fails here.
            self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._translate(exc) from None
        except BaseException:
            self._conn.close()
            raise

    def _read_version(self, tx: _Tx) -> int:
        return int(tx.one("PRAGMA user_version")[0])

    def _write_version(self, tx: _Tx, version: int) -> None:
        tx.execute(f"PRAGMA user_version = {int(version)}")

    def _serialise_migrations(self, tx: _Tx) -> None:
        """Nothing to add: the migrating transaction already holds SQLite's write lock."""

    def _close_connection(self) -> None:
        self._conn.close()

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
    def _transaction(self, write: bool) -> Iterator[_Tx]:
        """BEGIN IMMEDIATE takes the write lock up front; reads get a snapshot."""
        with self._lock:
            if self._closed:
                raise TicketStoreError(self.database, "the store is closed")
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _Tx(self._conn, SQLITE)
                except BaseException:
                    self._rollback()
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._translate(exc) from exc

    def _rollback(self) -> None:
        # SQLite rolls some failures back by itself; never mask the original error.
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


# ---------------------------------------------------------------------- PostgreSQL

#: Serialises schema creation between processes starting at the same time.
_PG_SCHEMA_LOCK = 0x5EB0_71C7
_SCHEMA_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresTicketStore(SQLTicketStore):
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
        outbox: bool = False,
    ) -> None:
        if schema is not None and not _SCHEMA_NAME_RE.match(schema):
            raise ValueError(
                f"schema must be a lowercase SQL identifier, got {schema!r}"
            )
        super().__init__(POSTGRES, clock=clock, config_hint=config_hint, outbox=outbox)
        self.dsn = dsn
        self.database = redact_dsn(dsn) + (f" (schema {schema})" if schema else "")
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._conn = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

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
                autocommit=True,  # transactions only where _transaction() opens them
            )
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise TicketStoreUnavailableError(
                self.database,
                f"cannot connect: {reason}",
                f"start PostgreSQL, or correct {self._hint}, "
                "e.g. postgresql://user:password@host:5432/dbname",
            ) from None

    def _serialise_migrations(self, tx: _Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?)", (_PG_SCHEMA_LOCK,))
        if self.schema and tx.one(
            "SELECT 1 FROM pg_namespace WHERE nspname = ?", (self.schema,)
        ) is None:
            tx.execute(f'CREATE SCHEMA "{self.schema}"')

    def _read_version(self, tx: _Tx) -> int:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS ticket_schema (version INTEGER NOT NULL)"
        )
        row = tx.one("SELECT max(version) FROM ticket_schema")
        return int(row[0]) if row and row[0] is not None else 0

    def _write_version(self, tx: _Tx, version: int) -> None:
        tx.execute("DELETE FROM ticket_schema")
        tx.execute("INSERT INTO ticket_schema (version) VALUES (?)", (version,))

    def _close_connection(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[_Tx]:
        """One transaction on the (re)connected connection, committed on success."""
        import psycopg

        with self._lock:
            if self._closed:
                raise TicketStoreError(self.database, "the store is closed")
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield _Tx(cur, POSTGRES)
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


# ---------------------------------------------------------------------- factory

_PG_SCHEMES = ("postgresql://", "postgres://")


def open_store(
    section: Section, *, clock: Clock | None = None, outbox: bool = False
) -> SQLTicketStore:
    """The store configured in the ``tickets:`` section.

    ``database:`` is a file path (SQLite, relative to the settings file; ``$VARS`` are
    expanded) or a ``postgresql://`` URL. ``schema:`` optionally names a PostgreSQL
    schema. ``outbox=True`` queues a helpdesk document with every change.

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
        return PostgresTicketStore(
            value, schema=schema, clock=clock, config_hint=hint, outbox=outbox
        )
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
    return SQLiteTicketStore(
        section.path("database"), clock=clock, config_hint=hint, outbox=outbox
    )


def open_configured_store(
    settings: Settings, *, clock: Clock | None = None
) -> SQLTicketStore:
    """The ``tickets:`` store, queuing helpdesk documents when ``outbox:`` has a URL.

    What the action server, the inbox and the CLI call: whoever changes tickets queues
    the helpdesk documents in the same transaction.
    """
    from bot.tickets.outbox import outbox_enabled  # outbox imports this module

    return open_store(
        settings.section("tickets"), clock=clock, outbox=outbox_enabled(settings)
    )
