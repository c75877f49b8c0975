"""Faults: kill -9 and SIGSTOP of each part of a running bot, in the middle of a conversation.

One bot for the whole module (a start costs 30-90 s); the faults run one after the other
and each waits until the supervisor has the part back. The customer's client behaves like
the web chat page: it sends each message with a ``message_id`` and, on a 503 or when the
server cannot be reached, sends the same message again with the same id. The checks read
the conversation's tracker from the Rasa server: every message is there once and answered,
none twice. Health checks run every second with a 5 s timeout here (``make run``: 2 s
and 10 s) so a hung part is noticed within ~18 s; this module sends no load that would
keep a working server from answering that long.
"""

from __future__ import annotations

import os
import signal
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.rasa_server import admin_jwt
from bot.run import Bot
from bot.tickets.store import SQLiteTicketStore
from tests.e2e.conftest import TICKET_REF, start_bot, texts, tracker

#: How long a client keeps retrying one message: a Rasa restart takes 30-90 s on 2 cores.
PATIENCE = 300.0


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    running = start_bot(tmp_path_factory.mktemp("faults"))
    running.config.health_interval = 1.0
    running.config.health_timeout = 5.0
    with running:
        yield running


def send(bot: Bot, sender: str, text: str, message_id: str | None = None) -> list[dict[str, Any]]:
    """One customer message, retried with the same id on a 503 or a connection error."""
    body = {"sender": sender, "message": text, "message_id": message_id or uuid.uuid4().hex}
    deadline = time.monotonic() + PATIENCE
    while True:
        assert time.monotonic() < deadline, f"no answer to {text!r} within {PATIENCE:.0f} s"
        try:
            resp = httpx.post(
                f"{bot.config.rasa_url}/webhooks/webchat/webhook", json=body, timeout=30
            )
        except httpx.TransportError:
            time.sleep(1)
            continue
        if resp.status_code == 503:
            time.sleep(1)
            continue
        assert resp.status_code == 200, resp.text
        return list(resp.json())


def wait_for_death(bot: Bot, part: str, before: int) -> None:
    """Until the supervisor has recorded one more death of ``part`` than ``before``."""
    deadline = time.monotonic() + 60
    while sum(d.part == part for d in bot.deaths()) <= before:
        assert time.monotonic() < deadline, f"the supervisor did not notice {part} going"
        time.sleep(0.2)


def deaths_of(bot: Bot, part: str) -> int:
    return sum(d.part == part for d in bot.deaths())


def assert_once_and_answered(bot: Bot, sender: str, message_ids: list[str]) -> None:
    """Each message id is in the conversation exactly once and followed by a reply."""
    events = tracker(bot, sender)["events"]
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    seen = [events[i].get("message_id") for i in users]
    for mid in message_ids:
        assert seen.count(mid) == 1, (mid, seen)
    for n, i in enumerate(users):
        end = users[n + 1] if n + 1 < len(users) else len(events)
        if events[i].get("message_id") in message_ids:
            replies = [e for e in events[i:end] if e["event"] == "bot"]
            assert replies, f"message {events[i].get('text')!r} was never answered"


def fault(bot: Bot, part: str, sig: signal.Signals) -> int:
    """Send ``sig`` to ``part``'s process group; the old pid."""
    pid = bot.pids()[part]
    os.killpg(pid, sig)
    return pid


# --- secrets and files --------------------------------------------------------------------


def test_the_rasa_token_is_on_no_command_line(bot: Bot) -> None:
    token = bot.config.rasa_token.encode()
    for part, pid in bot.pids().items():
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert token not in cmdline, part
    # The Rasa server is started through the launcher that reads it from the environment.
    assert b"bot.rasa_server" in Path(f"/proc/{bot.pids()['rasa']}/cmdline").read_bytes()


def test_the_api_takes_a_jwt_in_a_header_and_refuses_anonymous_calls(bot: Bot) -> None:
    url = f"{bot.config.rasa_url}/status"
    bearer = {"Authorization": f"Bearer {admin_jwt(bot.config.rasa_token)}"}
    assert httpx.get(url, headers=bearer, timeout=30).status_code == 200
    assert httpx.get(url, timeout=30).status_code == 401
    forged = {"Authorization": f"Bearer {admin_jwt('not-the-secret-' + 'x' * 32)}"}
    assert httpx.get(url, headers=forged, timeout=30).status_code == 401


def test_the_files_the_bot_writes_are_private(bot: Bot) -> None:
    send(bot, "files-en", "hello")
    log_dir = bot.config.log_dir
    assert stat.S_IMODE(log_dir.stat().st_mode) == 0o700
    for log in log_dir.iterdir():
        assert stat.S_IMODE(log.stat().st_mode) == 0o600, log
    # Written by the Rasa server, a child: private through the umask it inherits.
    assert stat.S_IMODE(bot.config.tracker_db.stat().st_mode) == 0o600


# --- the action server ------------------------------------------------------------------


def test_the_action_server_killed_mid_conversation_comes_back(bot: Bot) -> None:
    sender = "fault-actions-kill"
    ids = [uuid.uuid4().hex for _ in range(3)]
    assert texts(send(bot, sender, "hello", ids[0]))
    before = deaths_of(bot, "actions")
    old = fault(bot, "actions", signal.SIGKILL)
    wait_for_death(bot, "actions", before)
    [death] = [d for d in bot.deaths() if d.part == "actions"][before:]
    assert death.exit_code == -signal.SIGKILL and death.reason == "killed by SIGKILL"
    assert bot.wait_up("actions") != old
    assert texts(send(bot, sender, "how do I reset my password?", ids[1]))
    assert texts(send(bot, sender, "thanks", ids[2]))
    assert_once_and_answered(bot, sender, ids)


