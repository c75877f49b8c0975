"""Server-side sessions in the ticket database: created at login, gone after logout,
ended by a password change, shared by two inbox processes on one database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from bot.inbox.sessions import SessionStore
from tests.bot.tickets.conftest import DEFAULT_PG_DSN, PG_DSN_ENV

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def stamp(_: str) -> str:
    return "stamp-1"


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[SessionStore]:
    opened = SessionStore.sqlite(tmp_path / "tickets.sqlite3")
    yield opened
    opened.close()


def test_a_session_is_found_by_its_token_until_it_expires(store: SessionStore) -> None:
    token, session = store.create("maja", "stamp-1", NOW, HOUR)
    found = store.get(token, stamp, NOW + timedelta(minutes=59))
    assert found is not None and found.agent == "maja" and found.csrf == session.csrf
    assert store.get(token, stamp, NOW + HOUR) is None
    assert store.get(token, stamp, NOW) is None  # the expired row was removed


def test_the_table_holds_no_usable_token(store: SessionStore, tmp_path: Path) -> None:
    token, _ = store.create("maja", "stamp-1", NOW, HOUR)
    raw = (tmp_path / "tickets.sqlite3").read_bytes()
    wal = tmp_path / "tickets.sqlite3-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert token.encode() not in raw


def test_logout_ends_the_session(store: SessionStore) -> None:
    token, _ = store.create("maja", "stamp-1", NOW, HOUR)
    other, _ = store.create("maja", "stamp-1", NOW, HOUR)
    store.end(token)
    assert store.get(token, stamp, NOW) is None
    assert store.get(other, stamp, NOW) is not None  # her other browser stays in


def test_a_changed_password_or_a_revocation_ends_older_sessions(
    store: SessionStore,
) -> None:
    token, _ = store.create("maja", "stamp-1", NOW, HOUR)
    assert store.get(token, lambda _: "stamp-2", NOW) is None
    again, _ = store.create("sam", "stamp-1", NOW, HOUR)
    assert store.end_all("sam") == 1
    assert store.get(again, stamp, NOW) is None


@pytest.mark.parametrize("token", [None, "", "x" * 300, "not-a-session"])
def test_anything_else_is_no_session(store: SessionStore, token: str | None) -> None:
    assert store.get(token, stamp, NOW) is None


def test_a_flash_message_is_read_once(store: SessionStore) -> None:
    token, _ = store.create("maja", "stamp-1", NOW, HOUR)
    assert store.pop_flash(token) == ""
    store.set_flash(token, "Sent.")
    assert store.pop_flash(token) == "Sent."
    assert store.pop_flash(token) == ""


def test_two_inbox_processes_on_one_database_share_sessions(tmp_path: Path) -> None:
    first = SessionStore.sqlite(tmp_path / "t.sqlite3")
    second = SessionStore.sqlite(tmp_path / "t.sqlite3")
    try:
        token, _ = first.create("maja", "stamp-1", NOW, HOUR)
        assert second.get(token, stamp, NOW) is not None
        second.end(token)
        assert first.get(token, stamp, NOW) is None
    finally:
        first.close()
        second.close()


def test_sessions_on_postgresql() -> None:
    dsn = os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
    schema = f"inbox_sessions_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            store = SessionStore.postgres(dsn, schema)
            try:
                token, _ = store.create("maja", "stamp-1", NOW, HOUR)
                assert store.get(token, stamp, NOW) is not None
                store.set_flash(token, "Sent.")
                assert store.pop_flash(token) == "Sent."
                store.end(token)
                assert store.get(token, stamp, NOW) is None
            finally:
                store.close()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
