"""What every channel's webhook does the same way: JSON refusals and reading a JSON body.

A refusal is a 4xx (or 503) with ``{"error": reason}``, never Rasa's 200 "not validated",
so that a platform's delivery log or a developer's curl says what was wrong. The checks
that differ per platform (signature, secret header, size limit) stay in the channel,
in the order its platform documents.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse


def json_error(status: int, reason: str) -> HTTPResponse:
    """The answer refusing a request: ``status`` and ``{"error": reason}``."""
    return response.json({"error": reason}, status=status)


def sent_as_json(request: Request) -> bool:
    """Whether the request's Content-Type is application/json (charset and case aside)."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    return content_type == "application/json"


def json_body(request: Request, what: str) -> Any | HTTPResponse:
    """The request's parsed JSON body, or the answer refusing it.

    415 when it is not sent as JSON (``what`` names the expected content in the reason),
    400 when the body does not parse. The caller checks the shape.
    """
    if not sent_as_json(request):
        return json_error(415, f"send the {what} as application/json")
    try:
        return json.loads(request.body or b"")
    except ValueError:
        return json_error(400, "body is not valid JSON")
