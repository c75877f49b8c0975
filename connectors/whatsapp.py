"""WhatsApp channel in the shape of Meta's Cloud API (webhook in, Graph API out).

credentials.yml::

    connectors.whatsapp.WhatsAppInput:
      verify_token: ${WHATSAPP_VERIFY_TOKEN}        # any string; also in Meta's console
      app_secret: ${WHATSAPP_APP_SECRET}            # App settings > Basic > App secret
      access_token: ${WHATSAPP_ACCESS_TOKEN}        # system-user token
      phone_number_id: ${WHATSAPP_PHONE_NUMBER_ID}  # the business number's id
      # graph_base_url: https://graph.facebook.com
      # api_version: v21.0
      # state_db: var/whatsapp.sqlite3

Why not Rasa's ``facebook``/``twilio`` channels: they answer 200 to a bad signature,
compare signatures with ``==``, send synchronously while the webhook waits, and process
Meta's retries of the same message again.

In (``/webhooks/whatsapp/webhook``):

* GET: Meta's verification handshake. ``hub.mode=subscribe`` and the right
  ``hub.verify_token`` (constant-time compare) -> 200 with ``hub.challenge``; else 403.
* POST: ``X-Hub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of the raw body with the
  app secret, is checked first, as bytes in constant time (missing: 401, wrong or not
  even ASCII: 403). The whole body is then parsed as strict JSON
  (:mod:`connectors.strict_json`: UTF-8, no lone surrogates or NUL, bounded depth) and
  validated (wa_ids are digits, wamids printable ASCII, timestamps Unix seconds). An
  authentic body that fails is kept in the state db's ``rejected`` table and answered
  200 ``{"status": "rejected"}``: Meta redelivers anything but a 2xx for up to 7 days,
  and redelivery cannot fix it. Messages for another ``phone_number_id`` (one Meta app
  can serve several numbers) are acknowledged and not processed (``ignored``); messages
  older than ``max_message_age_seconds`` (default 24 h, WhatsApp's customer service
  window, after which only template messages may be sent) are kept as rejected and not
  answered (``stale``). Each remaining message is stored once under its ``wamid``
  (:mod:`connectors.durable`) and the answer is 200 at once, as Meta asks; the bot's
  turn runs in the background and is retried until it completes. Status callbacks
  (sent/delivered/read) and reactions are
  acknowledged and ignored. Text is the message; a reply button or list row sends its
  id (the Rasa payload); images, audio, stickers, locations ... become
  ``/unsupported_content`` (answered politely in the conversation's language), except
  that a caption is read as text.

Out (:class:`WhatsAppOutput`):
``POST {graph_base_url}/{api_version}/{phone_number_id}/messages`` with the Bearer
token: text (split at 4096 characters); Rasa buttons as up to 3 reply buttons when
every title fits 20 characters, else as an interactive list (up to 10 rows, 24-character
titles, the full title in the row's description). 5xx, 429 and network errors are
retried with exponential backoff, honouring ``Retry-After``; each reply is recorded once
accepted, so a turn processed again after a crash does not send it twice.

Sender ids are ``whatsapp:<wa_id>``; the ``wamid`` becomes Rasa's ``message_id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.language import LanguageDetector
from connectors import strict_json
from connectors.credentials import ChannelCredentials, Secret, equal_bytes
from connectors.durable import (
    ChannelStore,
    Replies,
    RetryPolicy,
    inbound_item,
    reject,
    user_message,
    worker_blueprint,
)
from connectors.guard import UNSUPPORTED_CONTENT as UNSUPPORTED
from connectors.webhook import json_error, sent_as_json

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
CLASS_PATH = "connectors.whatsapp.WhatsAppInput"
SIGNATURE_HEADER = "X-Hub-Signature-256"
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
#: Secrets and the environment variables README tells operators to set.
SECRETS = {
    "verify_token": "WHATSAPP_VERIFY_TOKEN",
    "app_secret": "WHATSAPP_APP_SECRET",
    "access_token": "WHATSAPP_ACCESS_TOKEN",
    "phone_number_id": "WHATSAPP_PHONE_NUMBER_ID",
}
#: Largest webhook body accepted. Meta batches at most a few messages (~10 kB).
MAX_BODY_BYTES = 256 * 1024
#: Cloud API limits.
MAX_TEXT_CHARS = 4096
MAX_BODY_TEXT_CHARS = 1024  # body of an interactive message
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE_CHARS = 20
MAX_LIST_ROWS = 10
ROW_TITLE_CHARS = 24
ROW_DESCRIPTION_CHARS = 72
ROW_ID_CHARS = 200
#: Label of the button that opens a list, in the language of the message (20 chars).
LIST_LABELS = {"en": "Options", "ar": "الخيارات", "sl": "Možnosti"}
#: Oldest customer message answered, in seconds (``max_message_age_seconds``). Meta
#: redelivers for up to 7 days, but a business may send free-form replies only within
#: 24 hours of the customer's last message (WhatsApp's customer service window): an
#: older message cannot be answered, so it is kept as rejected ("stale") instead.
MAX_MESSAGE_AGE = 24 * 3600
#: A customer's wa_id is a phone number in international format, digits only.
_WA_ID = re.compile(r"^[0-9]{4,20}$")
#: Message ids (wamid...): printable ASCII without spaces, bounded.
_WAMID = re.compile(r"^[!-~]{1,256}$")
#: Message types that carry no question for the bot: acknowledged, not processed.
IGNORED_TYPES = frozenset({"reaction", "system", "request_welcome"})


class BadPayload(ValueError):
    """The webhook body is not a WhatsApp Cloud API notification; the text says why."""


# --------------------------------------------------------------------------- inbound


def signature_ok(app_secret: Secret, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=`` + HMAC-SHA256(body, app secret).

    Compared as bytes in constant time (:func:`~connectors.credentials.equal_bytes`), so a
    header with non-ASCII characters is a wrong signature (403), not a TypeError (500).
    """
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.reveal().encode(), body, hashlib.sha256).hexdigest()
    return equal_bytes(header[len("sha256=") :].strip().lower(), expected)


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body`` (tests, tools)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BadPayload(f"{where}.{key} must be a non-empty string")
    return value


