"""``python -m bot inbox``: hash-password reads the password from stdin, never argv;
``serve`` keeps the ticket database private to its owner."""

from __future__ import annotations

import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from bot.inbox.auth import verify_password
from bot.inbox.cli import private_database
from bot.inbox.sessions import SessionStore
from bot.tickets.store import SQLiteTicketStore
from tests.bot.inbox.conftest import sl_draft
from tests.conftest import ROOT, write_settings


def run(
    *args: str, stdin: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    options = ["--config", str(config)] if config else []
    return subprocess.run(
        [sys.executable, "-m", "bot", *options, "inbox", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_hash_password_prints_a_hash_that_verifies() -> None:
    done = run("hash-password", stdin="a-long-password\n")
    assert done.returncode == 0, done.stderr
    stored = done.stdout.strip()
    assert verify_password("a-long-password", stored)
    assert "a-long-password" not in done.stdout


def test_a_short_password_is_refused() -> None:
    done = run("hash-password", stdin="short\n")
    assert done.returncode == 2
    assert "at least 10 characters" in done.stderr


def test_the_ticket_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "tickets.sqlite3"
    store = SQLiteTicketStore(path)
    try:
        store.create(sl_draft())  # writes the WAL file too
        for file in tmp_path.iterdir():
            file.chmod(0o644)  # as the action server's umask 022 leaves them
        private_database(store)
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir()}
    finally:
        store.close()
    assert modes and set(modes.values()) == {0o600}, modes


def test_revoke_sessions_logs_an_agent_out_everywhere(tmp_path: Path) -> None:
    settings = write_settings(tmp_path)
    db = yaml.safe_load(settings.read_text())["tickets"]["database"]
    sessions = SessionStore.sqlite(db)
    now = datetime.now(timezone.utc)
    try:
        token, _ = sessions.create("maja", "s", now, timedelta(hours=1))
        kept, _ = sessions.create("sam", "s", now, timedelta(hours=1))
        done = run("revoke-sessions", "maja", stdin="", config=settings)
        assert done.returncode == 0, done.stderr
        assert "maja: 1 session(s) ended" in done.stdout
        assert sessions.get(token, lambda _: "s", now) is None
        assert sessions.get(kept, lambda _: "s", now) is not None
    finally:
        sessions.close()
