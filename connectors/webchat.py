"""Web chat channel: Rasa's REST protocol with validation and honest errors.

The page in connectors/webchat_static posts ``{"sender", "message", "metadata"}`` to
``/webhooks/webchat/webhook`` and gets Rasa's list of bot messages back. Compared with
Rasa's own ``rest`` channel this one
- rejects what it cannot process with a 4xx and a JSON reason (Rasa's answers 200 with an
  empty list when the body has no sender, merging strangers into one "default" chat);
- caps the message size (413) so a 10 MB paste never reaches NLU;
- answers 500 when processing failed, so the client knows to retry instead of believing
  the bot had nothing to say;
- passes the browser locale on as a language hint and tags the channel in metadata.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

#: Longest message accepted, in characters; chat messages are short, pastes are not.
MAX_MESSAGE_CHARS = 4000
#: Longest request body accepted, in bytes (message + metadata + JSON overhead).
MAX_BODY_BYTES = 64 * 1024
_SENDER = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


def _error(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


def parse_body(request: Request) -> tuple[str, str, dict[str, Any]] | HTTPResponse:
    """Validate a webhook body; returns (sender, text, metadata) or the error response."""
    if len(request.body or b"") > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _error(415, "send the body as application/json")
    try:
        body = request.json
    except Exception:  # sanic raises InvalidUsage with varying messages
        return _error(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not _SENDER.match(sender):
        return _error(400, "'sender' must be 1-128 characters of letters, digits, _.:@-")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "'message' must be a non-empty string")
    if len(text) > MAX_MESSAGE_CHARS:
        return _error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
    raw_meta = body.get("metadata") or {}
    if not isinstance(raw_meta, dict):
        return _error(400, "'metadata' must be a JSON object")
    metadata: dict[str, Any] = {"channel": WebChatInput.name()}
    locale = raw_meta.get("locale")
    if isinstance(locale, str) and _LOCALE.match(locale):
        metadata["locale"] = locale
    return sender, text, metadata


class WebChatInput(InputChannel):
    """``connectors.webchat.WebChatInput`` in credentials.yml; no credentials needed."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        bp = Blueprint("webchat_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            parsed = parse_body(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, text, metadata = parsed
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        text, collector, sender, input_channel=self.name(), metadata=metadata
                    )
                )
            except Exception:
                logger.exception("webchat: processing a message from %s failed", sender)
                return _error(500, "the message could not be processed; please retry")
            return response.json(collector.messages)

        return bp