Expand = Callable[[str], "str | None"]


def _message_text(
    message: Mapping[str, Any], where: str, expand: Expand | None
) -> tuple[str, str] | None:
    """(text, content type) for one message; None for types the bot ignores."""
    kind = message.get("type")
    if not isinstance(kind, str):
        raise BadPayload(f"{where}.type must be a string")
    if kind in IGNORED_TYPES:
        return None
    if kind == "text":
        text = message.get("text")
        if not isinstance(text, Mapping):
            raise BadPayload(f"{where}.text must be an object with a body")
        return _str(text, "body", f"{where}.text"), "text"
    if kind == "interactive":
        interactive = message.get("interactive")
        if not isinstance(interactive, Mapping):
            raise BadPayload(f"{where}.interactive must be an object")
        sub = interactive.get("type")
        reply = interactive.get(sub) if isinstance(sub, str) else None
        if sub not in ("button_reply", "list_reply") or not isinstance(reply, Mapping):
            return UNSUPPORTED, f"interactive:{sub}"  # e.g. a Flow's nfm_reply
        payload = _str(reply, "id", f"{where}.interactive.{sub}")
        if expand is not None:  # a stored long payload; a lost key: the title
            full = expand(payload)
            payload = full if full is not None else str(reply.get("title") or payload)
        return payload, sub
    if kind == "button":  # quick-reply button of a template message
        button = message.get("button")
        if not isinstance(button, Mapping):
            raise BadPayload(f"{where}.button must be an object")
        pressed = button.get("payload") or button.get("text")
        if not isinstance(pressed, str) or not pressed:
            raise BadPayload(f"{where}.button needs a payload or text")
        return pressed, "button"
    media = message.get(kind)
    caption = media.get("caption") if isinstance(media, Mapping) else None
    if isinstance(caption, str) and caption.strip():
        return caption, kind
    return UNSUPPORTED, kind


