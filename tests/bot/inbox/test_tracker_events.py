"""Reading new events from Rasa's SQL tracker store: what Rasa wrote, once, only for the
conversations asked about, and only what came after the previous poll."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.inbox.rasa_api import RasaClient
from bot.inbox.service import Inbox
from bot.inbox.tracker_events import TrackerEvents, TrackerEventsError, trailing_watermark
from bot.tickets.store import SQLiteTicketStore
from tests.bot.inbox.conftest import TOKEN, StandInRasa, sl_draft
from tests.bot.tickets.conftest import DEFAULT_PG_DSN, PG_DSN_ENV
from tests.conftest import ROOT

#: Rasa 3.6's ``events`` table as SQLTrackerStore creates it on SQLite (checked against
#: Rasa itself in test_the_reader_reads_what_rasas_own_tracker_store_wrote).
RASA_EVENTS_DDL = (
    "CREATE TABLE events (id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
    "action_name VARCHAR(255), data TEXT, PRIMARY KEY (id))",
    "CREATE INDEX ix_events_sender_id ON events (sender_id)",
)


def user(text: str, ts: float | None = None, message_id: str = "") -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": ts or time.time(),
        "message_id": message_id or f"m-{text}",
        "input_channel": "telegram",
        "parse_data": {"intent": {"name": "inform", "confidence": 0.9}},
    }


class TrackerDB:
    """A tracker store file written the way Rasa writes it (one row per event)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None)
        for statement in RASA_EVENTS_DDL:
            self._conn.execute(statement)

    def save(self, sender: str, *events: dict[str, Any]) -> None:
        self._conn.executemany(
            "INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (?, ?, ?, ?)",
            [(sender, e["event"], e.get("timestamp"), json.dumps(e)) for e in events],
        )

    def close(self) -> None:
        self._conn.close()


@pytest.fixture()
def tracker_db(tmp_path: Path) -> Iterator[TrackerDB]:
    db = TrackerDB(tmp_path / "tracker.sqlite3")
    yield db
    db.close()


def texts(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    return {k: [e.get("text") for e in v] for k, v in found.items()}


def test_a_poll_returns_only_new_events_of_the_conversations_asked_for(
    tracker_db: TrackerDB,
) -> None:
    tracker_db.save("telegram:1", user("old"))
    reader = TrackerEvents.sqlite(tracker_db.path)
    try:
        assert reader.poll(["telegram:1", "whatsapp:2"]) == {}  # sets the watermark
        tracker_db.save("telegram:1", user("new one"))
        tracker_db.save("web-3", user("not a ticket"))
        tracker_db.save("whatsapp:2", user("hello"), user("again"))
        assert texts(reader.poll(["telegram:1", "whatsapp:2"])) == {
            "telegram:1": ["new one"],
            "whatsapp:2": ["hello", "again"],
        }
        assert reader.poll(["telegram:1", "whatsapp:2"]) == {}  # nothing twice
    finally:
        reader.close()


def test_one_conversations_events_since_a_moment(tracker_db: TrackerDB) -> None:
    tracker_db.save("telegram:1", user("a", 100.0), user("b", 200.0), user("c", 300.0))
    tracker_db.save("telegram:9", user("other", 250.0))
    reader = TrackerEvents.sqlite(tracker_db.path)
    try:
        assert [e["text"] for e in reader.events_after("telegram:1", 200.0)] == ["b", "c"]
        assert len(reader.events_after("telegram:1", None)) == 3
    finally:
        reader.close()


def test_the_reader_never_writes_and_names_a_missing_store(tmp_path: Path) -> None:
    reader = TrackerEvents.sqlite(tmp_path / "absent.sqlite3")
    with pytest.raises(TrackerEventsError, match=r"absent\.sqlite3"):
        reader.poll(["x"])
    assert not (tmp_path / "absent.sqlite3").exists()


def test_endpoints_yml_decides_where_the_events_are(tmp_path: Path) -> None:
    sqlite_file = tmp_path / "endpoints.yml"
    sqlite_file.write_text(
        "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: ${TRACKER_DB}\n"
    )
    reader = TrackerEvents.from_endpoints(sqlite_file, {"TRACKER_DB": "/srv/t.sqlite3"})
    assert reader is not None and reader.where == "/srv/t.sqlite3"
    redis = tmp_path / "redis.yml"
    redis.write_text("tracker_store:\n  type: redis\n  url: localhost\n")
    assert TrackerEvents.from_endpoints(redis, {}) is None
    pg = tmp_path / "pg.yml"
    pg.write_text(
        "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n"
        "  db: rasa\n  username: ${DB_USER}\n"
    )
    reader = TrackerEvents.from_endpoints(pg, {"DB_USER": "postgres"})
    assert reader is not None and reader.where == "PostgreSQL tracker store"


async def test_a_poll_syncs_only_the_tickets_with_new_messages(
    tmp_path: Path, tracker_db: TrackerDB, rasa: StandInRasa
) -> None:
    store = SQLiteTicketStore(tmp_path / "tickets.sqlite3")
    reader = TrackerEvents.sqlite(tracker_db.path)
    client = RasaClient(rasa.url, TOKEN)
    inbox = Inbox(
        store, client, clock=lambda: datetime.now(timezone.utc), tracker_events=reader
    )
    try:
        quiet = [store.create(sl_draft(f"telegram:{i}")) for i in range(10)]
        busy = store.create(sl_draft("whatsapp:38640000001"))
        assert await inbox.sync_open() == 0  # the first poll reads each once
        tracker_db.save("whatsapp:38640000001", user("Ali ste tam?"))
        assert await inbox.sync_open() == 1
        assert await inbox.sync_open() == 0
        stored = store.get(busy.number)
        assert stored is not None and stored.transcript[-1].text == "Ali ste tam?"
        assert all(len(store.get(t.number).transcript) == 3 for t in quiet)  # type: ignore[union-attr]
        assert rasa.calls == []  # no tracker was read over HTTP
    finally:
        await client.aclose()
        reader.close()
        store.close()


def test_the_reader_reads_what_rasas_own_tracker_store_wrote(tmp_path: Path) -> None:
    db = tmp_path / "rasa-tracker.sqlite3"
    writer = subprocess.Popen(
        [str(ROOT / ".venv-rasa" / "bin" / "python"),
         str(Path(__file__).with_name("rasa_tracker_writer.py")), str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)},
    )
    assert writer.stdin is not None and writer.stdout is not None

    def save(sender: str, *events: dict[str, Any]) -> None:
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.write(json.dumps({"sender": sender, "events": list(events)}) + "\n")
        writer.stdin.flush()
        assert writer.stdout.readline().startswith("saved")

    try:
        assert writer.stdout.readline().strip() == "ready"
        save("whatsapp:38640000001", user("Dober dan"))
        reader = TrackerEvents.sqlite(db)
        try:
            assert reader.poll(["whatsapp:38640000001"]) == {}
            save("whatsapp:38640000001", {"event": "pause"}, user("Ali ste tam?"))
            found = reader.poll(["whatsapp:38640000001"])
            events = found["whatsapp:38640000001"]
            assert [e["event"] for e in events] == ["pause", "user"]
            assert events[1]["text"] == "Ali ste tam?"
            assert events[1]["message_id"] == "m-Ali ste tam?"
        finally:
            reader.close()
        with sqlite3.connect(db) as conn:
            (ddl,) = conn.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()
        assert "".join(ddl.split()) == "".join(RASA_EVENTS_DDL[0].split())
    finally:
        writer.stdin.close()
        writer.wait(timeout=60)