def test_a_hung_action_server_is_killed_and_restarted(bot: Bot) -> None:
    sender = "fault-actions-stop"
    ids = [uuid.uuid4().hex for _ in range(2)]
    assert texts(send(bot, sender, "hello", ids[0]))
    before = deaths_of(bot, "actions")
    old = fault(bot, "actions", signal.SIGSTOP)
    wait_for_death(bot, "actions", before)
    death = [d for d in bot.deaths() if d.part == "actions"][-1]
    assert "health check" in death.reason and death.exit_code == -signal.SIGKILL
    assert bot.wait_up("actions") != old
    assert texts(send(bot, sender, "how do I reset my password?", ids[1]))
    assert_once_and_answered(bot, sender, ids)


# --- the Rasa server ----------------------------------------------------------------------


def test_the_rasa_server_killed_mid_conversation_comes_back(bot: Bot) -> None:
    sender = "fault-rasa-kill"
    ids = [uuid.uuid4().hex for _ in range(3)]
    assert texts(send(bot, sender, "hello", ids[0]))
    before = deaths_of(bot, "rasa")
    old = fault(bot, "rasa", signal.SIGKILL)
    # The customer writes while the server is down: the client retries until it is back.
    assert texts(send(bot, sender, "how do I reset my password?", ids[1]))
    assert deaths_of(bot, "rasa") == before + 1
    assert bot.pids()["rasa"] != old
    assert texts(send(bot, sender, "thanks", ids[2]))
    assert_once_and_answered(bot, sender, ids)


def test_a_hung_rasa_server_is_killed_and_restarted(bot: Bot) -> None:
    sender = "fault-rasa-stop"
    ids = [uuid.uuid4().hex for _ in range(2)]
    assert texts(send(bot, sender, "hello", ids[0]))
    before = deaths_of(bot, "rasa")
    fault(bot, "rasa", signal.SIGSTOP)
    assert texts(send(bot, sender, "how do I reset my password?", ids[1]))
    death = [d for d in bot.deaths() if d.part == "rasa"][before]
    assert "health check" in death.reason
    assert_once_and_answered(bot, sender, ids)


# --- the inbox ----------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill", "stop"])
def test_the_inbox_comes_back(bot: Bot, sig: signal.Signals) -> None:
    before = deaths_of(bot, "inbox")
    old = fault(bot, "inbox", sig)
    wait_for_death(bot, "inbox", before)
    assert bot.wait_up("inbox") != old
    login = httpx.get(f"{bot.config.inbox_url}/login", timeout=30)
    assert login.status_code == 200 and "<form" in login.text


# --- what the supervisor leaves behind ------------------------------------------------------


def test_every_restart_is_logged_and_no_log_was_truncated(bot: Bot) -> None:
    journal = (bot.config.log_dir / "supervisor.log").read_text()
    for part in ("actions", "rasa", "inbox"):
        for death in (d for d in bot.deaths() if d.part == part):
            assert f"restart attempt {death.attempt}" in journal
            assert f"exit code {death.exit_code}" in journal
        # The part's log holds the output of every process it ran, the dead ones too.
        log = (bot.config.log_dir / f"{part}.log").read_text()
        assert log.count(f"supervisor: started {part} (pid") == 1 + deaths_of(bot, part)
    assert bot.failure() is None
    assert bot.dead() == "actions"  # the first death; every part is running again
    assert set(bot.pids()) == {"actions", "rasa", "inbox"}


# --- needs H1 (503 on a failed turn) and H4 (escalation completed after an outage) --------


def test_an_escalation_during_an_action_outage_ends_with_one_ticket_and_one_notice(
    bot: Bot,
) -> None:
    sender = "fault-escalation"
    ids = [uuid.uuid4().hex for _ in range(2)]
    assert texts(send(bot, sender, "hello", ids[0]))
    before = deaths_of(bot, "actions")
    fault(bot, "actions", signal.SIGKILL)
    # Sent while the action server is down: the bot must answer 503 until it can keep
    # its promise, then create the ticket and tell its number once.
    replies = texts(send(bot, sender, "I want to talk to a human", ids[1]))
    assert deaths_of(bot, "actions") > before
    refs = {m.group(0) for r in replies for m in TICKET_REF.finditer(r)}
    assert len(refs) == 1, replies
    assert_once_and_answered(bot, sender, ids)
    told = [e["text"] for e in tracker(bot, sender)["events"]
            if e["event"] == "bot" and TICKET_REF.search(e.get("text") or "")]
    assert len(told) == 1, told  # one acknowledgement, no apology or promise before it
    store = _store(bot)
    try:
        [ticket] = store.list(conversation_id=sender)
        assert ticket.ref in refs
    finally:
        store.close()


def _store(bot: Bot) -> SQLiteTicketStore:
    assert bot.config.settings_file is not None
    data = yaml.safe_load(bot.config.settings_file.read_text(encoding="utf-8"))
    return SQLiteTicketStore(Path(data["tickets"]["database"]))
