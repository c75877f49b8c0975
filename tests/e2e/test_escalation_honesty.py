"""An escalation while the ticket store fails promises nothing, and completes afterwards.

The real bot (Rasa server + authenticated action server). Another process holds the
ticket database's write lock, so the action server's ticket write fails after SQLite's
busy timeout, exactly as a locked, full or unwritable database fails. The customer's
complaint then gets no apology, no "passing you to our team" and no ticket number: the
action fails the turn (with the channel's 503 for failed turns, the web chat retries).
Once the database is free, the customer's next attempt gets one ticket and one
acknowledgement. (The action-level tests cover the retry with the same message id;
this test sends no message id so that it holds with and without the channel's
once-only handling of failed turns.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.run import Bot
from bot.tickets.store import SQLiteTicketStore
from tests.e2e.conftest import TICKET_REF, start_bot, texts, tracker

SENDER = "web-complaint-1"
COMPLAINT = "this is unacceptable"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with start_bot(tmp_path_factory.mktemp("honest")) as bot:
        yield bot


def tickets_db(bot: Bot) -> Path:
    assert bot.config.settings_file is not None
    data = yaml.safe_load(bot.config.settings_file.read_text(encoding="utf-8"))
    return Path(data["tickets"]["database"])


def send(bot: Bot, text: str) -> list[dict[str, Any]]:
    """One web chat message; a failed turn may answer 503 (nothing to show) or 200."""
    resp = httpx.post(
        f"{bot.config.rasa_url}/webhooks/webchat/webhook",
        json={"sender": SENDER, "message": text}, timeout=120,
    )
    assert resp.status_code in (200, 503), resp.text
    return list(resp.json()) if resp.status_code == 200 else []


def bot_texts(bot: Bot) -> list[str]:
    return [e.get("text") or "" for e in tracker(bot, SENDER)["events"]
            if e["event"] == "bot"]


def test_a_complaint_during_a_store_failure_promises_nothing_then_completes(
    running: Bot, domain_texts: dict[str, dict[str, str]]
) -> None:
    apology = domain_texts["utter_complaint_sorry"]["en"]
    passed_on = domain_texts["utter_ticket_created"]["en"].split("{")[0]
    db = tickets_db(running)
    store = SQLiteTicketStore(db)  # creates the schema the action server will write
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        failed = texts(send(running, COMPLAINT))
        holder.execute("ROLLBACK")
        said = bot_texts(running)
        for text in failed + said:
            assert apology not in text and not text.startswith(passed_on[:30]), text
            assert not TICKET_REF.search(text), text
        assert store.list(conversation_id=SENDER) == []

        # The database is free again; the customer tries again.
        again = texts(send(running, COMPLAINT))
        [ticket] = store.list(conversation_id=SENDER)
        assert ticket.reason == "complaint"
        assert again[0] == apology  # once the ticket exists, never before
        refs = [m.group(0) for t in again for m in TICKET_REF.finditer(t)]
        assert refs == [ticket.ref]
        told = [t for t in bot_texts(running) if TICKET_REF.search(t)]
        assert len(told) == 1 and ticket.ref in told[0]  # one acknowledgement in all
        assert len(store.list(limit=None)) == 1
    finally:
        holder.close()
        store.close()