def test_a_postgresql_tracker_store_is_read_the_same_way() -> None:
    dsn = os.environ.get(PG_DSN_ENV, DEFAULT_PG_DSN)
    schema = f"inbox_tracker_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        admin.execute(f'SET search_path TO "{schema}"')
        # Rasa's model on PostgreSQL: a sequence-backed integer id.
        admin.execute(
            "CREATE TABLE events (id SERIAL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
            "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
            "action_name VARCHAR(255), data TEXT)"
        )

        def save(sender: str, event: dict[str, Any]) -> None:
            admin.execute(
                "INSERT INTO events (sender_id, type_name, timestamp, data) "
                "VALUES (%s, %s, %s, %s)",
                (sender, event["event"], event["timestamp"], json.dumps(event)),
            )

        try:
            save("whatsapp:1", user("old"))
            reader = TrackerEvents.postgres(dsn, schema)
            try:
                assert reader.poll(["whatsapp:1"]) == {}
                save("whatsapp:1", user("new"))
                assert texts(reader.poll(["whatsapp:1"])) == {"whatsapp:1": ["new"]}
                assert [e["text"] for e in reader.events_after("whatsapp:1", None)] == [
                    "old",
                    "new",
                ]
            finally:
                reader.close()
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_on_postgresql_the_watermark_trails_so_late_commits_are_not_missed() -> None:
    heads: deque[tuple[float, int]] = deque()
    assert trailing_watermark(heads, 0.0, 5.0) is None  # before the first poll
    heads.append((0.0, 10))
    heads.append((2.0, 12))
    # 4 s after the second poll the rows above id 10 are read again: a transaction that
    # took id 11 before id 12 was read but committed later is not missed.
    assert trailing_watermark(heads, 6.0, 5.0) == 10
    heads.append((6.0, 15))
    assert trailing_watermark(heads, 7.0, 5.0) == 12
    assert trailing_watermark(heads, 11.0, 5.0) == 15
    assert len(heads) == 1
    # SQLite (no lag): always the previous poll's head.
    assert trailing_watermark(deque([(0.0, 3), (1.0, 4)]), 1.0, 0.0) == 4
