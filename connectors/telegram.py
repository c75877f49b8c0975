"""Telegram channel on python-telegram-bot: webhook in, Bot API out, polling for dev.

credentials.yml::

    connectors.telegram.TelegramInput:
      access_token: ${TELEGRAM_BOT_TOKEN}       # from @BotFather
      secret_token: ${TELEGRAM_WEBHOOK_SECRET}  # 1-256 of A-Z a-z 0-9 _ -
      # base_url: https://api.telegram.org/bot  # a local Bot API server or a stand-in
      # state_db: var/telegram.sqlite3

Why not Rasa's own ``telegram`` channel: it is built on aiogram, sets its webhook and
calls ``get_me`` over the network at start-up and on every update (it cannot start
offline), does not check Telegram's secret-token header and loses replies on 429.

In: Telegram POSTs an Update to ``/webhooks/telegram/webhook`` with the secret in
``X-Telegram-Bot-Api-Secret-Token`` (compared as bytes in constant time; wrong, missing
or not even text: 403). The body must be strict JSON (:mod:`connectors.strict_json`:
UTF-8, no lone surrogates or NUL, at most 32 levels deep) and an Update that
``telegram.Update.de_json`` parses; an authentic body that is not is kept in the state
db's ``rejected`` table and answered 200 ``{"status": "rejected"}`` (Telegram redelivers
anything else, and redelivery cannot fix it). A good update is normalised, stored once
under its *message* (``<chat id>:<message id>``, see :func:`dedupe_key`: the same message
redelivered under a new ``update_id`` is a duplicate) and answered 200; the bot's turn
runs in the background and is retried until it completes (:mod:`connectors.durable`).
What becomes a Rasa message:

* text (also edited messages, flagged ``edited`` in metadata); ``/start`` -> ``/greet``,
  other commands lose their slash so nobody can type an intent;
* a pressed inline button (callback query): answered with answerCallbackQuery so the
  client stops spinning, then its payload is the message;
* photos, stickers, voice notes ...: ``/unsupported_content`` (the bot answers politely
  in the conversation's language); a caption is used as the text instead.

Sender ids are ``telegram:<chat_id>``, so conversations never collide with other
channels; Telegram's message id becomes Rasa's ``message_id`` (the ticket transcript
shows it) and the user's ``language_code`` travels as metadata ``language_hint`` (the
language detector uses it only for undecidable first messages).

Out: :class:`TelegramOutput` sends text (split at 4096 characters) and Rasa buttons as
an inline keyboard. The ``telegram.Bot`` is created and initialised lazily on the first
call, never in a constructor. 429 ``RetryAfter``: wait as told and send again; network
errors: retry with backoff; ``Forbidden`` (the user blocked the bot): logged, dropped.

Development without a public URL: ``python -m connectors.telegram poll`` (or
``python -m bot run --telegram-polling``) fetches updates with getUpdates and forwards
each one to the running webhook, confirming it to Telegram only after the webhook
took it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from connectors import strict_json
from connectors.credentials import ChannelCredentials, Secret
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
T = TypeVar("T")

CHANNEL = "telegram"
CLASS_PATH = "connectors.telegram.TelegramInput"
#: Header in which Telegram repeats the secret_token given to setWebhook.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_BASE_URL = "https://api.telegram.org/bot"
#: Secrets and the environment variables README tells operators to set.
SECRETS = {
    "access_token": "TELEGRAM_BOT_TOKEN",
    "secret_token": "TELEGRAM_WEBHOOK_SECRET",
}
#: Largest update accepted. A 4096-character message with entities is ~30 kB.
MAX_BODY_BYTES = 256 * 1024
#: Telegram's limit for one text message, in characters.
MAX_TEXT_CHARS = 4096
#: Telegram's limit for callback_data, in bytes.
CALLBACK_DATA_BYTES = 64
#: Message fields that hold content the bot cannot read, in Telegram's names.
ATTACHMENTS = (
    "photo",
    "sticker",
    "voice",
    "video",
    "video_note",
    "audio",
    "document",
    "animation",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,64})(?:@\w+)?(?:\s+(.*))?$", re.S)
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


# --------------------------------------------------------------------------- inbound


class BadUpdate(ValueError):
    """An authentic body that is not a processable Telegram Update; the text says why."""


def dedupe_key(update: Update) -> str:
    """The key an update is processed once under: the message, not the delivery.

    ``update_id`` is Telegram's id for one *delivery*; the same message can come back
    under a new one (a webhook reset, switching between polling and a webhook). So a
    message is keyed by ``<chat id>:<message id>``, an edit by that plus its edit time
    (each edit is news), a button press by the callback query's id.
    """
    if update.callback_query is not None:
        return f"callback:{update.callback_query.id}"
    message = update.message or update.edited_message
    if message is None:
        return f"update:{update.update_id}"
    key = f"{message.chat.id}:{message.message_id}"
    if update.edited_message is not None:
        edited = message.edit_date
        key += f":edit:{int(edited.timestamp()) if edited else update.update_id}"
    return key


def command_text(text: str) -> str:
    """Bot commands as Rasa text: ``/start`` greets, ``/help me`` -> ``help me``.

    Rasa reads any text starting with ``/`` as an intent, so a typed ``/request_human``
    would skip NLU; commands keep their words instead.
    """
    match = _COMMAND.match(text.strip())
    if not match:
        return text
    command, rest = match.group(1).lower(), (match.group(2) or "").strip()
    if command == "start":
        return "/greet"
    return f"{command} {rest}".strip()


def attachment_kind(message: Message) -> str | None:
    """The first attachment type a message carries (``"photo"``...), if any."""
    for kind in ATTACHMENTS:
        value = getattr(message, kind, None)
        if value:
            return kind
    return None


def parse_update(
    update: Update, store: ChannelStore | None = None
) -> dict[str, Any] | None:
    """An update as ``{sender, text, message_id, metadata[, callback_query_id]}``.

    None for updates the bot has nothing to say to (channel posts, membership changes,
    service messages such as a pinned message).
    """
    metadata: dict[str, Any] = {"channel": CHANNEL, "update_id": update.update_id}
    query = update.callback_query
    if query is not None:
        if query.data is None:  # a game button: nothing to send to Rasa
            return None
        chat_id = query.message.chat.id if query.message else query.from_user.id
        payload = store.expand_payload(query.data) if store else query.data
        if payload is None:  # a key from a store that was wiped: use the button's title
            payload = _button_title(query.message, query.data) or query.data
        metadata.update(content_type="button", chat_id=chat_id)
        _add_hint(metadata, query.from_user.language_code)
        return inbound_item(
            CHANNEL,
            chat_id,
            payload,
            str(query.id),
            metadata,
            callback_query_id=query.id,
        )
    message = update.message or update.edited_message
    if message is None:
        return None
    kind = attachment_kind(message)
    if message.text:
        text, content = command_text(message.text), "text"
    elif kind and message.caption:
        text, content = message.caption, kind
    elif kind:
        text, content = UNSUPPORTED, kind
    else:
        return None
    metadata.update(
        content_type=content,
        chat_id=message.chat.id,
        message_id=str(message.message_id),
    )
    if update.edited_message is not None:
        metadata["edited"] = True
    if message.from_user is not None:
        _add_hint(metadata, message.from_user.language_code)
    return inbound_item(
        CHANNEL, message.chat.id, text, str(message.message_id), metadata
    )


def _add_hint(metadata: dict[str, Any], language_code: str | None) -> None:
    if language_code and re.fullmatch(
        r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*", language_code
    ):
        metadata["language_hint"] = language_code


def _button_title(message: Any, data: str) -> str | None:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == data:
                return str(button.text)
    return None


def chat_id_of(recipient_id: str) -> int | str:
    """``telegram:123`` (our sender ids) or a bare chat id -> the Bot API chat id."""
    raw = (
        recipient_id.split(":", 1)[1]
        if recipient_id.startswith(f"{CHANNEL}:")
        else recipient_id
    )
    try:
        return int(raw)
    except ValueError:
        return raw  # @channelusername


# -------------------------------------------------------------------------- outbound


class TelegramDeliveryError(RuntimeError):
    """A reply could not be delivered after every retry (the message stays 'failed')."""


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramClient:
    """One lazily initialised ``telegram.Bot`` with Telegram's error policy.

    Args:
        token: the bot token.
        base_url: Bot API URL (``{token}`` is substituted, else the token is appended).
        max_attempts: tries per call for RetryAfter and network errors.
        max_wait: longest honoured RetryAfter / backoff, in seconds.
        backoff: first backoff after a network error, doubled each time.
    """

    def __init__(
        self,
        token: Secret,
        base_url: str = DEFAULT_BASE_URL,
        *,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        backoff: float = 1.0,
    ) -> None:
        self._token = token
        self.base_url = base_url
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.backoff = backoff
        self._bot: Bot | None = None
        self._init_lock: asyncio.Lock | None = None

    async def bot(self) -> Bot:
        """The initialised Bot (getMe runs once, on first use, in the server loop)."""
        if self._init_lock is None:
            self._init_lock = asyncio.Lock()
        async with self._init_lock:
            if self._bot is None:
                self._bot = Bot(self._token.reveal(), base_url=self.base_url)
            await self._bot.initialize()
        return self._bot

    async def call(self, what: str, fn: Callable[[Bot], Awaitable[T]]) -> T | None:
        """Run one Bot API call; None when Telegram refuses it for good (logged).

        Raises:
            TelegramDeliveryError: still failing after ``max_attempts``.
        """
        delay = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            try:
                return await fn(await self.bot())
            except RetryAfter as exc:
                with warnings.catch_warnings():  # PTB deprecates the int form
                    warnings.simplefilter("ignore")
                    wait = _seconds(exc.retry_after)
                logger.warning(
                    "telegram: %s: flood control, retrying in %.1f s (try %d)",
                    what,
                    wait,
                    attempt,
                )
                await asyncio.sleep(min(wait, self.max_wait))
            except Forbidden as exc:
                logger.warning(
                    "telegram: %s: refused, reply dropped (%s)", what, exc.message
                )
                return None
            except BadRequest as exc:
                logger.error(
                    "telegram: %s: bad request, reply dropped (%s)", what, exc.message
                )
                return None
            except NetworkError as exc:  # includes TimedOut
                if attempt == self.max_attempts:
                    break
                logger.warning("telegram: %s: %s, retrying in %.1f s", what, exc, delay)
                await asyncio.sleep(min(delay, self.max_wait))
                delay *= 2
            except TelegramError as exc:
                logger.error("telegram: %s failed: %s", what, exc)
                return None
        raise TelegramDeliveryError(
            f"telegram: {what}: gave up after {self.max_attempts} tries"
        )

    async def shutdown(self) -> None:
        if self._bot is not None:
            await self._bot.shutdown()


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a line or word break."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [p for p in pieces if p] or [""]


def _text_sender(chat: int | str, text: str) -> Callable[[Bot], Awaitable[Message]]:
    """The Bot API call sending ``text`` to ``chat`` (bound now, not when it runs)."""

    async def send(bot: Bot) -> Message:
        return await bot.send_message(chat_id=chat, text=text)

    return send


class TelegramOutput(OutputChannel):
    """Sends the bot's replies to one chat; every reply at most once per inbound update.

    Args:
        client: the shared TelegramClient.
        store: where sent replies are recorded (None: no de-duplication).
        reply_prefix: the inbound update's id; the n-th reply of the turn has key
            ``<prefix>:<n>``, so a turn processed again after a crash skips what the
            customer already received.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(
        self,
        client: TelegramClient,
        store: ChannelStore | None = None,
        reply_prefix: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.reply_prefix = reply_prefix
        self._replies = Replies(store, reply_prefix, CHANNEL)

    async def _send(self, what: str, fn: Callable[[Bot], Awaitable[Message]]) -> None:
        async def deliver(key: str | None) -> str | None:
            sent = await self.client.call(what, fn)
            return None if sent is None else str(sent.message_id)

        await self._replies.send(deliver)

    async def send_text_message(
        self, recipient_id: str, text: str, **kwargs: Any
    ) -> None:
        chat = chat_id_of(recipient_id)
        for piece in split_text(text):
            await self._send(f"sendMessage to {chat}", _text_sender(chat, piece))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        chat = chat_id_of(recipient_id)
        *head, last = split_text(text or "…")
        for piece in head:
            await self._send(f"sendMessage to {chat}", _text_sender(chat, piece))
        markup = InlineKeyboardMarkup([[self._button(b)] for b in buttons])
        await self._send(
            f"sendMessage with buttons to {chat}",
            lambda bot: bot.send_message(chat_id=chat, text=last, reply_markup=markup),
        )

    def _button(self, button: Mapping[str, Any]) -> InlineKeyboardButton:
        title = str(button.get("title") or button.get("payload") or "?")
        if button.get("url"):
            return InlineKeyboardButton(title, url=str(button["url"]))
        payload = str(button.get("payload") or title)
        data = compact_payload(payload)
        if self.store is not None:
            data = self.store.short_payload(data, CALLBACK_DATA_BYTES)
        elif len(data.encode()) > CALLBACK_DATA_BYTES:
            data = title.encode()[:CALLBACK_DATA_BYTES].decode(errors="ignore")
        return InlineKeyboardButton(title, callback_data=data)

    async def send_image_url(
        self, recipient_id: str, image: str, **kwargs: Any
    ) -> None:
        chat = chat_id_of(recipient_id)
        await self._send(
            f"sendPhoto to {chat}",
            lambda bot: bot.send_photo(chat_id=chat, photo=image),
        )


def compact_payload(payload: str) -> str:
    """``/intent{"a": "b"}`` with its JSON without spaces (callback data is tight)."""
    brace = payload.find("{")
    if payload.startswith("/") and brace > 0:
        try:
            entities = json.loads(payload[brace:])
        except ValueError:
            return payload
        return payload[:brace] + json.dumps(
            entities, separators=(",", ":"), ensure_ascii=False
        )
    return payload


# --------------------------------------------------------------------------- channel


class TelegramInput(InputChannel):
    """``connectors.telegram.TelegramInput`` in credentials.yml (see the module doc)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        creds = ChannelCredentials(CLASS_PATH, credentials)
        if not creds.enabled(SECRETS):
            logger.warning(
                "telegram channel disabled: %s and %s not set (webhook answers 503)",
                *SECRETS.values(),
            )
            return cls(
                None,
                Secret(""),
                DEFAULT_BASE_URL,
                creds.path("state_db", "var/telegram.sqlite3"),
            )
        secret = creds.secret("secret_token")
        if not _SECRET_TOKEN.match(secret.reveal()):
            raise creds.error(
                "secret_token",
                "must be 1-256 of A-Z a-z 0-9 _ -",
                "set TELEGRAM_WEBHOOK_SECRET to e.g. `openssl rand -hex 32`",
            )
        return cls(
            creds.secret("access_token"),
            secret,
            creds.url("base_url", DEFAULT_BASE_URL),
            creds.path("state_db", "var/telegram.sqlite3"),
            max_wait=creds.number("max_retry_wait", 60.0),
            policy=creds.retry_policy(),
        )

    def __init__(
        self,
        token: Secret | None,
        secret_token: Secret,
        base_url: str,
        state_db: Path,
        *,
        max_wait: float = 60.0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.enabled = bool(token)
        self.policy = policy or RetryPolicy()
        self.secret_token = secret_token
        self.base_url = base_url
        self.store = ChannelStore(state_db)
        self.client = TelegramClient(token or Secret(""), base_url, max_wait=max_wait)

    def get_output_channel(self) -> OutputChannel | None:
        """For messages Rasa sends on its own (agent replies from the inbox)."""
        return TelegramOutput(self.client, self.store) if self.enabled else None

    def parse(self, raw: bytes) -> tuple[Update, dict[str, Any] | None]:
        """The Update in an authentic body and its item (None: nothing to answer).

        Raises:
            BadUpdate: not strict JSON (:mod:`connectors.strict_json`) or not an Update.
        """
        try:
            data = strict_json.loads(raw)
        except strict_json.UnsafeJSON as exc:
            raise BadUpdate(str(exc)) from None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise BadUpdate("body must be a Telegram Update object with an update_id")
        try:
            update = Update.de_json(data, None)
            return update, parse_update(update, self.store)
        except Exception as exc:  # PTB raises KeyError/TypeError/... on bad shapes
            raise BadUpdate(f"not a valid Telegram Update: {type(exc).__name__}") from None

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        async def process(key: str, item: dict[str, Any]) -> None:
            query_id = item.get("callback_query_id")
            answered = f"{key}:answered"
            if query_id and not self.store.was_sent(answered):  # once, not per retry
                await self.client.call(
                    "answerCallbackQuery",
                    lambda bot: bot.answer_callback_query(callback_query_id=query_id),
                )
                self.store.mark_sent(answered, None)
            output = TelegramOutput(self.client, self.store, reply_prefix=key)
            await on_new_message(user_message(item, output, CHANNEL))

        bp, worker = worker_blueprint(
            CHANNEL,
            self.store,
            process,
            enabled=lambda: self.enabled,
            close_client=self.client.shutdown,
            policy=self.policy,
        )

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self.enabled:
                return json_error(
                    503,
                    "the telegram channel is not configured: set "
                    + " and ".join(SECRETS.values()),
                )
            raw = request.body or b""
            if len(raw) > MAX_BODY_BYTES:
                return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
            if not self.secret_token.matches(request.headers.get(SECRET_HEADER)):
                return json_error(403, f"missing or wrong {SECRET_HEADER}")
            if not sent_as_json(request):
                return json_error(415, "send the update as application/json")
            # From here the sender knows the secret: it is Telegram, which redelivers
            # anything but a 2xx. A body no redelivery can fix is kept and answered 200.
            try:
                update, item = self.parse(raw)
            except BadUpdate as exc:
                return reject(self.store, CHANNEL, str(exc), raw)
            if item is None:
                return response.json({"status": "ignored"})
            key = dedupe_key(update)
            if not self.store.accept(key, item):
                return response.json({"status": "duplicate"})
            worker.submit(key, item)
            return response.json({"status": "accepted"})

        return bp


# --------------------------------------------------------------------------- polling


def load_credentials(path: Path) -> TelegramInput:
    """The Telegram entry of a credentials file, ${VAR}s substituted as Rasa does."""
    from rasa.shared.utils.io import read_config_file

    data = read_config_file(str(path)) or {}
    if CLASS_PATH not in data:
        raise SystemExit(
            f"error: {path}: no '{CLASS_PATH}:' entry (see README, Channels)"
        )
    channel = TelegramInput.from_credentials(data[CLASS_PATH])
    if not channel.enabled:
        raise SystemExit(
            f"error: {path}: {CLASS_PATH} is disabled: set "
            f"{' and '.join(SECRETS.values())}"
        )
    return channel


async def forward(
    http: Any,
    webhook: str,
    secret: Secret,
    update: dict[str, Any],
    *,
    max_wait: float = 30.0,
) -> bool:
    """POST one update to the webhook until taken; False if refused (4xx)."""
    delay = 0.5
    while True:
        try:
            resp = await http.post(
                webhook, json=update, headers={SECRET_HEADER: secret.reveal()}
            )
            if resp.status_code < 300:
                return True
            if 400 <= resp.status_code < 500:
                logger.error(
                    "telegram poll: webhook refused update %s: %s %s",
                    update.get("update_id"),
                    resp.status_code,
                    resp.text[:200],
                )
                return False
            problem = f"HTTP {resp.status_code}"
        except Exception as exc:  # the Rasa server restarting: keep the update
            problem = f"{type(exc).__name__}: {exc}"
        logger.warning(
            "telegram poll: webhook unavailable (%s), retrying in %.1f s",
            problem,
            delay,
        )
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_wait)


async def poll(
    channel: TelegramInput,
    rasa_url: str,
    *,
    stop: asyncio.Event | None = None,
    poll_timeout: int = 30,
) -> None:
    """Call getUpdates in a loop, forwarding each update to the running webhook.

    An update is confirmed to Telegram (the next ``offset``) only after the webhook
    accepted it, so a stopped Rasa server loses nothing.
    """
    import httpx

    stop = stop or asyncio.Event()
    webhook = f"{rasa_url.rstrip('/')}/webhooks/{CHANNEL}/webhook"
    deleted = await channel.client.call(
        "deleteWebhook", lambda bot: bot.delete_webhook(drop_pending_updates=False)
    )
    if deleted:
        logger.info(
            "telegram poll: webhook removed at Telegram (polling and a webhook "
            "exclude each other); set it again with `set-webhook`"
        )
    offset: int | None = None
    async with httpx.AsyncClient(timeout=60.0) as http:
        while not stop.is_set():
            async def get_updates(bot: Bot, offset: int | None = offset) -> tuple[Update, ...]:
                return await bot.get_updates(
                    offset=offset,
                    timeout=poll_timeout,
                    read_timeout=poll_timeout + 15,
                    allowed_updates=["message", "edited_message", "callback_query"],
                )

            updates = await channel.client.call("getUpdates", get_updates)
            for update in updates or ():
                await forward(http, webhook, channel.secret_token, update.to_dict())
                offset = update.update_id + 1


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.telegram poll|set-webhook|webhook-info``."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.telegram", description="Telegram channel tools"
    )
    parser.add_argument("--credentials", type=Path, default=Path("credentials.yml"))
    sub = parser.add_subparsers(dest="command", required=True)
    p_poll = sub.add_parser("poll", help="long polling for development (no public URL)")
    p_poll.add_argument("--rasa-url", default="http://127.0.0.1:5005")
    p_poll.add_argument(
        "--timeout", type=int, default=30, help="getUpdates long-poll seconds"
    )
    p_set = sub.add_parser(
        "set-webhook", help="register the public webhook URL at Telegram"
    )
    p_set.add_argument("url", help="https://<your host>/webhooks/telegram/webhook")
    sub.add_parser("webhook-info", help="what Telegram has registered")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    channel = load_credentials(args.credentials)

    async def run() -> None:
        try:
            if args.command == "poll":
                await poll(channel, args.rasa_url, poll_timeout=args.timeout)
            elif args.command == "set-webhook":
                ok = await channel.client.call(
                    "setWebhook",
                    lambda bot: bot.set_webhook(
                        url=args.url,
                        secret_token=channel.secret_token.reveal(),
                        allowed_updates=["message", "edited_message", "callback_query"],
                    ),
                )
                print("webhook set" if ok else "Telegram refused the webhook (see log)")
            else:
                info = await channel.client.call(
                    "getWebhookInfo", lambda bot: bot.get_webhook_info()
                )
                print(json.dumps(info.to_dict() if info else {}, indent=2, default=str))
        finally:
            await channel.client.shutdown()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
