"""Web chat channel: Rasa's REST protocol with validation, history and hours status.

The page in connectors/webchat_static talks to three routes under ``/webhooks/webchat``:

``POST /webhook``
    ``{"sender", "message", "message_id"?, "metadata"?}`` → Rasa's list of bot messages.
    Compared with Rasa's own ``rest`` channel (not enabled: docs/webhook-safety.md) this
    one rejects what it cannot process with a 4xx and a JSON reason (Rasa's answers 200
    with an empty list when the body has no sender, merging strangers into one "default"
    chat): only application/json (415 otherwise, which also keeps cross-site forms out),
    valid UTF-8 everywhere and bounded nesting (connectors/webhook.parse_json), size caps
    (413) so a 10 MB paste never reaches NLU; the server, not the body, decides the
    channel and metadata; typed ``/intent`` text is text (connectors/guard.py). It answers
    503 when the turn was not done (an action or the tracker store failed; nothing was
    stored, bot/tracker_store.run_turn) and 500 on anything else, so the client retries
    instead of believing the bot had nothing to say; passes the browser locale on as a
    language hint. A ``message_id`` makes retries safe: a message whose id the
    conversation already holds is not processed again (a browser that lost the reply on
    a dropped connection resends the same id), the replies it got are returned instead.
    The check and the turn run under one lock per conversation (Rasa's lock store, key
    ``webchat-dedupe:<sender>``), so simultaneous duplicates are processed once.
``GET /history?sender=<token>&since=<unix time>``
    The conversation as the customer saw it, from Rasa's tracker store: customer and bot
    messages after ``since`` and the conversation's ``language`` slot. Messages that do
    not come back as the reply to a POST (a human agent's reply sent through Rasa's HTTP
    API, a reminder) reach the page this way, and a reloaded page restores the chat.
``GET /status?language=<code>``
    Business hours now (bot.hours), so the page can say whether a person is available.

Web chat sender ids cannot contain ``:``: the other channels' conversations are
``<channel>:<platform id>``, so no web chat request can write to or read them.
The sender id is the only secret of a web conversation: the page makes it from 128
random bits (``crypto.getRandomValues``) and keeps it in localStorage. ``/history``
therefore demands a token-length sender (``HISTORY_MIN_SENDER_CHARS``, 400 otherwise)
and only shows conversations that came in over this channel: an unknown id and another
channel's conversation (a Telegram chat id is easy to guess) get the same empty chat, so
the endpoint reveals nothing about which ids exist. Conversations started over POST with
a short id ("me" in a curl example) work, but their history cannot be read back.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from rasa.core.lock_store import LockError
from rasa.shared.core.constants import IS_EXTERNAL
from rasa.shared.core.events import BotUttered, Event, UserUttered
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import clock
from bot.hours import BusinessHours, format_opening
from bot.settings import load_settings
from bot.tracker_store import TurnFailed, run_turn
from connectors.guard import TYPED_TEXT_KEY, offered_payloads, screen, screened_metadata
from connectors.webhook import json_error, parse_json, sent_as_json

logger = logging.getLogger(__name__)

#: Longest message accepted, in characters; chat messages are short, pastes are not.
MAX_MESSAGE_CHARS = 4000
#: Longest request body accepted, in bytes (message + metadata + JSON overhead).
MAX_BODY_BYTES = 64 * 1024
#: Shortest sender id whose history is served. The page's ids are "web-" + 32 hex digits
#: (128 random bits); short ids ("me", a phone number) are guessable, so their
#: conversations can still be held over POST but never read back over GET.
HISTORY_MIN_SENDER_CHARS = 20
#: Longest button title kept as the text the customer "said" when clicking a button.
MAX_TITLE_CHARS = 200
#: How often a request waiting for the same conversation's dedupe lock looks again.
LOCK_POLL_SECONDS = 0.05
#: The conversation slot that holds the reply language (domain.yml).
LANGUAGE_SLOT = "language"

#: Web chat ids have no ":": the other channels' ids are "<channel>:<platform id>"
#: (connectors/durable.py), so a web chat sender can never name their conversations.
_SENDER = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
_LOCALE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_SENDER_RULE = "1-128 characters of letters, digits, _.@- (no ':')"


class Inbound(NamedTuple):
    """A validated customer message, ready for Rasa."""

    sender: str
    text: str
    metadata: dict[str, Any]
    #: The page's own id for the message (retries send it again), or None.
    message_id: str | None


def parse_body(request: Request) -> Inbound | HTTPResponse:
    """Validate a webhook body; returns the message or the error response.

    Only ``sender``, ``message``, ``message_id`` and the ``locale``/``title`` hints of
    ``metadata`` are read; the channel name and the rest of the metadata are the
    server's (a client cannot choose ``input_channel``).
    """
    if len(request.body or b"") > MAX_BODY_BYTES:
        return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if not sent_as_json(request):
        # Also what keeps other web sites out: a cross-site form or text/plain POST
        # cannot send application/json without a CORS preflight.
        return json_error(415, "send the body as application/json")
    body = parse_json(request.body or b"")
    if isinstance(body, HTTPResponse):
        return body
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object")
    sender, text = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not _SENDER.fullmatch(sender):
        return json_error(400, f"'sender' must be {_SENDER_RULE}")
    if not isinstance(text, str) or not text.strip():
        return json_error(400, "'message' must be a non-empty string")
    if len(text) > MAX_MESSAGE_CHARS:
        return json_error(413, f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
    message_id = body.get("message_id")
    if message_id is not None and (
        not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id)
    ):
        return json_error(
            400, "'message_id' must be 8-64 characters of letters, digits, _-"
        )
    raw_meta = body.get("metadata") or {}
    if not isinstance(raw_meta, dict):
        return json_error(400, "'metadata' must be a JSON object")
    metadata: dict[str, Any] = {"channel": WebChatInput.name()}
    locale = raw_meta.get("locale")
    if isinstance(locale, str) and _LOCALE.fullmatch(locale):
        metadata["locale"] = locale
    title = raw_meta.get("title")
    if isinstance(title, str) and title.strip() and len(title) <= MAX_TITLE_CHARS:
        # The button the customer clicked: the transcript shows its title, not its
        # payload.
        metadata["title"] = title
    return Inbound(sender, text, metadata, message_id)


# ------------------------------------------------------------------- history


def _buttons(data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rasa buttons (and quick replies) as ``{"title", "payload"}`` pairs."""
    raw = data.get("buttons") or data.get("quick_replies") or []
    out = []
    for b in raw if isinstance(raw, list) else []:
        if isinstance(b, Mapping) and b.get("title") and b.get("payload"):
            out.append({"title": str(b["title"]), "payload": str(b["payload"])})
    return out


