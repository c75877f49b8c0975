"""The inbox's Rasa client: conversation ids reach the conversation they name, every
answer is checked to be about that conversation, and the API token travels only in a
signed bearer header (never in a URL or a log line).

The route behaviour is Rasa's own: one test asks Rasa's real HTTP app (in the Rasa
environment) what it makes of the paths and headers this client sends; the others use
the stand-in, whose routes are declared the same way on the same router.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from bot.inbox.rasa_api import (
    RasaClient,
    RasaUnavailableError,
    UnroutableConversationError,
    bearer_headers,
    conversation_path,
)
from tests.bot.inbox.conftest import TOKEN, RunningInbox, StandInRasa, csrf_of, login, sl_draft
from tests.conftest import ROOT

TELEGRAM = "telegram:7001"
WHATSAPP = "whatsapp:38640000001"


@pytest.mark.parametrize("conversation", [TELEGRAM, WHATSAPP, "web-0f3a9c", "a@b.c+d~e"])
async def test_channel_ids_reach_the_conversation_they_name(
    rasa: StandInRasa, conversation: str
) -> None:
    client = RasaClient(rasa.url, TOKEN)
    try:
        await client.pause(conversation)
        await client.send_agent_message(conversation, "Dober dan", {"speaker": "agent"})
        await client.resume(conversation)
        await client.ask_csat(conversation)
    finally:
        await client.aclose()
    # The stand-in's route hands over the raw path segment, as Rasa's does: a quoted
    # id (whatsapp%3A…) would have landed in a phantom tracker.
    assert {cid for _, cid, _, _ in rasa.calls} == {conversation}
    assert [e["event"] for e in rasa.trackers[conversation]] == [
        "pause",
        "bot",
        "resume",
        "user",
    ]


@pytest.mark.parametrize(
    "conversation",
    ["a/b", "a?b", "a#b", "a%3Ab", "with space", "čšž", "", ".", "..", "x" * 300],
)
async def test_ids_the_route_would_change_are_refused_before_any_call(
    rasa: StandInRasa, conversation: str
) -> None:
    client = RasaClient(rasa.url, TOKEN)
    try:
        with pytest.raises(UnroutableConversationError, match="cannot be sent to Rasa"):
            await client.pause(conversation)
        with pytest.raises(UnroutableConversationError):
            await client.events(conversation)
    finally:
        await client.aclose()
    assert rasa.calls == []


async def test_an_answer_about_another_conversation_is_an_error(rasa: StandInRasa) -> None:
    rasa.answer_for = "whatsapp%3A38640000001"  # what the quoting client got back
    client = RasaClient(rasa.url, TOKEN)
    try:
        for call in (
            client.pause(WHATSAPP),
            client.send_agent_message(WHATSAPP, "hi", {}),
            client.ask_csat(WHATSAPP),
            client.events(WHATSAPP),
        ):
            with pytest.raises(RasaUnavailableError, match="answered for conversation"):
                await call
    finally:
        await client.aclose()


async def test_a_reply_rasa_applied_elsewhere_is_not_shown_as_sent(
    inbox: RunningInbox,
) -> None:
    ticket = inbox.store.create(sl_draft(WHATSAPP, channel="whatsapp"))
    inbox.rasa.answer_for = "whatsapp%3A38640000001"
    async with inbox.client() as c:
        await login(c, "maja")
        token = await csrf_of(c, f"/tickets/{ticket.ref}")
        resp = await c.post(
            f"/tickets/{ticket.ref}/reply", data={"csrf": token, "text": "Pozdravljeni"}
        )
    assert resp.status_code == 503
    assert "Not sent" in resp.text and "Sent." not in resp.text
    stored = inbox.store.get(ticket.number)
    assert stored is not None and stored.assignee is None
    assert all(t.speaker != "agent" for t in stored.transcript)


async def test_the_token_travels_only_as_a_signed_bearer_header(
    rasa: StandInRasa, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = RasaClient(rasa.url, TOKEN)
    try:
        await client.pause(TELEGRAM)
        await client.events(TELEGRAM)
    finally:
        await client.aclose()
    for _, _, args, _ in rasa.calls:
        assert "token" not in args and TOKEN not in json.dumps(args)
    for header in rasa.auth:
        scheme, _, signed = header.partition(" ")
        assert scheme == "Bearer" and TOKEN not in signed
        claims = jwt.decode(signed, TOKEN, algorithms=["HS256"])
        assert claims["user"] == {"username": "inbox", "role": "admin"}
        assert 0 < claims["exp"] - time.time() <= 300
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in repr(client)


async def test_a_wrong_token_is_refused_by_rasa(rasa: StandInRasa) -> None:
    client = RasaClient(rasa.url, "not-the-token-" + "x" * 32)
    try:
        with pytest.raises(RasaUnavailableError, match="401"):
            await client.pause(TELEGRAM)
    finally:
        await client.aclose()


def test_rasas_own_routes_read_the_ids_and_accept_the_header_as_sent() -> None:
    """Rasa 3.6's real app (rasa.server.create_app, Sanic 21.12) in the Rasa env."""
    rasa_python = ROOT / ".venv-rasa" / "bin" / "python"
    ids = [TELEGRAM, WHATSAPP, "web-0f3a9c", "a@b.c+d~e"]
    paths = [["POST", conversation_path(cid, "tracker/events")] for cid in ids]
    paths += [["POST", conversation_path(WHATSAPP, "trigger_intent")]]
    paths += [["POST", "/conversations/whatsapp%3A38640000001/tracker/events"]]
    tracker = conversation_path(WHATSAPP, "tracker")
    spec = {
        "secret": TOKEN,
        "paths": paths,
        "requests": [
            ["GET", tracker, bearer_headers(TOKEN)],
            ["GET", tracker, bearer_headers("another-secret-" + "y" * 32)],
            ["GET", tracker, {}],
            # `bot reload` signs the same way for /status and PUT /model.
            ["GET", "/status", bearer_headers(TOKEN, user="reload")],
            ["GET", "/status", {}],
        ],
    }
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(rasa_python), str(Path(__file__).with_name("rasa_route_probe.py"))],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("PROBE ")), None)
    assert line is not None, done.stderr[-2000:]
    result = json.loads(line.removeprefix("PROBE "))
    got = [p["conversation_id"] for p in result["params"]]
    assert got == [*ids, WHATSAPP, "whatsapp%3A38640000001"], sys.version
    # 409 "no agent loaded": past Rasa's authentication; 401: refused.
    assert result["statuses"] == [409, 401, 401, 409, 401]
