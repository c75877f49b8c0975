"""open_store() from the tickets: section, and the errors an operator sees."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigError, SupportBotError
from bot.settings import Section
from bot.tickets.store import (
    PostgresTicketStore,
    SQLiteTicketStore,
    TicketStoreCorruptError,
    TicketStoreUnavailableError,
    open_store,
    redact_dsn,
)


def section(folder: Path, **data: Any) -> Section:
    file = folder / "supportbot.yml"
    return Section(name="tickets", data=data, file=file, base_dir=folder)


def test_relative_sqlite_path_is_relative_to_the_settings_file(tmp_path: Path) -> None:
    store = open_store(section(tmp_path, database="var/tickets.sqlite3"))
    try:
        assert isinstance(store, SQLiteTicketStore)
        assert store.path == tmp_path / "var" / "tickets.sqlite3"
        assert store.path.is_file()
    finally:
        store.close()
    mode = sqlite3.connect(tmp_path / "var" / "tickets.sqlite3").execute(
        "PRAGMA journal_mode"
    ).fetchone()[0]
    assert mode == "wal"


def test_environment_variables_are_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETS_DIR", str(tmp_path / "elsewhere"))
    store = open_store(section(tmp_path, database="$TICKETS_DIR/t.sqlite3"))
    store.close()
    assert (tmp_path / "elsewhere" / "t.sqlite3").is_file()


def test_postgres_url_opens_postgres(tmp_path: Path, pg_dsn: str) -> None:
    import psycopg

    schema = "tickets_test_open_store"
    try:
        store = open_store(section(tmp_path, database=pg_dsn, schema=schema))
        assert isinstance(store, PostgresTicketStore)
        assert store.list() == []
        store.close()
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


CONFIG_ERRORS = [
    ({}, "tickets.database", "missing"),
    ({"database": ""}, "tickets.database", "file path or postgresql"),
    ({"database": 5}, "tickets.database", "file path or postgresql"),
    ({"database": "mysql://root@db/tickets"}, "tickets.database", "neither"),
    ({"database": "$NOT_SET_ANYWHERE_42/t.db"}, "tickets.database",
     "environment variable"),
    ({"database": "t.db", "schema": "support"}, "tickets.schema", "PostgreSQL"),
    ({"database": "postgresql://x@127.0.0.1/db", "schema": "Bad-Name"},
     "tickets.schema", "identifier"),
]


@pytest.mark.parametrize(("data", "key", "words"), CONFIG_ERRORS)
def test_config_errors_name_the_key(
    tmp_path: Path, data: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(section(tmp_path, **data))
    assert info.value.key == key
    assert words in info.value.problem
    assert str(tmp_path / "supportbot.yml") in str(info.value)


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 10, b"SQLite format 3\x00" + b"\xff" * 4080],
    ids=["text file", "damaged header"],
)
def test_corrupt_sqlite_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tickets.sqlite3"
    path.write_bytes(content)
    with pytest.raises(TicketStoreCorruptError) as info:
        open_store(section(tmp_path, database="tickets.sqlite3"))
    message = str(info.value)
    assert isinstance(info.value, SupportBotError)
    assert str(path) in message
    assert "fix:" in message and "move the file aside" in message
    assert "\n" not in message


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    SQLiteTicketStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(TicketStoreCorruptError, match="newer"):
        SQLiteTicketStore(path)


def test_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TicketStoreUnavailableError, match="cannot create the folder"):
        SQLiteTicketStore(blocker / "sub" / "t.sqlite3")


def test_unreachable_postgres_names_database_and_fix(tmp_path: Path) -> None:
    url = "postgresql://support:s3cret@127.0.0.1:1/tickets"
    with pytest.raises(TicketStoreUnavailableError) as info:
        open_store(section(tmp_path, database=url))
    message = str(info.value)
    assert "postgresql://support:***@127.0.0.1:1/tickets" in message
    assert "s3cret" not in message
    assert "tickets.database" in message and "start PostgreSQL" in message


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?password=pw&sslmode=require",
         "postgresql://h/db?password=***&sslmode=require"),
    ],
)
def test_redact_dsn(dsn: str, expected: str) -> None:
    assert redact_dsn(dsn) == expected
