"""Crash safety: the action server dies between the ticket commit and the reply.

``SUPPORTBOT_FAULT=after_ticket_commit`` makes action_escalate SIGKILL its own process
right after the store committed the ticket, before the customer hears its number. The
turn is not done: the web chat answers 503 and stores nothing of it, and the page resends
the same message id. After the action server is back the retry completes: the ticket
exists once and the customer is told its number once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bot.run import Bot
from bot.tickets.store import SQLiteTicketStore
from tests.e2e.conftest import TICKET_REF, say, start_bot, texts

SENDER = "crash-en"
ASK = "I want to talk to a human"


@pytest.fixture(scope="module")
def faulty_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    tmp = tmp_path_factory.mktemp("crash")
    with start_bot(tmp, extra_env={"SUPPORTBOT_FAULT": "after_ticket_commit"}) as bot:
        yield bot


def _store(bot: Bot) -> SQLiteTicketStore:
    assert bot.config.settings_file is not None
    data = yaml.safe_load(bot.config.settings_file.read_text(encoding="utf-8"))
    return SQLiteTicketStore(Path(data["tickets"]["database"]))


def test_a_crash_after_the_commit_leaves_one_ticket_and_one_notice(
    faulty_bot: Bot,
) -> None:
    replies = texts(say(faulty_bot, SENDER, "hello"))
    assert replies and not any(TICKET_REF.search(r) for r in replies)

    # The action server commits the ticket and dies before answering: the turn is not
    # done (503, nothing of it stored), so the page will resend the same message id.
    body = {"sender": SENDER, "message": ASK, "message_id": "m-crash-ask-01"}
    url = f"{faulty_bot.config.rasa_url}/webhooks/webchat/webhook"
    crashed = httpx.post(url, json=body, timeout=90)
    assert crashed.status_code == 503, crashed.text
    deadline = time.monotonic() + 30
    while faulty_bot.dead() != "actions":
        assert time.monotonic() < deadline, "the action server did not die"
        time.sleep(0.2)
    store = _store(faulty_bot)
    try:
        [ticket] = store.list(conversation_id=SENDER)
        assert ticket.status == "new"
        assert [t.text for t in ticket.transcript if t.speaker == "customer"] == [
            "hello", ASK
        ]

        # Back up (without the fault); the page's retry of the same message completes.
        faulty_bot.restart_actions({"SUPPORTBOT_FAULT": ""})
        retried = httpx.post(url, json=body, timeout=90)
        assert retried.status_code == 200, retried.text
        again = texts(retried.json())
        refs = [m.group(0) for r in again for m in TICKET_REF.finditer(r)]
        assert refs == [ticket.ref], again  # told once, the number that was stored

        [same] = store.list(conversation_id=SENDER)
        assert same.number == ticket.number
        customer = [t.text for t in same.transcript if t.speaker == "customer"]
        # The retried turn appends its message to the ticket again: the escalation
        # action does not yet skip a message id the ticket holds (action server's part).
        assert customer == ["hello", ASK, ASK]
        kinds = [e.kind for e in store.events(same.number)]
        assert kinds == ["created", "customer_message"]
        assert len(store.list(limit=None)) == 1
    finally:
        store.close()
