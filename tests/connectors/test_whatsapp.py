"""The WhatsApp channel, with Cloud-API-shaped notifications and a stand-in Graph API.

The channel's blueprint runs in a real Sanic server on 127.0.0.1 and posts replies to
the stand-in; ``on_new_message`` records each Rasa message and answers through the
channel's own output, the way Rasa's agent does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rasa.core.channels.channel import UserMessage

from bot.errors import ConfigError
from connectors.credentials import Secret
from connectors.durable import ChannelStore
from connectors.whatsapp import (
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    UNSUPPORTED,
    BadPayload,
    GraphClient,
    WhatsAppInput,
    WhatsAppOutput,
    WhatsAppSendError,
    button_messages,
    list_label,
    parse_notification,
    sign,
)
from tests.connectors.harness import ChannelHarness, serve, stop
from tests.connectors.standins import GraphAPI, graph_error
from tests.connectors.standins import whatsapp_notification as notification

pytestmark = pytest.mark.rasa_env
APP_SECRET = "d41d8cd98f00b204e9800998ecf8427e"
VERIFY = "lumo-verify-7f3a"
CUSTOMER = "38640123456"


# ------------------------------------------------------ Cloud API notifications


def now(ago: float = 0) -> str:
    """A message timestamp as Meta sends it: Unix seconds as a string."""
    return str(int(time.time() - ago))


def text(wamid: str, body: str) -> dict[str, Any]:
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "text",
        "text": {"body": body},
    }


def button_reply(wamid: str, button_id: str, title: str) -> dict[str, Any]:
    return {
        "context": {"from": "38615550100", "id": "wamid.HBgLMzg2NDAxMjM0NTYVAgARGBI"},
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": button_id, "title": title},
        },
    }


def list_reply(wamid: str, row_id: str, title: str) -> dict[str, Any]:
    return {
        "context": {"from": "38615550100", "id": "wamid.HBgLMzg2NDAxMjM0NTYVAgARGBJ"},
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "interactive",
        "interactive": {
            "type": "list_reply",
            "list_reply": {
                "id": row_id,
                "title": title,
                "description": "Returns and refunds",
            },
        },
    }


def image(wamid: str, caption: str | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {
        "mime_type": "image/jpeg",
        "id": "1234567890123456",
        "sha256": "tNmtT0Hq3Lyn4Fbh4Wn4Bxb0Q9sT5fI=",
    }
    if caption:
        media["caption"] = caption
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "image",
        "image": media,
    }


def audio(wamid: str) -> dict[str, Any]:
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "audio",
        "audio": {
            "mime_type": "audio/ogg; codecs=opus",
            "id": "99887766",
            "voice": True,
        },
    }


def unsupported(wamid: str) -> dict[str, Any]:
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "unsupported",
        "errors": [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    }


def reaction(wamid: str) -> dict[str, Any]:
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": now(),
        "type": "reaction",
        "reaction": {"message_id": "wamid.HBgLMzg2NDAxMjM0NTYVAgARGBI", "emoji": "👍"},
    }


def status(wamid: str, state: str) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": state,
        "timestamp": now(),
        "recipient_id": CUSTOMER,
        "conversation": {"id": "c0ffee", "origin": {"type": "service"}},
        "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"},
    }


# --------------------------------------------------------------------------- harness


class Harness(ChannelHarness[WhatsAppInput]):
    """A running channel with its stand-in Graph API; posts notifications as Meta does."""

    def __init__(self, graph: GraphAPI, channel: WhatsAppInput) -> None:
        super().__init__(channel)
        self.graph = graph

    async def post(
        self,
        body: Any,
        *,
        signature: str | bytes | None = "good",
        content_type: str = "application/json",
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers: dict[str, str | bytes] = {"Content-Type": content_type}
        if signature == "good":
            headers[SIGNATURE_HEADER] = sign(APP_SECRET, raw)
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        async with httpx.AsyncClient() as http:
            return await http.post(
                f"{self.url}/webhooks/whatsapp/webhook", content=raw, headers=headers
            )


def credentials(graph: GraphAPI, tmp: Path, **extra: Any) -> dict[str, Any]:
    return {
        "verify_token": VERIFY,
        "app_secret": APP_SECRET,
        "access_token": graph.access_token,
        "phone_number_id": graph.phone_number_id,
        "graph_base_url": graph.url,
        "api_version": graph.version,
        "state_db": str(tmp / "whatsapp.sqlite3"),
        "retry_backoff_seconds": 0.05,
        # failing turns are retried quickly in tests (the default waits 2 s, 4 s, ...)
        "turn_attempts": 3,
        "turn_backoff_seconds": 0.05,
        **extra,
    }


@pytest.fixture()
async def wa(tmp_path: Path) -> AsyncIterator[Harness]:
    with GraphAPI() as graph:
        channel = WhatsAppInput.from_credentials(credentials(graph, tmp_path))
        async with Harness(graph, channel) as harness:
            yield harness


# ------------------------------------------------------------------ verification


@pytest.mark.parametrize(
    ("params", "status", "body"),
    [
        (
            {
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY,
                "hub.challenge": "1158201444",
            },
            200,
            "1158201444",
        ),
        (
            {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
            403,
            None,
        ),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, 403, None),
        (
            {
                "hub.mode": "unsubscribe",
                "hub.verify_token": VERIFY,
                "hub.challenge": "1",
            },
            403,
            None,
        ),
        ({"hub.mode": "subscribe", "hub.verify_token": VERIFY}, 403, None),
    ],
)
async def test_webhook_verification_handshake(
    wa: Harness, params: dict[str, str], status: int, body: str | None
) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{wa.url}/webhooks/whatsapp/webhook", params=params)
    assert resp.status_code == status
    if body is not None:
        assert resp.text == body
    else:
        assert "error" in resp.json()


# ----------------------------------------------------------------------- inbound


async def test_a_text_message_reaches_rasa_and_the_reply_reaches_graph(
    wa: Harness,
) -> None:
    resp = await wa.post(notification(text("wamid.T1", "Kje je moj paket?")))
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "accepted": 1,
        "duplicates": 0,
        "ignored": 0,
        "stale": 0,
    }
    await wa.until(lambda: len(wa.graph.calls()) == 1)
    [msg] = wa.messages
    assert (msg.text, msg.sender_id, msg.input_channel, msg.message_id) == (
        "Kje je moj paket?",
        f"whatsapp:{CUSTOMER}",
        "whatsapp",
        "wamid.T1",
    )
    assert msg.metadata["message_id"] == "wamid.T1"
    assert msg.metadata["phone_number_id"] == "106540352242922"
    [body] = wa.graph.bodies()
    assert body["messaging_product"] == "whatsapp" and body["to"] == CUSTOMER
    assert body["type"] == "text" and body["text"]["body"] == "echo: Kje je moj paket?"
    [call] = wa.graph.calls()
    assert call.headers["Authorization"] == f"Bearer {wa.graph.access_token}"


async def test_button_and_list_replies_send_their_ids_as_the_message(
    wa: Harness,
) -> None:
    await wa.post(notification(button_reply("wamid.B1", "/affirm", "Da, prosim")))
    await wa.post(
        notification(
            list_reply(
                "wamid.L1", '/choose_article{"article_id": "returns"}', "Vračila"
            )
        )
    )
    await wa.until(lambda: len(wa.messages) == 2)
    assert [m.text for m in wa.messages] == [
        "/affirm",
        '/choose_article{"article_id": "returns"}',
    ]
    assert wa.messages[0].metadata["content_type"] == "button_reply"
    assert wa.messages[0].metadata["reply_to"] == "wamid.HBgLMzg2NDAxMjM0NTYVAgARGBI"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (image("wamid.I1"), "image"),
        (audio("wamid.A1"), "audio"),
        (unsupported("wamid.U1"), "unsupported"),
    ],
)
async def test_unsupported_content_becomes_the_unsupported_intent(
    wa: Harness, message: dict[str, Any], kind: str
) -> None:
    await wa.post(notification(message))
    await wa.until(lambda: len(wa.messages) == 1)
    assert wa.messages[0].text == UNSUPPORTED
    assert wa.messages[0].metadata["content_type"] == kind


async def test_an_image_caption_is_read_as_text(wa: Harness) -> None:
    await wa.post(notification(image("wamid.I2", caption="Paket je prišel poškodovan")))
    await wa.until(lambda: len(wa.messages) == 1)
    assert wa.messages[0].text == "Paket je prišel poškodovan"


async def test_status_callbacks_and_reactions_are_acknowledged_and_ignored(
    wa: Harness,
) -> None:
    resp = await wa.post(
        notification(
            statuses=[status("wamid.OUT1", "delivered"), status("wamid.OUT1", "read")]
        )
    )
    assert resp.status_code == 200 and resp.json()["accepted"] == 0
    resp = await wa.post(notification(reaction("wamid.R1")))
    assert resp.status_code == 200 and resp.json()["accepted"] == 0
    await asyncio.sleep(0.2)
    assert wa.messages == [] and wa.graph.attempts == []


async def test_several_messages_in_one_notification_are_answered_in_order(
    wa: Harness,
) -> None:
    await wa.post(
        notification(
            text("wamid.M1", "first"),
            text("wamid.M2", "second"),
            text("wamid.M3", "third"),
        )
    )
    await wa.until(lambda: len(wa.graph.calls()) == 3)
    assert [b["text"]["body"] for b in wa.graph.bodies()] == [
        "echo: first",
        "echo: second",
        "echo: third",
    ]


# -------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    ("signature", "status"),
    [
        (None, 401),
        ("", 401),
        ("sha256=" + "0" * 64, 403),
        ("sha1=abc", 403),
        (sign("another-secret", b"{}"), 403),
    ],
)
async def test_missing_or_bad_signature_is_refused_and_nothing_processed(
    wa: Harness, signature: str | None, status: int
) -> None:
    resp = await wa.post(notification(text("wamid.S1", "hello")), signature=signature)
    assert resp.status_code == status
    assert SIGNATURE_HEADER in resp.json()["error"]
    await asyncio.sleep(0.2)
    assert wa.messages == [] and wa.channel.store.status("wamid.S1") is None


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "é" * 64,
        ("sha256=" + "0" * 63).encode() + b"\xff",  # not even UTF-8
        "sha256=ａｂｃ".encode(),  # full-width letters
    ],
)
async def test_a_signature_that_is_not_ascii_is_403_not_a_crash(
    wa: Harness, signature: str | bytes
) -> None:
    raw = json.dumps(notification(text("wamid.S3", "hello"))).encode()
    resp = await wa.post(
        raw, signature=signature.encode() if isinstance(signature, str) else signature
    )
    assert resp.status_code == 403 and SIGNATURE_HEADER in resp.json()["error"]
    assert wa.channel.store.status("wamid.S3") is None


async def test_a_signature_of_a_different_body_is_refused(wa: Harness) -> None:
    raw = json.dumps(notification(text("wamid.S2", "hello"))).encode()
    tampered = raw.replace(b"hello", b"HELLO")
    resp = await wa.post(tampered, signature=sign(APP_SECRET, raw))
    assert resp.status_code == 403


# ---------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "whatsapp_business_account"),
        (json.dumps({"object": "page", "entry": []}).encode(), "whatsapp_business_account"),
        (
            json.dumps({"object": "whatsapp_business_account", "entry": {}}).encode(),
            "'entry'",
        ),
        (
            json.dumps(
                notification(
                    text("wamid.X1", "ok"),
                    {"from": CUSTOMER, "type": "text", "text": {"body": "no id"}},
                )
            ).encode(),
            "messages[1].id",
        ),
        (
            json.dumps(
                notification(
                    {"from": CUSTOMER, "id": "wamid.X2", "type": "text", "text": "flat"}
                )
            ).encode(),
            "messages[0].timestamp",
        ),
        (
            json.dumps(
                notification(text("wamid.X1", "ok"), text("wamid.X2", "x") | {"from": "+386 40"})
            ).encode(),
            "messages[1].from",
        ),
        (
            json.dumps(
                notification(text("wamid.X1", "ok"), text("wamid X2", "x"))
            ).encode(),
            "messages[1].id",
        ),
        (
            json.dumps(notification(text("wamid.X1", "ok") | {"timestamp": "soon"})).encode(),
            "timestamp",
        ),
        # Lone surrogates parse in Python but no store can keep them.
        (
            json.dumps(notification(text("wamid.X1", "ok"), text("wamid.X2", "\ud800"))).encode(),
            "lone surrogate",
        ),
        (
            json.dumps(notification(text("wamid.X1", "\udfff tail"))).encode(),
            "lone surrogate",
        ),
        (
            json.dumps(notification(text("wamid.X1", "nul \x00 inside"))).encode(),
            "NUL",
        ),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (
            json.dumps(notification(text("wamid.X1", "ok"))).encode()[:-1]
            + b', "x": ' + b"[" * 40 + b"]" * 40 + b"}",
            "nested deeper",
        ),
        (json.dumps(notification(text("wamid.X1", "ok"))).encode() + b"\xff", "UTF-8"),
        (b'{"object": NaN}', "NaN"),
    ],
    ids=lambda value: None if isinstance(value, str) else f"{len(value)}-byte body",
)
async def test_an_authentic_body_that_cannot_be_processed_is_kept_and_answered_200(
    wa: Harness, body: bytes, reason: str
) -> None:
    """Meta redelivers every non-2xx for days; a redelivery cannot fix these bodies."""
    resp = await wa.post(body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "rejected" and reason in resp.json()["error"]
    [(kept_reason, kept_body)] = wa.channel.store.rejected()
    assert kept_body == body and reason in kept_reason, "kept for an operator"
    await asyncio.sleep(0.2)
    assert wa.messages == [] and wa.graph.attempts == []
    assert wa.channel.store.status("wamid.X1") is None, "the valid message was not kept"
    await wa.post(notification(text("wamid.OK", "still here?")))
    await wa.until(lambda: [m.text for m in wa.messages] == ["still here?"])


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (
            json.dumps(notification(text("wamid.X3", "hi"))).encode(),
            "text/plain",
            415,
            "application/json",
        ),
        (b"x" * (MAX_BODY_BYTES + 1), "application/json", 413, "larger"),
    ],
)
async def test_bad_requests_get_a_clear_4xx_and_nothing_half_processed(
    wa: Harness, body: bytes, content_type: str, status: int, reason: str
) -> None:
    resp = await wa.post(body, content_type=content_type)
    assert resp.status_code == status, resp.text
    assert reason in resp.json()["error"]
    await asyncio.sleep(0.2)
    assert wa.messages == [] and wa.graph.attempts == []
    assert wa.channel.store.status("wamid.X3") is None
    assert wa.channel.store.rejected() == []


# ------------------------------------------------- other numbers, old messages


async def test_a_message_for_another_business_number_is_not_processed(
    wa: Harness,
) -> None:
    """One Meta app can serve several numbers; this channel answers only its own."""
    body = notification(text("wamid.N1", "Kje je moj paket?"))
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999000111"
    resp = await wa.post(body)
    assert resp.status_code == 200
    assert resp.json() == {
        "status": "ok",
        "accepted": 0,
        "duplicates": 0,
        "ignored": 1,
        "stale": 0,
    }
    del body["entry"][0]["changes"][0]["value"]["metadata"]
    assert (await wa.post(body)).json()["ignored"] == 1, "no number: not ours either"
    await asyncio.sleep(0.2)
    assert wa.messages == [] and wa.graph.attempts == []
    assert wa.channel.store.status("wamid.N1") is None


async def test_a_message_older_than_a_day_is_kept_but_not_answered(
    wa: Harness,
) -> None:
    """After 24 h WhatsApp allows only template messages: a reply could not be sent."""
    old = text("wamid.OLD", "Še kaj novega?") | {"timestamp": now(ago=25 * 3600)}
    fresh = text("wamid.NEW", "Kje je moj paket?") | {"timestamp": now(ago=23 * 3600)}
    resp = await wa.post(notification(old, fresh))
    assert (resp.json()["accepted"], resp.json()["stale"]) == (1, 1)
    await wa.until(lambda: len(wa.graph.calls()) == 1)
    assert [m.message_id for m in wa.messages] == ["wamid.NEW"]
    assert wa.messages[0].metadata["timestamp"] == int(fresh["timestamp"])
    [(reason, kept)] = wa.channel.store.rejected()
    assert reason.startswith("stale") and json.loads(kept)["text"] == "Še kaj novega?"
    assert wa.channel.store.status("wamid.OLD") is None


async def test_the_age_limit_is_configurable(tmp_path: Path) -> None:
    with GraphAPI() as graph:
        channel = WhatsAppInput.from_credentials(
            credentials(graph, tmp_path, max_message_age_seconds=600)
        )
        async with Harness(graph, channel) as wa:
            resp = await wa.post(
                notification(text("wamid.A1", "hi") | {"timestamp": now(ago=900)})
            )
            assert resp.json()["stale"] == 1 and resp.json()["accepted"] == 0
    with pytest.raises(ConfigError) as err:
        WhatsAppInput.from_credentials(
            credentials(graph, tmp_path, max_message_age_seconds=5)
        )
    assert err.value.key.endswith("max_message_age_seconds")


# ------------------------------------------------------------------ duplicates


async def test_a_duplicate_delivery_is_processed_once_even_concurrently(
    wa: Harness,
) -> None:
    body = notification(text("wamid.D1", "Kdaj pride paket?"))
    answers = await asyncio.gather(*(wa.post(body) for _ in range(6)))
    assert all(a.status_code == 200 for a in answers)
    assert sum(a.json()["accepted"] for a in answers) == 1
    await wa.until(lambda: wa.channel.store.status("wamid.D1") == "done")
    later = await wa.post(body)
    assert later.json()["duplicates"] == 1 and later.json()["accepted"] == 0
    await asyncio.sleep(0.2)
    assert len(wa.messages) == 1 and len(wa.graph.calls()) == 1


async def test_duplicates_are_recognised_after_a_restart(tmp_path: Path) -> None:
    with GraphAPI() as graph:
        seen: list[str] = []

        async def on_message(message: UserMessage) -> None:
            seen.append(message.message_id)

        body = notification(text("wamid.R1", "hello"))
        for _ in range(2):  # two server lifetimes on the same state file
            channel = WhatsAppInput.from_credentials(credentials(graph, tmp_path))
            server, url = await serve(channel, on_message)
            raw = json.dumps(body).encode()
            try:
                async with httpx.AsyncClient() as http:
                    await http.post(
                        f"{url}/webhooks/whatsapp/webhook",
                        content=raw,
                        headers={
                            "Content-Type": "application/json",
                            SIGNATURE_HEADER: sign(APP_SECRET, raw),
                        },
                    )
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.02)
            finally:
                await stop(server)
        assert seen == ["wamid.R1"]


async def test_sixteen_simultaneous_duplicates_are_processed_once(wa: Harness) -> None:
    body = notification(text("wamid.D16", "Kdaj pride paket?"))
    answers = await asyncio.gather(*(wa.post(body) for _ in range(16)))
    assert sum(a.json()["accepted"] for a in answers) == 1
    assert sum(a.json()["duplicates"] for a in answers) == 15
    await wa.until(lambda: wa.channel.store.status("wamid.D16") == "done")
    await asyncio.sleep(0.2)
    assert len(wa.messages) == 1 and len(wa.graph.calls()) == 1


# ------------------------------------------------------------------ failed turns


async def test_a_failed_turn_is_retried_without_resending_what_was_delivered(
    wa: Harness,
) -> None:
    """on_new_message raising means the turn did not happen; the next try completes it."""
    failures = 1

    async def flaky(message: UserMessage) -> None:
        nonlocal failures
        await message.output_channel.send_text_message(message.sender_id, "Preverjam …")
        if failures:
            failures -= 1
            raise RuntimeError("tracker store unavailable")
        await ChannelHarness.echo(message)

    wa.reply = flaky
    await wa.post(notification(text("wamid.RT1", "Kje je moj paket?")))
    await wa.post(notification(text("wamid.RT2", "Hvala")))
    await wa.until(lambda: wa.channel.store.status("wamid.RT2") == "done")
    assert [m.text for m in wa.messages] == ["Kje je moj paket?"] * 2 + ["Hvala"]
    assert [b["text"]["body"] for b in wa.graph.bodies()] == [
        "Preverjam …",
        "echo: Kje je moj paket?",
        "Preverjam …",
        "echo: Hvala",
    ]


async def test_graph_down_for_the_whole_turn_is_retried_then_parked(
    wa: Harness,
) -> None:
    wa.graph.fail_next("messages", 503, graph_error(2, "Service unavailable"), times=999)
    await wa.post(notification(text("wamid.GD", "hello")))
    await wa.until(lambda: wa.channel.store.status("wamid.GD") == "failed", timeout=30)
    assert len(wa.messages) == 3, "three tries of the turn"
    assert "WhatsAppSendError" in (wa.channel.store.error("wamid.GD") or "")


# ----------------------------------------------------------------------- outbound


async def test_graph_failing_twice_with_500_still_delivers_exactly_once(
    wa: Harness,
) -> None:
    wa.graph.fail_next(
        "messages", 500, graph_error(1, "An unknown error occurred"), times=2
    )
    await wa.post(notification(text("wamid.F1", "hello")))
    await wa.until(lambda: wa.channel.store.status("wamid.F1") == "done")
    assert len(wa.graph.attempts) == 3
    assert [b["text"]["body"] for b in wa.graph.bodies()] == ["echo: hello"]


async def test_429_honours_retry_after(wa: Harness) -> None:
    wa.graph.fail_next(
        "messages",
        429,
        graph_error(130429, "Rate limit hit"),
        headers={"Retry-After": "1"},
    )
    started = asyncio.get_running_loop().time()
    await wa.post(notification(text("wamid.F2", "hello")))
    await wa.until(lambda: len(wa.graph.calls()) == 1, timeout=15)
    assert asyncio.get_running_loop().time() - started >= 0.9
    assert len(wa.graph.attempts) == 2


async def test_a_refused_message_is_not_retried_and_does_not_crash(wa: Harness) -> None:
    wa.graph.fail_next(
        "messages", 400, graph_error(131030, "Recipient not in allowed list")
    )
    await wa.post(notification(text("wamid.F3", "hello")))
    await wa.until(lambda: wa.channel.store.status("wamid.F3") == "done")
    assert len(wa.graph.attempts) == 1


async def test_graph_down_marks_the_message_failed_after_bounded_retries(
    tmp_path: Path,
) -> None:
    with GraphAPI() as graph:
        graph.fail_next(
            "messages", 503, graph_error(2, "Service temporarily unavailable"), times=10
        )
        client = GraphClient(
            graph.url,
            graph.version,
            graph.phone_number_id,
            Secret(graph.access_token),
            max_attempts=3,
            backoff=0.01,
        )
        out = WhatsAppOutput(client, ChannelStore(tmp_path / "s.sqlite3"), "wamid.Z")
        with pytest.raises(WhatsAppSendError, match="after 3 tries"):
            await out.send_text_message(f"whatsapp:{CUSTOMER}", "hello")
        await client.close()
        assert len(graph.attempts) == 3 and graph.calls() == []


async def test_a_reprocessed_turn_does_not_resend_delivered_replies(
    tmp_path: Path,
) -> None:
    with GraphAPI() as graph:
        store = ChannelStore(tmp_path / "s.sqlite3")
        client = GraphClient(
            graph.url, graph.version, graph.phone_number_id, Secret(graph.access_token)
        )
        for _ in range(2):
            out = WhatsAppOutput(client, store, reply_prefix="wamid.P1")
            await out.send_text_message(CUSTOMER, "first")
            await out.send_text_message(CUSTOMER, "second")
        await client.close()
        assert [b["text"]["body"] for b in graph.bodies()] == ["first", "second"]


async def test_up_to_three_short_buttons_are_reply_buttons(wa: Harness) -> None:
    async def offer(message: UserMessage) -> None:
        await message.output_channel.send_text_with_buttons(
            message.sender_id,
            "Vas povežem s sodelavcem?",
            [
                {"title": "Da, prosim", "payload": "/affirm"},
                {"title": "Ne, hvala", "payload": "/deny"},
            ],
        )

    wa.reply = offer
    await wa.post(notification(text("wamid.O1", "agent")))
    await wa.until(lambda: len(wa.graph.calls()) == 1)
    [body] = wa.graph.bodies()
    interactive = body["interactive"]
    assert body["type"] == "interactive" and interactive["type"] == "button"
    assert interactive["body"]["text"] == "Vas povežem s sodelavcem?"
    assert interactive["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "/affirm", "title": "Da, prosim"}},
        {"type": "reply", "reply": {"id": "/deny", "title": "Ne, hvala"}},
    ]


async def test_long_titles_or_many_buttons_become_a_list_and_a_row_press_round_trips(
    wa: Harness,
) -> None:
    titles = [
        "Koliko časa traja dostava v tujino?",
        "Vračila",
        "Plačilne metode",
        "Sprememba naslova",
    ]
    long_payload = "/choose_article" + json.dumps({"article_id": "x" * 250})

    async def offer(message: UserMessage) -> None:
        if message.text == "vprašanje":
            await message.output_channel.send_text_with_buttons(
                message.sender_id,
                "Ali gre za kaj od tega?",
                [
                    {"title": t, "payload": f'/choose_article{{"article_id": "a{i}"}}'}
                    for i, t in enumerate(titles[:-1])
                ]
                + [{"title": titles[-1], "payload": long_payload}],
            )

    wa.reply = offer
    await wa.post(notification(text("wamid.O2", "vprašanje")))
    await wa.until(lambda: len(wa.graph.calls()) == 1)
    interactive = wa.graph.bodies()[0]["interactive"]
    assert interactive["type"] == "list"
    assert interactive["action"]["button"] == "Možnosti", (
        "label in the message's language"
    )
    rows = interactive["action"]["sections"][0]["rows"]
    assert [len(r["title"]) <= 24 for r in rows] == [True] * 4
    assert rows[0]["title"].endswith("…") and rows[0]["description"] == titles[0]
    assert len(rows[3]["id"]) <= 200

    await wa.post(notification(list_reply("wamid.O3", rows[3]["id"], rows[3]["title"])))
    await wa.until(lambda: len(wa.messages) == 2)
    assert wa.messages[1].text == long_payload


def test_more_than_ten_buttons_continue_in_a_second_list() -> None:
    buttons = [(f"Option {i}", f"/o{i}") for i in range(13)]
    bodies = button_messages(CUSTOMER, "Pick one", buttons, "Options")
    rows = [len(b["interactive"]["action"]["sections"][0]["rows"]) for b in bodies]
    assert rows == [10, 3]


def test_a_body_over_1024_characters_is_sent_as_text_before_the_buttons() -> None:
    bodies = button_messages(CUSTOMER, "x" * 1500, [("Yes", "/affirm")], "Options")
    assert [b["type"] for b in bodies] == ["text", "interactive"]
    assert len(bodies[1]["interactive"]["body"]["text"]) <= 1024


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Is it one of these?", "Options"),
        ("هل تقصد أحد هذه المواضيع؟", "الخيارات"),
        ("Ali gre za kaj od tega?", "Možnosti"),
    ],
)
def test_the_list_label_speaks_the_language_of_the_message(
    text: str, label: str
) -> None:
    assert list_label(text) == label


# ---------------------------------------------------------------- configuration


def test_channel_without_secrets_is_disabled(tmp_path: Path) -> None:
    channel = WhatsAppInput.from_credentials({"state_db": str(tmp_path / "w.sqlite3")})
    assert not channel.enabled and channel.get_output_channel() is None
    assert not (tmp_path / "w.sqlite3").exists()


async def test_disabled_channel_answers_503(tmp_path: Path) -> None:
    channel = WhatsAppInput.from_credentials({"state_db": str(tmp_path / "w.sqlite3")})
    server, url = await serve(channel, lambda m: asyncio.sleep(0))
    try:
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{url}/webhooks/whatsapp/webhook", json={})
    finally:
        await stop(server)
    assert resp.status_code == 503 and "WHATSAPP_APP_SECRET" in resp.json()["error"]


def test_half_configured_channel_fails_at_start_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        WhatsAppInput.from_credentials(
            {
                "verify_token": "v",
                "app_secret": "s",
                "access_token": "t",
                "phone_number_id": "",
            }
        )
    assert err.value.key == "connectors.whatsapp.WhatsAppInput.phone_number_id"
    assert "WHATSAPP_PHONE_NUMBER_ID" in str(err.value)


def test_parse_notification_rejects_a_non_object_message() -> None:
    body = notification()
    body["entry"][0]["changes"][0]["value"]["messages"] = ["hello"]
    with pytest.raises(BadPayload, match=r"messages\[0\] must be an object"):
        parse_notification(body)
