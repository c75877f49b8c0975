"""Crash safety: the action server dies between the ticket commit and the reply.

``SUPPORTBOT_FAULT=after_ticket_commit`` makes action_escalate SIGKILL its own process
right after the store committed the ticket, before the customer hears its number. Rasa
logs the failed action and carries on (it does not retry); the customer, who got no
answer, asks again. After the supervisor restarts the action server the ticket exists
once, holds both requests, and the customer is told its number once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

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

    # The action server commits the ticket and dies before answering.
    crashed = texts(say(faulty_bot, SENDER, ASK))
    assert not any(TICKET_REF.search(r) for r in crashed), crashed
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

        # Back up (without the fault); the customer, still waiting, asks again.
        faulty_bot.restart_actions({"SUPPORTBOT_FAULT": ""})
        again = texts(say(faulty_bot, SENDER, ASK))
        refs = [m.group(0) for r in crashed + again for m in TICKET_REF.finditer(r)]
        assert refs == [ticket.ref], again  # told once, the number that was stored

        [same] = store.list(conversation_id=SENDER)
        assert same.number == ticket.number
        customer = [t.text for t in same.transcript if t.speaker == "customer"]
        assert customer == ["hello", ASK, ASK]  # the retry added to it, nothing twice
        kinds = [e.kind for e in store.events(same.number)]
        assert kinds == ["created", "customer_message"]
        assert len(store.list(limit=None)) == 1
    finally:
        store.close()