def history_messages(
    events: Iterable[Event], since: float | None = None
) -> list[dict[str, Any]]:
    """What the customer saw, oldest first: both sides' messages after ``since``.

    A customer message shows the title of the button they clicked (metadata ``title``)
    rather than its payload ("/affirm"). Bot events without text or buttons (pure custom
    payloads) are left out: the page could not show them. So are external user events
    (Rasa's ``trigger_intent``, e.g. the inbox asking for CSAT): triggers, not messages.
    """
    out: list[dict[str, Any]] = []
    for event in events:
        if since is not None and event.timestamp <= since:
            continue
        if (
            isinstance(event, UserUttered)
            and event.text
            and not (event.metadata or {}).get(IS_EXTERNAL)
        ):
            meta = event.metadata or {}
            title = meta.get("title") if isinstance(meta.get("title"), str) else None
            typed = meta.get(TYPED_TEXT_KEY)
            typed = typed if isinstance(typed, str) else None
            out.append(
                {
                    "from": "customer",
                    "text": title or typed or event.text,
                    "buttons": [],
                    "timestamp": event.timestamp,
                    "message_id": event.message_id,
                }
            )
        elif isinstance(event, BotUttered):
            buttons = _buttons(event.data or {})
            if event.text or buttons:
                out.append(
                    {
                        "from": "bot",
                        "text": event.text or "",
                        "buttons": buttons,
                        "timestamp": event.timestamp,
                    }
                )
    return out