@dataclass
class Notification:
    """What a webhook body holds for the bot.

    ``items``: customer messages to process, normalised ``{sender, text, message_id,
    metadata}``; ``stale``: messages older than the allowed age (not processed);
    ``foreign``: messages addressed to another business number (not ours to answer).
    """

    items: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    foreign: int = 0


def _timestamp(message: Mapping[str, Any], where: str) -> int:
    value = message.get("timestamp")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return value
    raise BadPayload(f"{where}.timestamp must be Unix seconds as a string of digits")


def parse_notification(
    body: Any,
    expand: Expand | None = None,
    *,
    phone_number_id: str | None = None,
    now: float | None = None,
    max_age: float = MAX_MESSAGE_AGE,
) -> Notification:
    """Every customer message in a webhook body, normalised; statuses are skipped.

    The whole body is checked before anything is returned, so a malformed notification
    is refused as a whole. ``expand`` turns a short button id back into the payload it
    stands for. Messages to a number other than ``phone_number_id`` (when given; one
    Meta app can serve several numbers) are counted as foreign, messages older than
    ``max_age`` seconds before ``now`` as stale.

    Raises:
        BadPayload: not a ``whatsapp_business_account`` notification, or a malformed
            message.
    """
    if (
        not isinstance(body, Mapping)
        or body.get("object") != "whatsapp_business_account"
    ):
        raise BadPayload("'object' must be 'whatsapp_business_account'")
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise BadPayload("'entry' must be a list")
    now = time.time() if now is None else now
    out = Notification()
    for e, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, Mapping) else None
        if not isinstance(changes, list):
            raise BadPayload(f"entry[{e}].changes must be a list")
        for c, change in enumerate(changes):
            where = f"entry[{e}].changes[{c}]"
            value = change.get("value") if isinstance(change, Mapping) else None
            if not isinstance(value, Mapping):
                raise BadPayload(f"{where}.value must be an object")
            if change.get("field") != "messages":
                continue  # account or template updates: not a conversation
            meta = value.get("metadata")
            phone_id = (
                meta.get("phone_number_id") if isinstance(meta, Mapping) else None
            )
            messages = value.get("messages") or []
            if not isinstance(messages, list):
                raise BadPayload(f"{where}.value.messages must be a list")
            ours = phone_number_id is None or phone_id == phone_number_id
            for m, message in enumerate(messages):
                mwhere = f"{where}.value.messages[{m}]"
                if not isinstance(message, Mapping):
                    raise BadPayload(f"{mwhere} must be an object")
                wamid = _str(message, "id", mwhere)
                if not _WAMID.match(wamid):
                    raise BadPayload(f"{mwhere}.id must be 1-256 printable ASCII characters")
                sender = _str(message, "from", mwhere)
                if not _WA_ID.match(sender):
                    raise BadPayload(f"{mwhere}.from must be a wa_id (4-20 digits)")
                sent_at = _timestamp(message, mwhere)
                parsed = _message_text(message, mwhere, expand)
                if parsed is None:
                    continue
                if not ours:
                    out.foreign += 1
                    continue
                text, content = parsed
                metadata: dict[str, Any] = {
                    "channel": CHANNEL,
                    "message_id": wamid,
                    "content_type": content,
                    "timestamp": sent_at,
                }
                if isinstance(phone_id, str):
                    metadata["phone_number_id"] = phone_id
                context = message.get("context")
                if isinstance(context, Mapping) and isinstance(context.get("id"), str):
                    metadata["reply_to"] = context["id"]
                item = inbound_item(CHANNEL, sender, text, wamid, metadata)
                (out.stale if now - sent_at > max_age else out.items).append(item)
    return out


# -------------------------------------------------------------------------- outbound


