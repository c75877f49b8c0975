"""SafeSQLTrackerStore: a store error fails one request, never the server; failed turns unsaved.

Real SQLite files and the real PostgreSQL at 127.0.0.1:5432 (database ``test``, a schema
of its own per run), through Rasa's own ``FailSafeTrackerStore`` wrapper as the Agent
builds it, and Rasa's real processor logger. Runs in the Rasa environment.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import (
    ACTION_FAILED_LOG,
    PROCESSOR_LOGGER,
    SafeSQLTrackerStore,
    TrackerStoreError,
    TurnFailed,
    run_turn,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.rasa_env

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def sqlite_store(tmp_path: Path) -> SafeSQLTrackerStore:
    return SafeSQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "t.sqlite3"))


def tracker(sender: str, text: str = "hi") -> DialogueStateTracker:
    t = DialogueStateTracker(sender, DOMAIN.slots)
    t.update(UserUttered(text, message_id="m-1"))
    return t


def test_rasas_own_store_exits_the_process_on_an_unencodable_sender(tmp_path: Path) -> None:
    """Why the safe store exists (issue 10 item 1): this is today's behaviour."""
    store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "r.sqlite3"))
    with pytest.raises(SystemExit):
        asyncio.run(store.save(tracker("x\ud800")))


async def test_an_unencodable_sender_is_an_error_for_the_request_not_an_exit(
    tmp_path: Path,
) -> None:
    store = sqlite_store(tmp_path)
    with pytest.raises(TrackerStoreError, match="saving the conversation failed"):
        await store.save(tracker("x\ud800"))
    await store.save(tracker("web-ok"))  # the store keeps serving
    assert (await store.retrieve("web-ok")) is not None


async def test_inside_a_turn_a_store_error_reaches_the_channel_past_rasas_fail_safe(
    tmp_path: Path,
) -> None:
    fail_safe = FailSafeTrackerStore(sqlite_store(tmp_path))  # as rasa.core.agent wraps it

    async def turn(sender: str) -> None:
        await fail_safe.save(tracker(sender))

    with pytest.raises(TurnFailed, match="saving the conversation failed"):
        await run_turn(turn, "x\ud800")
    await run_turn(turn, "web-ok")
    assert (await fail_safe.retrieve("web-ok")) is not None


async def test_a_turn_whose_action_failed_is_not_saved_and_its_retry_is(
    tmp_path: Path,
) -> None:
    store = FailSafeTrackerStore(sqlite_store(tmp_path))
    action_server_down = True

    async def turn(sender: str) -> None:
        # What MessageProcessor._run_action does when the action server is down.
        if action_server_down:
            try:
                raise ConnectionError("action server unreachable")
            except ConnectionError:
                logging.getLogger(PROCESSOR_LOGGER).exception(
                    f"{ACTION_FAILED_LOG} 'action_escalate'."
                )
        await store.save(tracker(sender))

    with pytest.raises(TurnFailed, match="an action failed"):
        await run_turn(turn, "web-retry")
    assert await store.retrieve("web-retry") is None  # nothing of the turn stored
    action_server_down = False
    await run_turn(turn, "web-retry")
    saved = await store.retrieve("web-retry")
    assert saved is not None and saved.latest_message.message_id == "m-1"


async def test_outside_a_turn_the_log_line_changes_nothing(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    logging.getLogger(PROCESSOR_LOGGER).error(f"{ACTION_FAILED_LOG} 'x'.")
    await store.save(tracker("web-api"))
    assert await store.retrieve("web-api") is not None


# ------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_schema() -> Iterator[str]:
    engine = sa.create_engine(PG_URL)
    name = "ts_" + uuid.uuid4().hex[:12]
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    except sa.exc.OperationalError as error:  # pragma: no cover - CI has PostgreSQL
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required: {error}")
    yield name
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
    engine.dispose()


def pg_store() -> SafeSQLTrackerStore:
    return SafeSQLTrackerStore(
        DOMAIN, dialect="postgresql", host="127.0.0.1", port=5432, db="test",
        username="postgres",
    )


async def test_postgresql_round_trip_in_its_own_schema(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTGRESQL_SCHEMA", pg_schema)
    store = pg_store()  # Rasa sets the search_path from POSTGRESQL_SCHEMA here
    await store.save(tracker("web-pg", "dober dan"))
    loaded = await store.retrieve("web-pg")
    assert loaded is not None and loaded.latest_message.text == "dober dan"
    with pytest.raises(TrackerStoreError):
        await store.save(tracker("x\ud800"))
    assert await store.retrieve("web-pg") is not None  # still serving


async def test_a_missing_postgresql_schema_is_a_request_error_not_an_exit(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTGRESQL_SCHEMA", pg_schema)
    store = pg_store()
    monkeypatch.setenv("POSTGRESQL_SCHEMA", pg_schema + "_missing")
    with pytest.raises(TrackerStoreError, match="does not exist"):
        await store.retrieve("web-pg")
    with pytest.raises(TurnFailed, match="does not exist"):
        await run_turn(FailSafeTrackerStore(store).retrieve, "web-pg")
