"""The web chat channel accepts well-formed messages and rejects everything else clearly."""

from __future__ import annotations

import json

import pytest
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.webchat import MAX_MESSAGE_CHARS, WebChatInput, parse_body

pytestmark = pytest.mark.rasa_env
APP = Sanic("webchat_test")


def request(body: bytes, content_type: str = "application/json") -> Request:
    req = Request(
        b"/webhooks/webchat/webhook", Header({"content-type": content_type}), "1.1", "POST",
        None, APP,  # type: ignore[arg-type]
    )
    req.body = body
    return req


def as_json(payload: object) -> bytes:
    return json.dumps(payload).encode()


def error_of(result: object) -> tuple[int, str]:
    assert isinstance(result, HTTPResponse), result
    return result.status, json.loads(result.body)["error"]


def test_channel_name_is_stable_because_it_is_part_of_the_webhook_url() -> None:
    assert WebChatInput.name() == "webchat"


def test_a_valid_message_yields_sender_text_and_channel_metadata() -> None:
    body = as_json({"sender": "web-1", "message": "kje je moj paket?",
                    "metadata": {"locale": "sl-SI", "evil": "x" * 50}})
    assert parse_body(request(body)) == (
        "web-1", "kje je moj paket?", {"channel": "webchat", "locale": "sl-SI"}
    )


@pytest.mark.parametrize("locale", ["<script>", "en us", "x" * 40, 7])
def test_a_malformed_locale_hint_is_dropped_not_trusted(locale: object) -> None:
    body = as_json({"sender": "web-1", "message": "hi", "metadata": {"locale": locale}})
    result = parse_body(request(body))
    assert not isinstance(result, HTTPResponse)
    assert "locale" not in result[2]


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
        (as_json({"sender": "a", "message": "x" * (MAX_MESSAGE_CHARS + 1)}), 413, "longer"),
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
    "text", ["👍", "مرحبا، أين طلبي؟", "\u202eevil rtl", "a\x00b", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
)
def test_naughty_but_valid_texts_pass_through_unchanged(text: str) -> None:
    result = parse_body(request(as_json({"sender": "s", "message": text})))
    assert not isinstance(result, HTTPResponse)
    assert result[1] == text