class WhatsAppSendError(RuntimeError):
    """Graph did not take a message after every retry (the turn is marked failed)."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def wa_id_of(recipient_id: str) -> str:
    """``whatsapp:38640123456`` (our sender ids) or a bare number -> Graph's ``to``."""
    prefix = f"{CHANNEL}:"
    return (
        recipient_id[len(prefix) :] if recipient_id.startswith(prefix) else recipient_id
    )


def text_messages(to: str, text: str) -> list[dict[str, Any]]:
    """Graph bodies for a text, split at 4096 characters."""
    pieces, rest = [], text
    while len(rest) > MAX_TEXT_CHARS:
        cut = rest.rfind(" ", 0, MAX_TEXT_CHARS)
        cut = cut if cut > MAX_TEXT_CHARS // 2 else MAX_TEXT_CHARS
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": piece},
        }
        for piece in pieces
        if piece
    ]


def needs_list(buttons: list[tuple[str, str]]) -> bool:
    """Whether ``(title, id)`` buttons do not fit WhatsApp's reply buttons."""
    return len(buttons) > MAX_REPLY_BUTTONS or any(
        len(title) > BUTTON_TITLE_CHARS for title, _ in buttons
    )


def button_messages(
    to: str,
    text: str,
    buttons: list[tuple[str, str]],
    list_label: str,
) -> list[dict[str, Any]]:
    """Graph bodies for a text with ``(title, id)`` buttons.

    Up to 3 buttons whose titles fit 20 characters: reply buttons. Otherwise an
    interactive list (10 rows per message; more rows continue in another list), row
    titles cut to 24 characters with the full title as the description. A text longer
    than an interactive body (1024) is sent as text first.
    """
    out: list[dict[str, Any]] = []
    body = text or "…"
    if len(body) > MAX_BODY_TEXT_CHARS:
        out.extend(text_messages(to, body))
        body = "…"
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    if not needs_list(buttons):
        out.append(
            {
                **base,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": body},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": bid, "title": title}}
                            for title, bid in buttons
                        ]
                    },
                },
            }
        )
        return out
    for start in range(0, len(buttons), MAX_LIST_ROWS):
        rows = []
        for title, bid in buttons[start : start + MAX_LIST_ROWS]:
            row = {"id": bid, "title": _cut(title, ROW_TITLE_CHARS)}
            if len(title) > ROW_TITLE_CHARS:
                row["description"] = _cut(title, ROW_DESCRIPTION_CHARS)
            rows.append(row)
        out.append(
            {
                **base,
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": body if start == 0 else "…"},
                    "action": {
                        "button": _cut(list_label, BUTTON_TITLE_CHARS),
                        "sections": [{"title": _cut(list_label, 24), "rows": rows}],
                    },
                },
            }
        )
    return out


