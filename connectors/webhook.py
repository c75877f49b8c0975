"""What every channel's webhook does the same way: JSON refusals and reading a JSON body.

A refusal is a 4xx (or 503) with ``{"error": reason}``, never Rasa's 200 "not validated",
so that a platform's delivery log or a developer's curl says what was wrong. The checks
that differ per platform (signature, secret header, size limit) stay in the channel,
in the order its platform documents.
"""

from __future__ import annotations

from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import strict_json


def json_error(status: int, reason: str) -> HTTPResponse:
    """The answer refusing a request: ``status`` and ``{"error": reason}``."""
    return response.json({"error": reason}, status=status)


def sent_as_json(request: Request) -> bool:
    """Whether the request's Content-Type is application/json (charset and case aside)."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    return content_type == "application/json"


def parse_json(raw: bytes) -> Any | HTTPResponse:
    """``raw`` parsed, or the 400 refusing it with the reason (:mod:`connectors.strict_json`).

    One rule for every webhook body: UTF-8 JSON our stores can hold (no lone surrogates,
    no NUL, no NaN, bounded nesting). Telegram and WhatsApp call ``strict_json`` directly
    because they answer an authentic unsafe body differently (kept and acknowledged).
    """
    try:
        return strict_json.loads(raw)
    except strict_json.UnsafeJSON as exc:
        return json_error(400, str(exc))