def customer_channel(events: Iterable[Event]) -> str | None:
    """The channel of the customer's latest own message.

    Unlike Rasa's ``get_latest_input_channel`` this skips external triggers, whose
    channel is whatever output channel the caller of Rasa's API named.
    """
    channel = None
    for event in events:
        external = (getattr(event, "metadata", None) or {}).get(IS_EXTERNAL)
        if isinstance(event, UserUttered) and not external:
            channel = event.input_channel
    return channel


def parse_since(raw: str | None) -> float | HTTPResponse | None:
    """The ``since`` query value: a finite unix timestamp, or None when absent."""
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        return json_error(
            400, "'since' must be a unix timestamp in seconds, e.g. 1764061200.5"
        )
    return value


def history_sender(raw: str | None) -> str | HTTPResponse:
    """The ``sender`` query value, only when token-shaped (see the module docstring)."""
    if not raw or not _SENDER.fullmatch(raw) or len(raw) < HISTORY_MIN_SENDER_CHARS:
        return json_error(
            400,
            "'sender' must be the conversation's random token: "
            f"{HISTORY_MIN_SENDER_CHARS}-128 characters of letters, digits, _.@-",
        )
    return raw


# ------------------------------------------------------------------- hours


def hours_status(
    hours: BusinessHours, now: datetime, language: str | None
) -> dict[str, Any]:
    """Open now?, until when, next opening: ISO times plus phrases in ``language``."""
    status = hours.status(now)

    def phrase(dt: datetime | None) -> str | None:
        return format_opening(dt, language, now) if dt is not None else None

    return {
        "open": status.open,
        "timezone": hours.timezone.key,
        "now": now.astimezone(hours.timezone).isoformat(),
        "closes_at": status.closes_at.isoformat() if status.closes_at else None,
        "closes_at_text": phrase(status.closes_at),
        "next_opening": status.next_opening.isoformat()
        if status.next_opening
        else None,
        "next_opening_text": phrase(status.next_opening),
    }


# ------------------------------------------------------------------- channel


class WebChatOutput(CollectingOutputChannel):
    """Output for messages sent outside a POST's reply (agent replies, reminders).

    Rasa's HTTP API (``/conversations/{id}/execute?output_channel=latest``) asks the
    conversation's input channel for an output channel. The page reads every message
    from the tracker (``/history``), where Rasa records them as ``BotUttered`` events
    whatever the channel does, so collecting them here is all that is needed: nothing
    is pushed, and nothing can fail on the way.
    """

    @classmethod
    def name(cls) -> str:
        return WebChatInput.name()