class GraphClient:
    """Posts messages to the Cloud API with retries; one httpx client, made lazily.

    Args:
        base_url: Graph URL, e.g. https://graph.facebook.com.
        api_version: e.g. v21.0.
        phone_number_id: the business number's id.
        access_token: Bearer token.
        max_attempts: tries per message for 5xx, 429 and network errors.
        backoff: first wait, doubled after each failure (``Retry-After`` wins).
        max_wait: longest single wait in seconds.
    """

    def __init__(
        self,
        base_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: Secret,
        *,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 30.0,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/{api_version}/{phone_number_id}/messages"
        self._token = access_token
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0))
        return self._http

    def _wait(self, resp: httpx.Response | None, delay: float) -> float:
        if resp is not None:
            raw = resp.headers.get("Retry-After")
            if raw is not None:
                try:
                    return min(max(float(raw), 0.0), self.max_wait)
                except ValueError:
                    pass
        return min(delay, self.max_wait)

    async def send(self, body: dict[str, Any]) -> str | None:
        """POST one message; the wamid Graph gave it, or None if Graph refused it (4xx).

        Raises:
            WhatsAppSendError: still failing (5xx, 429, network) after every attempt.
        """
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        delay = self.backoff
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            resp: httpx.Response | None = None
            try:
                resp = await self._client().post(self.url, json=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 300:
                    try:
                        return str(resp.json()["messages"][0]["id"])
                    except (ValueError, KeyError, IndexError, TypeError):
                        return ""
                problem = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code != 429 and resp.status_code < 500:
                    logger.error(
                        "whatsapp: Graph refused a message to %s, not retried: %s",
                        body.get("to"),
                        problem,
                    )
                    return None
            if attempt < self.max_attempts:
                wait = self._wait(resp, delay)
                logger.warning(
                    "whatsapp: send to %s failed (%s); retry %d in %.2f s",
                    body.get("to"),
                    problem,
                    attempt,
                    wait,
                )
                await asyncio.sleep(wait)
                delay *= 2
        raise WhatsAppSendError(
            f"whatsapp: gave up on a message to {body.get('to')} after "
            f"{self.max_attempts} tries: {problem}"
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class WhatsAppOutput(OutputChannel):
    """Sends the bot's replies to one WhatsApp user; each reply at most once per turn.

    Args:
        client: the shared GraphClient.
        store: where sent replies and long button ids are recorded.
        reply_prefix: the inbound wamid; the n-th reply of the turn has key
            ``<prefix>:<n>``, so a turn processed again skips what was delivered.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(
        self,
        client: GraphClient,
        store: ChannelStore | None = None,
        reply_prefix: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.reply_prefix = reply_prefix or f"out-{uuid.uuid4().hex}"
        self._replies = Replies(store, self.reply_prefix, CHANNEL)

    async def _post(self, body: dict[str, Any]) -> None:
        async def deliver(key: str | None) -> str | None:
            # Lets the status callbacks of this reply be matched to it.
            return await self.client.send({**body, "biz_opaque_callback_data": key})

        await self._replies.send(deliver)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        for body in text_messages(wa_id_of(recipient_id), text):
            await self._post(body)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        pairs: list[tuple[str, str]] = []
        for button in buttons:
            title = str(button.get("title") or button.get("payload") or "?")
            if button.get(
                "url"
            ):  # no URL buttons in interactive messages: link in text
                text = f"{text}\n{title}: {button['url']}"
                continue
            # Row ids are the tighter limit, and a list may be used whatever the count.
            payload = str(button.get("payload") or title)
            if self.store is not None:
                payload = self.store.short_payload(payload, ROW_ID_CHARS)
            pairs.append((title, payload[:ROW_ID_CHARS]))
        to = wa_id_of(recipient_id)
        if not pairs:
            await self.send_text_message(recipient_id, text)
            return
        # The label is only needed (and the language only detected) for a list.
        label = list_label(text, kwargs.get("language")) if needs_list(pairs) else ""

        for body in button_messages(to, text, pairs, label):
            await self._post(body)


_label_detector: LanguageDetector | None = None


def list_label(text: str, language: str | None = None) -> str:
    """The list button's label in the message's language (detected if not given)."""
    global _label_detector
    if language not in LIST_LABELS:
        if _label_detector is None:
            _label_detector = LanguageDetector(list(LIST_LABELS), default="en")
        language = _label_detector.detect(text).language
    return LIST_LABELS.get(language or "en", LIST_LABELS["en"])


# --------------------------------------------------------------------------- channel


class WhatsAppInput(InputChannel):
    """``connectors.whatsapp.WhatsAppInput`` in credentials.yml (see the module doc)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WhatsAppInput:
        creds = ChannelCredentials(CLASS_PATH, credentials)
        state_db = creds.path("state_db", "var/whatsapp.sqlite3")
        if not creds.enabled(SECRETS):
            logger.warning(
                "whatsapp channel disabled: %s not set (webhook answers 503)",
                ", ".join(SECRETS.values()),
            )
            return cls(None, Secret(""), Secret(""), state_db)
        phone_number_id = creds.secret("phone_number_id").reveal()
        client = GraphClient(
            creds.url("graph_base_url", DEFAULT_GRAPH_URL),
            creds.text("api_version", DEFAULT_API_VERSION),
            phone_number_id,
            creds.secret("access_token"),
            max_attempts=int(creds.number("max_attempts", 5, minimum=1)),
            backoff=creds.number("retry_backoff_seconds", 0.5),
            max_wait=creds.number("max_retry_wait", 30.0),
        )
        return cls(
            client,
            creds.secret("verify_token"),
            creds.secret("app_secret"),
            state_db,
            phone_number_id=phone_number_id,
            max_age=creds.number("max_message_age_seconds", MAX_MESSAGE_AGE, minimum=60),
            policy=creds.retry_policy(),
        )

    def __init__(
        self,
        client: GraphClient | None,
        verify_token: Secret,
        app_secret: Secret,
        state_db: Path,
        *,
        phone_number_id: str | None = None,
        max_age: float = MAX_MESSAGE_AGE,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.phone_number_id = phone_number_id
        self.max_age = max_age
        self.policy = policy or RetryPolicy()
        self.verify_token = verify_token
        self.app_secret = app_secret
        self.store = ChannelStore(state_db)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def get_output_channel(self) -> OutputChannel | None:
        """For messages Rasa sends on its own (agent replies from the inbox)."""
        return WhatsAppOutput(self.client, self.store) if self.client else None

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        not_configured = "the whatsapp channel is not configured: set " + ", ".join(
            SECRETS.values()
        )

        async def process(wamid: str, item: dict[str, Any]) -> None:
            assert self.client is not None
            output = WhatsAppOutput(self.client, self.store, reply_prefix=wamid)
            await on_new_message(user_message(item, output, CHANNEL))

        async def close_client() -> None:
            if self.client is not None:
                await self.client.close()

        bp, worker = worker_blueprint(
            CHANNEL,
            self.store,
            process,
            enabled=lambda: self.enabled,
            close_client=close_client,
            policy=self.policy,
        )

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.enabled:
                return json_error(503, not_configured)
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token")
            challenge = request.args.get("hub.challenge")
            if mode != "subscribe" or not challenge:
                return json_error(403, "expected hub.mode=subscribe with a hub.challenge")
            if not self.verify_token.matches(token):
                return json_error(403, "hub.verify_token does not match")
            return response.text(challenge)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return json_error(503, not_configured)
            raw = request.body or b""
            if len(raw) > MAX_BODY_BYTES:
                return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
            header = request.headers.get(SIGNATURE_HEADER)
            if not header:
                return json_error(401, f"missing {SIGNATURE_HEADER}")
            if not signature_ok(self.app_secret, raw, header):
                return json_error(403, f"{SIGNATURE_HEADER} does not match the body")
            if not sent_as_json(request):
                return json_error(415, "send the notification as application/json")
            # From here the sender holds the app secret: it is Meta, which redelivers
            # anything but a 2xx for days. A body no redelivery can fix is kept, 200.
            try:
                found = parse_notification(
                    strict_json.loads(raw),
                    self.store.expand_payload,
                    phone_number_id=self.phone_number_id,
                    max_age=self.max_age,
                )
            except (strict_json.UnsafeJSON, BadPayload) as exc:
                return reject(self.store, CHANNEL, f"not a WhatsApp notification: {exc}", raw)
            if found.foreign:
                logger.info(
                    "whatsapp: ignored %d message(s) for another phone_number_id",
                    found.foreign,
                )
            for item in found.stale:
                self.store.reject(
                    f"stale: sent more than {self.max_age:.0f} s ago",
                    json.dumps(item, ensure_ascii=False).encode(),
                )
                logger.warning(
                    "whatsapp: message %s is older than %.0f s: not answered (kept as "
                    "rejected in %s)",
                    item["message_id"],
                    self.max_age,
                    self.store.path,
                )
            accepted = duplicates = 0
            for item in found.items:
                if self.store.accept(item["message_id"], item):
                    worker.submit(item["message_id"], item)
                    accepted += 1
                else:
                    duplicates += 1
            return response.json(
                {
                    "status": "ok",
                    "accepted": accepted,
                    "duplicates": duplicates,
                    "ignored": found.foreign,
                    "stale": len(found.stale),
                }
            )

        return bp
