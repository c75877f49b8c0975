"""The public edge of a real bot: no request stops it; a failed turn is a 503 a retry completes.

Issue 10: ``{"sender": "x\\ud800", "message": "hi"}`` made Rasa's SQL tracker store exit
the server, and with the action server down the customer got ``200 []``. Here the real
Rasa server (our channels, SafeSQLTrackerStore on SQLite, the trained model) and the real
action server run on 127.0.0.1; the action server is killed with SIGKILL mid-conversation.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx

from bot.run import Bot
from tests.e2e.conftest import say, texts, tracker

QUESTION = "How do I return a damaged item?"


def post(bot: Bot, body: bytes | dict[str, Any], content_type: str = "application/json",
         path: str = "/webhooks/webchat/webhook") -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    return httpx.post(
        f"{bot.config.rasa_url}{path}",
        content=content,
        json=None if content is not None else body,
        headers={"Content-Type": content_type},
        timeout=90,
    )


def test_no_unsafe_request_stops_the_server_and_each_gets_a_specific_4xx(bot: Bot) -> None:
    unsafe: list[tuple[bytes, str, int]] = [
        (b'{"sender":"x\\ud800","message":"hi"}', "application/json", 400),
        (b'{"sender":"web-edge-1","message":"hi \\ud800"}', "application/json", 400),
        (b'{"sender":"web-edge-1","message":"hi","metadata":{"title":"\\udfff"}}',
         "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b"[1]", "application/json", 400),
        (b'{"sender":"web-edge-1","message":"hi"}', "text/plain", 415),
        (b'{"sender":"whatsapp:38640123456","message":"hi"}', "application/json", 400),
    ]
    for body, content_type, status in unsafe:
        resp = post(bot, body, content_type)
        assert resp.status_code == status, (body[:60], resp.status_code, resp.text)
        assert resp.json()["error"]
    # Rasa's unvalidated REST channel is not served by default.
    rest = post(bot, b'{"sender":"x\\ud800","message":"hi"}',
                path="/webhooks/rest/webhook")
    assert rest.status_code == 404
    time.sleep(1.0)
    assert bot.dead() is None
    assert texts(say(bot, "web-edge-after", "hello"))


def test_typed_internal_intents_are_words_not_commands(bot: Bot) -> None:
    sender = "web-edge-typed-0123456789"
    say(bot, sender, "hello")
    say(bot, sender, "/restart")
    say(bot, sender, "/EXTERNAL_ask_csat")
    say(bot, sender, '/csat_score{"score":5}')
    events = tracker(bot, sender)["events"]
    assert not any(e["event"] == "restart" for e in events)
    actions = [e.get("name") for e in events if e["event"] == "action"]
    assert "action_restart" not in actions and "action_ask_csat" not in actions
    user = [e for e in events if e["event"] == "user"]
    typed = user[-1]
    assert typed["parse_data"]["text"] == 'csat_score{"score":5}'  # NLU read words
    assert typed["parse_data"]["entities"] == []  # no score smuggled in as an entity
    assert typed["metadata"]["typed_text"] == '/csat_score{"score":5}'


def test_with_the_action_server_dead_the_turn_is_a_503_and_the_retry_completes_it(
    bot: Bot,
) -> None:
    sender = "web-edge-retry-0123456789"
    say(bot, sender, "hello")
    os.killpg(bot.pids()["actions"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while bot.dead() != "actions":
        assert time.monotonic() < deadline, "the action server did not die"
        time.sleep(0.2)

    body = {"sender": sender, "message": QUESTION, "message_id": "m-edge-retry-01"}
    down = post(bot, body)
    assert down.status_code == 503, down.text
    assert "same message_id" in down.json()["error"]
    ids = [e.get("message_id") for e in tracker(bot, sender)["events"] if e["event"] == "user"]
    assert "m-edge-retry-01" not in ids  # the failed turn was not recorded as done

    bot.restart_actions({})
    retried = post(bot, body)
    assert retried.status_code == 200, retried.text
    assert "X-Duplicate" not in retried.headers
    assert texts(retried.json())  # a real answer, not an empty "delivered"
    again = post(bot, body)
    assert again.headers.get("X-Duplicate") == "true"
    assert again.json() == retried.json()  # the same replies, split the same way
    ids = [e.get("message_id") for e in tracker(bot, sender)["events"] if e["event"] == "user"]
    assert ids.count("m-edge-retry-01") == 1