class WebChatInput(InputChannel):
    """``connectors.webchat.WebChatInput`` in credentials.yml; no credentials needed.

    Business hours come from supportbot.yml (``$SUPPORTBOT_CONFIG``), read once at
    start-up so a broken ``business_hours`` section stops the server with a ConfigError
    naming the key, not the first customer who opens the page.
    """

    def __init__(self, hours: BusinessHours | None = None) -> None:
        self.hours = hours

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebChatInput:
        settings = load_settings()
        return cls(BusinessHours.from_section(settings.section("business_hours")))

    def get_output_channel(self) -> OutputChannel:
        return WebChatOutput()

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
            agent = request.app.ctx.agent
            collector = CollectingOutputChannel()
            earlier: list[list[dict[str, Any]]] = []

            async def handle(inbound: Inbound) -> None:
                # Runs under the dedupe lock, inside the turn scope: a store error
                # here fails the turn (503) instead of answering a blank conversation.
                tracker = await agent.tracker_store.retrieve(inbound.sender)
                events = list(tracker.events) if tracker is not None else []
                if inbound.message_id is not None:
                    replies = replies_to(events, inbound.sender, inbound.message_id)
                    if replies is not None:
                        earlier.append(replies)
                        return
                screened = screen(inbound.text, offered_payloads(events))
                await on_new_message(
                    UserMessage(
                        screened.text,
                        collector,
                        inbound.sender,
                        input_channel=self.name(),
                        message_id=inbound.message_id,
                        metadata=screened_metadata(inbound.metadata, screened),
                    )
                )

            try:
                # Check and processing are one step per conversation: two requests
                # with the same message id at the same moment run one after the other,
                # and the second finds the first's turn. A key of its own, so Rasa's
                # per-conversation lock (taken inside on_new_message) cannot deadlock.
                async with agent.lock_store.lock(
                    dedupe_lock_key(self.name(), parsed.sender),
                    wait_time_in_seconds=LOCK_POLL_SECONDS,
                ):
                    await run_turn(handle, parsed)
            except (TurnFailed, LockError) as failed:
                logger.warning(
                    "webchat: the turn of %s was not done (%s); the page retries",
                    parsed.sender,
                    failed,
                )
                return json_error(
                    503,
                    "the message could not be processed now; nothing was stored, "
                    "retry with the same message_id",
                )
            except Exception:
                logger.exception(
                    "webchat: processing a message from %s failed", parsed.sender
                )
                return json_error(500, "the message could not be processed; please retry")
            if earlier:
                return response.json(earlier[0], headers={"X-Duplicate": "true"})
            return response.json(collector.messages)

        @bp.route("/history", methods=["GET"])
        async def history(request: Request) -> HTTPResponse:
            sender = history_sender(request.args.get("sender"))
            if isinstance(sender, HTTPResponse):
                return sender
            since = parse_since(request.args.get("since"))
            if isinstance(since, HTTPResponse):
                return since
            # Every session: a customer back after the session expired still sees the
            # earlier turns.
            store = request.app.ctx.agent.tracker_store
            tracker = await store.retrieve_full_tracker(sender)
            if tracker is None or customer_channel(tracker.events) != self.name():
                # Unknown and foreign conversations look the same: a fresh chat.
                return response.json(
                    {"sender": sender, "messages": [], "language": None}
                )
            return response.json(
                {
                    "sender": sender,
                    "messages": history_messages(tracker.events, since),
                    "language": tracker.get_slot(LANGUAGE_SLOT),
                }
            )

        @bp.route("/status", methods=["GET"])
        async def status(request: Request) -> HTTPResponse:
            if self.hours is None:
                return json_error(404, "business hours are not configured for this channel")
            language = request.args.get("language") or None
            if language is not None and not _LOCALE.fullmatch(language):
                return json_error(
                    400, "'language' must be a language code such as sl or ar-EG"
                )
            return response.json(hours_status(self.hours, clock.now(), language))

        return bp


def dedupe_lock_key(channel: str, sender: str) -> str:
    """The lock store key under which a conversation's message ids are checked."""
    return f"{channel}-dedupe:{sender}"


def replies_to(
    events: Iterable[Event], sender: str, message_id: str
) -> list[dict[str, Any]] | None:
    """The bot's replies to an already processed message, or None when it is new."""
    replies: list[dict[str, Any]] | None = None
    for event in events:
        if isinstance(event, UserUttered):
            if replies is not None:
                break
            if event.message_id == message_id:
                replies = []
        elif replies is not None and isinstance(event, BotUttered):
            buttons = _buttons(event.data or {})
            if buttons:
                replies.append(
                    {"recipient_id": sender, "text": event.text or "", "buttons": buttons}
                )
            elif event.text:
                # As Rasa's CollectingOutputChannel.send_text_message sent it the first
                # time: one message per paragraph.
                replies.extend(
                    {"recipient_id": sender, "text": part}
                    for part in event.text.strip().split("\n\n")
                )
    return replies
