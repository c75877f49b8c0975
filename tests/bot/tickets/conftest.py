"""Ticket-store fixtures: one factory per backend, so every contract test runs on both.

PostgreSQL: ``$SUPPORTBOT_TEST_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/
test``). Each test gets its own schema, named after this run, dropped afterwards. If the
server cannot be reached the PostgreSQL tests are skipped with the reason, except on CI
(``CI=true``), where they fail: CI must test both backends.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.tickets.store import (
    PostgresTicketStore,
    SQLiteTicketStore,
    TicketStore,
    redact_dsn,
)

PG_DSN_ENV = "SUPPORTBOT_TEST_PG_DSN"
DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"


class FakeClock:
    """Deterministic, thread-safe clock: each call is one second after the previous."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(seconds=1)
            return self.now


@dataclass
class StoreFactory:
    """Opens stores on one database; each ``open()`` is an independent connection."""

    kind: str
    spec: dict[str, Any]
    clock: FakeClock = field(default_factory=FakeClock)
    opened: list[TicketStore] = field(default_factory=list)

    def open(self, clock: Callable[[], datetime] | None = None) -> TicketStore:
        store: TicketStore
        if self.kind == "sqlite":
            store = SQLiteTicketStore(self.spec["path"], clock=clock or self.clock)
        else:
            store = PostgresTicketStore(
                self.spec["dsn"], schema=self.spec["schema"], clock=clock or self.clock
            )
        self.opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """A reachable PostgreSQL DSN, or skip (fail on CI) with the reason."""
    import psycopg

    dsn = os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
    try:
        psycopg.connect(dsn, connect_timeout=3).close()
    except psycopg.Error as exc:
        reason = (
            f"PostgreSQL not reachable at {redact_dsn(dsn)} "
            f"({' '.join(str(exc).split())}); start it or set ${PG_DSN_ENV}"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} [CI=true: PostgreSQL tests must run]")
        pytest.skip(reason)
    return dsn


def _drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StoreFactory]:
    """A factory for a fresh, empty ticket database of each backend."""
    if request.param == "sqlite":
        # A folder that does not exist yet: the store must create it.
        factory = StoreFactory("sqlite", {"path": tmp_path / "var" / "tickets.sqlite3"})
        yield factory
        factory.close_all()
        return
    dsn = request.getfixturevalue("pg_dsn")
    schema = f"tickets_test_{RUN_ID}_{secrets.token_hex(2)}"
    factory = StoreFactory("postgresql", {"dsn": dsn, "schema": schema})
    try:
        yield factory
    finally:
        factory.close_all()
        _drop_schema(dsn, schema)


@pytest.fixture()
def store(store_factory: StoreFactory) -> TicketStore:
    return store_factory.open()
