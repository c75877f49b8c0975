"""The web chat channel: validated messages in, the conversation and hours status out.

Pure parts (body parsing, history shaping, hours status) are tested directly; the routes
are tested on a real Sanic server on 127.0.0.1 with Rasa's real Agent and SQL tracker
store on SQLite. Only Rasa's message processor (NLU + dialogue, which needs a trained
model and the action server) is stood in for: ``RecordingProcessor`` records each turn
into the tracker store the way Rasa's does (UserUttered with channel, message id and
metadata, then BotUttered). The end-to-end test in tests/e2e/test_webchat_widget.py
drives the same routes through the real processor.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.server import _get_output_channel
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.errors import ConfigError
from bot.hours import BusinessHours
from bot.run import free_port
from bot.settings import load_settings
from bot.tracker_store import ACTION_FAILED_LOG, PROCESSOR_LOGGER, SafeSQLTrackerStore
from connectors.guard import TYPED_TEXT_KEY
from connectors.webchat import (
    HISTORY_MIN_SENDER_CHARS,
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    Inbound,
    WebChatInput,
    WebChatOutput,
    customer_channel,
    history_messages,
    hours_status,
    parse_body,
)
from tests.conftest import ROOT, write_settings

pytestmark = pytest.mark.rasa_env
# Sanic rewrites its HTTP class once per server start unless in test mode, and a second
# rewrite fails (KeyError 'http1_request_header'): each test here starts its own server.
Sanic.test_mode = True
APP = Sanic("webchat_test")
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
HOURS = BusinessHours.from_section(
    load_settings(ROOT / "supportbot.yml").section("business_hours")
)
WEDNESDAY_10 = datetime.fromisoformat("2026-11-25T10:00:00+01:00")  # open 08-18
SUNDAY_10 = datetime.fromisoformat(
    "2026-11-29T10:00:00+01:00"
)  # closed until Mon 08:00
_app_names = itertools.count()


def token() -> str:
    """A sender id as the page makes it: "web-" + 128 random bits in hex."""
    return "web-" + secrets.token_hex(16)


def request(body: bytes, content_type: str = "application/json") -> Request:
    req = Request(
        b"/webhooks/webchat/webhook",
        Header({"content-type": content_type}),
        "1.1",
        "POST",
        None,
        APP,  # type: ignore[arg-type]
    )
    req.body = body
    return req


def as_json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def error_of(result: object) -> tuple[int, str]:
    assert isinstance(result, HTTPResponse), result
    return result.status, json.loads(result.body)["error"]


# ------------------------------------------------------------------- parsing


def test_channel_name_is_stable_because_it_is_part_of_the_webhook_url() -> None:
    assert WebChatInput.name() == "webchat"


def test_a_valid_message_yields_sender_text_and_channel_metadata() -> None:
    body = as_json(
        {
            "sender": "web-1",
            "message": "kje je moj paket?",
            "metadata": {"locale": "sl-SI", "evil": "x" * 50},
        }
    )
    assert parse_body(request(body)) == Inbound(
        "web-1", "kje je moj paket?", {"channel": "webchat", "locale": "sl-SI"}, None
    )


def test_a_message_id_and_a_button_title_are_kept_for_retries_and_the_transcript() -> (
    None
):
    body = as_json(
        {
            "sender": "web-1",
            "message": "/affirm",
            "message_id": "m-0123456789",
            "metadata": {"title": "Da, prosim"},
        }
    )
    parsed = parse_body(request(body))
    assert isinstance(parsed, Inbound)
    assert parsed.message_id == "m-0123456789"
    assert parsed.metadata["title"] == "Da, prosim"


@pytest.mark.parametrize("locale", ["<script>", "en us", "x" * 40, 7])
def test_a_malformed_locale_hint_is_dropped_not_trusted(locale: object) -> None:
    body = as_json({"sender": "web-1", "message": "hi", "metadata": {"locale": locale}})
    result = parse_body(request(body))
    assert isinstance(result, Inbound)
    assert "locale" not in result.metadata


@pytest.mark.parametrize("title", ["", "   ", "x" * 201, 7, ["a"]])
def test_a_malformed_button_title_is_dropped(title: object) -> None:
    body = as_json(
        {"sender": "web-1", "message": "/deny", "metadata": {"title": title}}
    )
    result = parse_body(request(body))
    assert isinstance(result, Inbound)
    assert "title" not in result.metadata


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (as_json({"message": "hi"}), 400, "'sender'"),
        (as_json({"sender": "../etc/passwd", "message": "hi"}), 400, "'sender'"),
        (as_json({"sender": "a", "message": ""}), 400, "'message'"),
        (as_json({"sender": "a", "message": "   "}), 400, "'message'"),
        (as_json({"sender": "a", "message": 42}), 400, "'message'"),
        (as_json({"sender": "a", "message": "hi", "metadata": [1]}), 400, "'metadata'"),
        (
            as_json({"sender": "a", "message": "hi", "message_id": "short"}),
            400,
            "'message_id'",
        ),
        (
            as_json({"sender": "a", "message": "hi", "message_id": 12345678}),
            400,
            "'message_id'",
        ),
        (
            as_json({"sender": "a", "message": "x" * (MAX_MESSAGE_CHARS + 1)}),
            413,
            "longer",
        ),
        (b"x" * 70_000, 413, "larger"),
    ],
)
def test_bad_bodies_get_a_specific_4xx(body: bytes, status: int, reason: str) -> None:
    got_status, got_reason = error_of(parse_body(request(body)))
    assert got_status == status
    assert reason in got_reason


def test_wrong_content_type_is_415() -> None:
    status, reason = error_of(parse_body(request(b"sender=a&message=hi", "text/plain")))
    assert status == 415 and "application/json" in reason


@pytest.mark.parametrize(
    "text",
    [
        "👍",
        "مرحبا، أين طلبي؟",
        "\u202eevil rtl",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ],
)
def test_naughty_but_valid_texts_pass_through_unchanged(text: str) -> None:
    result = parse_body(request(as_json({"sender": "s", "message": text})))
    assert isinstance(result, Inbound)
    assert result.text == text


def test_a_nul_character_is_refused_before_any_store_sees_it() -> None:
    # PostgreSQL text columns cannot hold NUL: refused at the edge, not a 500 at save.
    status, reason = error_of(parse_body(request(as_json({"sender": "s", "message": "a\x00b"}))))
    assert status == 400 and "NUL" in reason


# ------------------------------------------------------------------- history (pure)


def test_history_shows_both_sides_in_order_with_button_titles_instead_of_payloads() -> (
    None
):
    events = [
        UserUttered(
            "Kje je moj paket?",
            input_channel="webchat",
            message_id="m1",
            timestamp=10.0,
        ),
        SlotSet("language", "sl", timestamp=10.1),
        BotUttered(
            "Želite, da vas povežem?",
            data={
                "buttons": [
                    {"title": "Da, prosim", "payload": "/affirm"},
                    {"title": "Ne, hvala", "payload": "/deny"},
                ]
            },
            timestamp=10.2,
        ),
        UserUttered(
            "/affirm",
            input_channel="webchat",
            message_id="m2",
            metadata={"title": "Da, prosim"},
            timestamp=20.0,
        ),
        BotUttered("Številka zahtevka: LU-000001", timestamp=20.5),
    ]
    assert history_messages(events) == [
        {
            "from": "customer",
            "text": "Kje je moj paket?",
            "buttons": [],
            "timestamp": 10.0,
            "message_id": "m1",
        },
        {
            "from": "bot",
            "text": "Želite, da vas povežem?",
            "timestamp": 10.2,
            "buttons": [
                {"title": "Da, prosim", "payload": "/affirm"},
                {"title": "Ne, hvala", "payload": "/deny"},
            ],
        },
        {
            "from": "customer",
            "text": "Da, prosim",
            "buttons": [],
            "timestamp": 20.0,
            "message_id": "m2",
        },
        {
            "from": "bot",
            "text": "Številka zahtevka: LU-000001",
            "buttons": [],
            "timestamp": 20.5,
        },
    ]


def test_history_since_returns_only_later_messages() -> None:
    events = [
        UserUttered("a", timestamp=1.0),
        BotUttered("b", timestamp=2.0),
        BotUttered("c", timestamp=3.0),
    ]
    assert [m["text"] for m in history_messages(events, since=2.0)] == ["c"]
    assert history_messages(events, since=3.0) == []


def test_history_skips_what_the_page_cannot_show() -> None:
    events = [
        BotUttered(None, data={"custom": {"x": 1}}, timestamp=1.0),
        BotUttered("", data={"buttons": [{"title": "no payload"}]}, timestamp=2.0),
        UserUttered(None, timestamp=3.0),
    ]
    assert history_messages(events) == []


def test_history_leaves_out_external_triggers_such_as_the_inboxs_csat_request() -> None:
    events = [
        UserUttered("hvala", timestamp=1.0),
        UserUttered.create_external("EXTERNAL_ask_csat", input_channel="webchat"),
        BotUttered("Kako zadovoljni ste?", timestamp=3.0),
    ]
    assert [m["text"] for m in history_messages(events)] == [
        "hvala", "Kako zadovoljni ste?"
    ]


def test_the_conversations_channel_is_where_the_customer_last_wrote_from() -> None:
    events = [
        UserUttered("hvala", input_channel="webchat", timestamp=1.0),
        UserUttered.create_external("EXTERNAL_ask_csat", input_channel="collector"),
    ]
    assert customer_channel(events) == "webchat"
    assert customer_channel([]) is None


# ------------------------------------------------------------------- hours (pure)


def test_status_while_open_says_until_when_in_the_customers_language() -> None:
    status = hours_status(HOURS, WEDNESDAY_10, "sl")
    assert status["open"] is True
    assert status["timezone"] == "Europe/Ljubljana"
    assert status["closes_at"] == "2026-11-25T18:00:00+01:00"
    assert status["closes_at_text"] == "danes ob 18:00"


def test_status_while_closed_gives_the_next_opening() -> None:
    status = hours_status(HOURS, SUNDAY_10, "en")
    assert status["open"] is False
    assert status["closes_at"] is None and status["closes_at_text"] is None
    assert status["next_opening"] == "2026-11-30T08:00:00+01:00"
    assert status["next_opening_text"] == "tomorrow at 08:00"
    assert (
        hours_status(HOURS, SUNDAY_10, "ar")["next_opening_text"] == "غدًا الساعة 08:00"
    )


def test_the_channel_reads_business_hours_from_supportbot_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_settings(
        tmp_path,
        business_hours={
            "weekly": {
                d: ["09:00-10:00"]
                for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
            }
        },
    )
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    channel = WebChatInput.from_credentials(None)
    assert channel.hours is not None
    assert channel.hours.closes_at(WEDNESDAY_10) is None  # 10:00 is past 09:00-10:00


def test_a_broken_business_hours_section_stops_the_server_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = write_settings(tmp_path, business_hours={"timezone": "Mars/Olympus"})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    with pytest.raises(ConfigError, match=r"business_hours\.timezone"):
        WebChatInput.from_credentials(None)


# ------------------------------------------------------------------- routes


@dataclass
class RecordingProcessor:
    """Stands in for Rasa's MessageProcessor: records each turn as Rasa does.

    The reply is "echo: <text>" with the buttons given, and the language slot is set
    to Slovenian; ``fail`` makes the processor raise before anything is saved, as
    Rasa does when an action fails mid-turn.
    """

    store: Any
    buttons: list[dict[str, str]] = field(default_factory=list)
    fail: bool = False
    #: Log an action failure the way Rasa's processor does, then carry on and save.
    action_fails: bool = False
    #: Seconds a turn takes (lets concurrent requests overlap).
    delay: float = 0.0
    calls: int = 0
    received: list[UserMessage] = field(default_factory=list)

    async def __call__(self, message: UserMessage) -> None:
        self.calls += 1
        self.received.append(message)
        if self.fail:
            raise RuntimeError("the action server is down")
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        await asyncio.sleep(self.delay)
        tracker.update(
            UserUttered(
                message.text,
                input_channel=message.input_channel,
                message_id=message.message_id,
                metadata=message.metadata,
            )
        )
        if self.action_fails:
            try:
                raise ConnectionError("Cannot connect to host 127.0.0.1:5055")
            except ConnectionError:
                logging.getLogger(PROCESSOR_LOGGER).exception(
                    f"{ACTION_FAILED_LOG} 'action_answer_from_kb'."
                )
        tracker.update(SlotSet("language", "sl"))
        reply = f"echo: {message.text}"
        if self.buttons:
            await message.output_channel.send_text_with_buttons(
                message.sender_id, reply, self.buttons
            )
        else:
            await message.output_channel.send_text_message(message.sender_id, reply)
        tracker.update(BotUttered(reply, data={"buttons": self.buttons or None}))
        await self.store.save(tracker)


@dataclass
class Server:
    url: str
    channel: WebChatInput
    processor: RecordingProcessor
    agent: Agent
    app: Sanic
    client: httpx.AsyncClient

    async def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.url}/webhooks/webchat/webhook", json=body, **kwargs
        )

    async def history(self, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"{self.url}/webhooks/webchat/history", params=params
        )


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    agent = Agent(
        domain=DOMAIN,
        tracker_store=SafeSQLTrackerStore(
            DOMAIN, dialect="sqlite", db=str(tmp_path / "tracker.sqlite3")
        ),
    )
    app = Sanic(f"webchat_routes_{next(_app_names)}")
    app.ctx.agent = agent
    channel = WebChatInput(HOURS)
    processor = RecordingProcessor(agent.tracker_store)
    app.blueprint(channel.blueprint(processor), url_prefix="/webhooks/webchat")
    app.ctx.input_channels = [channel]
    port = free_port()
    srv = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert srv is not None
    await srv.startup()
    async with httpx.AsyncClient(timeout=10) as client:
        yield Server(f"http://127.0.0.1:{port}", channel, processor, agent, app, client)
    srv.close()
    await srv.wait_closed()


async def test_a_reloaded_page_gets_the_whole_conversation_and_its_language(
    server: Server,
) -> None:
    sender = token()
    first = await server.post({"sender": sender, "message": "Kje je moj paket?"})
    assert first.status_code == 200
    assert first.json() == [{"recipient_id": sender, "text": "echo: Kje je moj paket?"}]
    await server.post({"sender": sender, "message": "Hvala"})
    resp = await server.history(sender=sender)
    assert resp.status_code == 200
    body = resp.json()
    assert body["sender"] == sender and body["language"] == "sl"
    assert [(m["from"], m["text"]) for m in body["messages"]] == [
        ("customer", "Kje je moj paket?"),
        ("bot", "echo: Kje je moj paket?"),
        ("customer", "Hvala"),
        ("bot", "echo: Hvala"),
    ]
    stamps = [m["timestamp"] for m in body["messages"]]
    assert stamps == sorted(stamps)
    later = await server.history(sender=sender, since=stamps[1])
    assert [m["text"] for m in later.json()["messages"]] == ["Hvala", "echo: Hvala"]


async def test_a_message_sent_later_through_rasas_api_reaches_the_history(
    server: Server,
) -> None:
    sender = token()
    await server.post({"sender": sender, "message": "Rabim človeka"})
    tracker = await server.agent.tracker_store.retrieve(sender)
    assert tracker is not None
    # What Rasa's /conversations/{id}/execute?output_channel=latest does for an agent's
    # reply: take the output channel of the conversation's input channel, send through
    # it, record the BotUttered event.
    req = Request(
        b"/conversations/x/execute?output_channel=latest",
        Header({}),
        "1.1",
        "POST",
        None,
        server.app,
    )  # type: ignore[arg-type]
    output = _get_output_channel(req, tracker)
    assert isinstance(output, WebChatOutput)
    await output.send_text_message(sender, "Pozdravljeni, tukaj Ana iz podpore.")
    tracker.update(BotUttered("Pozdravljeni, tukaj Ana iz podpore."))
    await server.agent.tracker_store.save(tracker)
    messages = (await server.history(sender=sender)).json()["messages"]
    assert messages[-1] == {
        "from": "bot",
        "text": "Pozdravljeni, tukaj Ana iz podpore.",
        "buttons": [],
        "timestamp": messages[-1]["timestamp"],
    }


async def test_a_clicked_button_shows_its_title_in_the_history(server: Server) -> None:
    sender = token()
    server.processor.buttons = [{"title": "Da, prosim", "payload": "/affirm"}]
    resp = await server.post({"sender": sender, "message": "pomoč"})
    assert resp.json()[0]["buttons"] == [{"title": "Da, prosim", "payload": "/affirm"}]
    server.processor.buttons = []
    await server.post(
        {"sender": sender, "message": "/affirm", "metadata": {"title": "Da, prosim"}}
    )
    messages = (await server.history(sender=sender)).json()["messages"]
    assert messages[1]["buttons"] == [{"title": "Da, prosim", "payload": "/affirm"}]
    assert messages[2]["from"] == "customer" and messages[2]["text"] == "Da, prosim"


async def test_a_retried_message_is_processed_once_and_gets_the_same_replies(
    server: Server,
) -> None:
    sender = token()
    body = {
        "sender": sender,
        "message": "Kje je moj paket?",
        "message_id": "m-retry-0001",
    }
    first = await server.post(body)
    again = await server.post(body)
    assert server.processor.calls == 1
    assert again.status_code == 200 and again.headers["X-Duplicate"] == "true"
    assert again.json() == first.json()
    customer = [
        m
        for m in (await server.history(sender=sender)).json()["messages"]
        if m["from"] == "customer"
    ]
    assert [m["message_id"] for m in customer] == ["m-retry-0001"]


async def test_a_duplicate_gets_the_replies_split_as_the_first_answer_was(
    server: Server,
) -> None:
    sender = token()
    body = {"sender": sender, "message": "Title\n\nBody text", "message_id": "m-split-001"}
    first = await server.post(body)
    assert [r["text"] for r in first.json()] == ["echo: Title", "Body text"]
    again = await server.post(body)
    assert again.headers["X-Duplicate"] == "true"
    assert again.json() == first.json()


async def test_a_failed_turn_is_a_500_with_a_reason_so_the_page_retries(
    server: Server,
) -> None:
    server.processor.fail = True
    sender = token()
    resp = await server.post(
        {"sender": sender, "message": "hello", "message_id": "m-fail-0001"}
    )
    assert resp.status_code == 500
    assert "retry" in resp.json()["error"]
    server.processor.fail = False
    retried = await server.post(
        {"sender": sender, "message": "hello", "message_id": "m-fail-0001"}
    )
    assert retried.status_code == 200 and "X-Duplicate" not in retried.headers
    assert server.processor.calls == 2


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b'{"sender": "s", "message": 1}', "application/json", 400),
        (b"sender=s&message=hi", "application/x-www-form-urlencoded", 415),
        (b'{"sender": "s", "message": "hi"}', "text/plain", 415),
        (
            json.dumps({"sender": "s", "message": "x" * MAX_BODY_BYTES}).encode(),
            "application/json",
            413,
        ),
    ],
)
async def test_bad_requests_over_http_get_a_json_4xx_and_nothing_is_processed(
    server: Server, content: bytes, content_type: str, status: int
) -> None:
    resp = await server.client.post(
        f"{server.url}/webhooks/webchat/webhook",
        content=content,
        headers={"Content-Type": content_type},
    )
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]
    assert server.processor.calls == 0
    assert await server.agent.tracker_store.retrieve("s") is None


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "'sender'"),
        ({"sender": ""}, "'sender'"),
        ({"sender": "me"}, "random token"),
        ({"sender": "x" * (HISTORY_MIN_SENDER_CHARS - 1)}, "random token"),
        ({"sender": "web-" + "a" * 20 + "/../x"}, "'sender'"),
        ({"sender": "x" * 129}, "'sender'"),
        ({"sender": "web-" + "a" * 32, "since": "yesterday"}, "'since'"),
        ({"sender": "web-" + "a" * 32, "since": "-1"}, "'since'"),
        ({"sender": "web-" + "a" * 32, "since": "nan"}, "'since'"),
        ({"sender": "web-" + "a" * 32, "since": "inf"}, "'since'"),
    ],
)
async def test_history_rejects_a_missing_guessable_or_malformed_query(
    server: Server, params: dict[str, str], reason: str
) -> None:
    resp = await server.history(**params)
    assert resp.status_code == 400
    assert reason in resp.json()["error"]


async def test_history_of_another_channels_conversation_looks_like_an_unknown_id(
    server: Server,
) -> None:
    telegram_chat = "123456789012345678901"  # long enough, but a Telegram chat id
    tracker = await server.agent.tracker_store.get_or_create_tracker(telegram_chat)
    tracker.update(UserUttered("secret order 42", input_channel="telegram"))
    tracker.update(BotUttered("your address is ..."))
    await server.agent.tracker_store.save(tracker)
    foreign = await server.history(sender=telegram_chat)
    unknown = await server.history(sender=token())
    assert foreign.status_code == unknown.status_code == 200
    assert foreign.json()["messages"] == unknown.json()["messages"] == []
    assert foreign.json()["language"] is None


async def test_status_route_uses_the_clock_and_the_requested_language(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_FAKE_NOW", SUNDAY_10.isoformat())
    resp = await server.client.get(
        f"{server.url}/webhooks/webchat/status", params={"language": "sl"}
    )
    assert resp.status_code == 200
    assert resp.json()["open"] is False
    assert resp.json()["next_opening_text"] == "jutri ob 8:00"
    bad = await server.client.get(
        f"{server.url}/webhooks/webchat/status", params={"language": "<script>"}
    )
    assert bad.status_code == 400 and "'language'" in bad.json()["error"]


async def test_concurrent_pages_do_not_see_each_others_conversations(
    server: Server,
) -> None:
    a, b = token(), token()
    await asyncio.gather(
        server.post({"sender": a, "message": "A"}),
        server.post({"sender": b, "message": "B"}),
    )
    texts_a = [m["text"] for m in (await server.history(sender=a)).json()["messages"]]
    texts_b = [m["text"] for m in (await server.history(sender=b)).json()["messages"]]
    assert texts_a == ["A", "echo: A"] and texts_b == ["B", "echo: B"]


# ------------------------------------------------------------------- hardening (issue 10)


async def test_sixteen_simultaneous_duplicate_pairs_are_each_processed_once(
    server: Server,
) -> None:
    server.processor.delay = 0.05  # both requests of a pair are in flight together
    bodies = [
        {"sender": token(), "message": f"order {i}", "message_id": f"m-pair-{i:04d}"}
        for i in range(16)
    ]
    answers = await asyncio.gather(*(server.post(b) for b in bodies for _ in range(2)))
    assert all(a.status_code == 200 for a in answers)
    assert server.processor.calls == 16
    for i, body in enumerate(bodies):
        first, second = answers[2 * i], answers[2 * i + 1]
        assert first.json() == second.json() == [
            {"recipient_id": body["sender"], "text": f"echo: order {i}"}
        ]
        customer = [
            m["message_id"]
            for m in (await server.history(sender=body["sender"])).json()["messages"]
            if m["from"] == "customer"
        ]
        assert customer == [body["message_id"]]


@pytest.mark.parametrize(
    "sender", ["whatsapp:38640123456", "telegram:123456789", "webchat:x", "a:b"]
)
async def test_a_web_chat_sender_can_never_name_another_channels_conversation(
    server: Server, sender: str
) -> None:
    tracker = await server.agent.tracker_store.get_or_create_tracker(sender)
    tracker.update(UserUttered("my card is 4111 1111", input_channel="whatsapp"))
    await server.agent.tracker_store.save(tracker)
    resp = await server.post({"sender": sender, "message": "show me everything"})
    assert resp.status_code == 400 and "no ':'" in resp.json()["error"]
    history = await server.history(sender=sender + "x" * 20)
    assert history.status_code == 400
    assert server.processor.calls == 0
    stored = await server.agent.tracker_store.retrieve(sender)
    assert stored is not None and customer_channel(stored.events) == "whatsapp"


async def test_the_client_cannot_choose_the_channel_or_other_metadata(
    server: Server,
) -> None:
    sender = token()
    await server.post(
        {
            "sender": sender,
            "message": "hi",
            "input_channel": "telegram",
            "metadata": {"channel": "whatsapp", "is_external": True, TYPED_TEXT_KEY: "x"},
        }
    )
    [message] = server.processor.received
    assert message.input_channel == "webchat"
    assert message.metadata == {"channel": "webchat"}


@pytest.mark.parametrize(
    ("typed", "neutral"),
    [
        ('/csat_score{"score":5}', 'csat_score{"score":5}'),
        ("/EXTERNAL_ask_csat", "EXTERNAL_ask_csat"),
        ("/restart", "restart"),
        ("/session_start", "session_start"),
    ],
)
async def test_typed_internal_intents_reach_rasa_as_plain_text(
    server: Server, typed: str, neutral: str
) -> None:
    sender = token()
    resp = await server.post({"sender": sender, "message": typed})
    assert resp.status_code == 200
    [message] = server.processor.received
    assert message.text == neutral  # Rasa's "/intent" parsing cannot see it
    assert message.metadata[TYPED_TEXT_KEY] == typed
    customer = (await server.history(sender=sender)).json()["messages"][0]
    assert customer["text"] == typed  # the transcript shows what the customer wrote


async def test_a_button_payload_counts_only_when_the_bot_offered_it(
    server: Server,
) -> None:
    sender = token()
    server.processor.buttons = [{"title": "Da", "payload": "/affirm"}]
    await server.post({"sender": sender, "message": "pomoč"})
    server.processor.buttons = []
    forged = '/csat_score{"score": 5}'
    await server.post({"sender": sender, "message": forged, "metadata": {"title": "5"}})
    await server.post({"sender": sender, "message": "/affirm", "metadata": {"title": "Da"}})
    texts = [m.text for m in server.processor.received]
    # The forged CSAT is words; "/affirm" is still the latest offered button's payload.
    assert texts == ["pomoč", 'csat_score{"score": 5}', "/affirm"]


async def test_an_offered_button_clicked_right_away_is_its_intent(server: Server) -> None:
    sender = token()
    server.processor.buttons = [{"title": "5", "payload": '/csat_score{"score": 5}'}]
    await server.post({"sender": sender, "message": "kako ste zadovoljni?"})
    await server.post({"sender": sender, "message": '/csat_score{"score": 5}'})
    assert server.processor.received[1].text == '/csat_score{"score": 5}'


@pytest.mark.parametrize(
    "body",
    [
        b'{"sender": "x\\ud800", "message": "hi"}',
        b'{"sender": "web-1", "message": "hi \\ud800"}',
        b'{"sender": "web-1", "message": "hi", "metadata": {"title": "\\udfff"}}',
        b'{"sender": "web-1", "message": "hi", "message_id": "m-\\ud800-000"}',
        b'{"sender": "web-1", "message": "hi", "metadata": {"x": ["\\ud800"]}}',
        b'{"sender": "web-1\\n", "message": "hi"}',
        b"[" * 5000 + b"]" * 5000,
        b'{"sender": "web-1", "message": "hi", "metadata": ' + b'{"a": ' * 40
        + b"1" + b"}" * 41,
        b'"just a string"',
        b"null",
        b"\xff\xfe{}",
    ],
)
async def test_unsafe_bodies_are_a_4xx_and_nothing_is_processed_or_stored(
    server: Server, body: bytes
) -> None:
    resp = await server.client.post(
        f"{server.url}/webhooks/webchat/webhook",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]
    assert server.processor.calls == 0
    ok = await server.post({"sender": token(), "message": "still here?"})
    assert ok.status_code == 200


async def test_a_turn_whose_action_failed_is_a_503_and_the_retry_completes_it(
    server: Server,
) -> None:
    sender = token()
    body = {"sender": sender, "message": "where is my parcel", "message_id": "m-down-0001"}
    server.processor.action_fails = True
    down = await server.post(body)
    assert down.status_code == 503
    assert "same message_id" in down.json()["error"]
    stored = await server.agent.tracker_store.retrieve(sender)
    assert stored is None or history_messages(stored.events) == []  # nothing of the turn
    server.processor.action_fails = False
    again = await server.post(body)
    assert again.status_code == 200 and "X-Duplicate" not in again.headers
    assert again.json() == [{"recipient_id": sender, "text": "echo: where is my parcel"}]
    once_more = await server.post(body)
    assert once_more.headers["X-Duplicate"] == "true"
    assert server.processor.calls == 2
