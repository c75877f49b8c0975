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

from connectors.guard import MAX_JSON_DEPTH, check_text, json_depth


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
    400 when the body does not parse or is unsafe (:func:`parse_json`). The caller
    checks the shape.
    """
    if not sent_as_json(request):
        return json_error(415, f"send the {what} as application/json")
    return parse_json(request.body or b"")


def parse_json(raw: bytes) -> Any | HTTPResponse:
    """``raw`` parsed, or the 400 refusing it: what no webhook may store or process.

    Refused: bytes that are not UTF-8 JSON, nesting deeper than
    :data:`connectors.guard.MAX_JSON_DEPTH` (json's recursion ends in RecursionError,
    a 500, at a few thousand levels), and strings holding lone surrogates (a JSON
    escape of half a surrogate pair parses, but no database, platform or page can
    encode it).
    """
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return json_error(400, "body is not valid JSON")
    if json_depth(body) > MAX_JSON_DEPTH:
        return json_error(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
    reason = check_text(body, "body")
    if reason is not None:
        return json_error(400, reason)
    return body
