"""Stand-in platform servers on 127.0.0.1: the real protocols, every call recorded.

Standard library only, so the same stand-ins serve the channel tests (Rasa environment)
and the end-to-end tests (action environment, with Rasa in a subprocess).

* :class:`TelegramBotAPI`: ``POST /bot<token>/<method>`` as python-telegram-bot sends it
  (form fields, JSON-encoded where not strings), answering ``{"ok": true, "result": …}``
  or Telegram's error shape (429 with ``parameters.retry_after``, 403 Forbidden …).
* :class:`GraphAPI`: WhatsApp Cloud API ``POST /<version>/<phone_number_id>/messages``
  with a Bearer token, answering like Graph (``messages[0].id``) or its error shape;
  :func:`whatsapp_notification` is the webhook body Meta posts to the channel.

Failures are scripted per method with :meth:`StandIn.fail_next`; every request is
recorded (``attempts``) and the ones answered with success separately (``delivered``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class StandIn:
    """A threaded HTTP server with call recording and scripted failures."""

    def __init__(self) -> None:
        self.attempts: list[Call] = []
        self.delivered: list[Call] = []
        self._script: dict[str, list[Scripted]] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = owner._handle(
                    "POST", self.path, dict(self.headers), raw
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                # the client may have given up (a long poll cut short at shutdown)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(
        self,
        method: str,
        status: int,
        body: dict[str, Any],
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` get this answer instead of success."""
        with self._lock:
            self._script.setdefault(method, []).extend(
                [Scripted(status, body, headers or {})] * times
            )

    def _scripted(self, method: str) -> Scripted | None:
        with self._lock:
            queue = self._script.get(method)
            return queue.pop(0) if queue else None

    def calls(self, method: str | None = None) -> list[Call]:
        """Successfully answered calls (of one method)."""
        with self._lock:
            return [c for c in self.delivered if method is None or c.method == method]

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 30.0,
        where: Callable[[Call], bool] = lambda c: True,
    ) -> list[Call]:
        """Wait until ``count`` matching calls were answered with success."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls(method) if where(c)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _handle(
        self, verb: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        raise NotImplementedError


class TelegramBotAPI(StandIn):
    """Telegram Bot API stand-in for one bot token."""

    def __init__(self, token: str = "123456:TEST-token") -> None:
        super().__init__()
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self._next_message_id = 1000

    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as ``base_url`` (it appends the token)."""
        return f"{self.url}/bot"

    def queue_update(self, update: dict[str, Any]) -> None:
        """An update for getUpdates (long polling) to return."""
        with self._lock:
            self.updates.append(update)

    def sent_texts(self, chat_id: int | None = None) -> list[str]:
        return [
            str(c.params.get("text"))
            for c in self.calls("sendMessage")
            if chat_id is None or int(c.params["chat_id"]) == chat_id
        ]

    def _handle(
        self, verb: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        parts = urllib.parse.urlparse(path).path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != f"bot{self.token}":
            return (
                404 if len(parts) != 2 else 401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
                {},
            )
        method = parts[1]
        params = self._params(headers, raw)
        call = Call(method, params, headers)
        with self._lock:
            self.attempts.append(call)
        scripted = self._scripted(method)
        if scripted is not None:
            return scripted.status, scripted.body, scripted.headers
        result = self._result(method, params)
        with self._lock:
            self.delivered.append(call)
        return 200, {"ok": True, "result": result}, {}

    @staticmethod
    def _params(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if "json" in ctype:
            return dict(json.loads(raw or b"{}"))
        fields = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        for key in ("reply_markup", "allowed_updates"):
            if key in fields:
                fields[key] = json.loads(fields[key])
        return fields

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": int(self.token.split(":")[0]),
                "is_bot": True,
                "first_name": "Lumo",
                "username": "lumo_support_bot",
            }
        if method in ("sendMessage", "sendPhoto"):
            with self._lock:
                self._next_message_id += 1
                message_id = self._next_message_id
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": {
                    "id": int(self.token.split(":")[0]),
                    "is_bot": True,
                    "first_name": "Lumo",
                },
            }
            if "text" in params:
                message["text"] = params["text"]
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return message
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.3)
            while True:
                with self._lock:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                    ready = list(self.updates)
                if ready or time.monotonic() >= deadline:
                    return ready
                time.sleep(0.02)
        if method == "getWebhookInfo":
            return {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": 0,
            }
        return True  # answerCallbackQuery, setWebhook, deleteWebhook, ...


def telegram_error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """Telegram's error body, e.g. ``telegram_error(429, "Too Many Requests: retry
    after 1", retry_after=1)``."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


class GraphAPI(StandIn):
    """WhatsApp Cloud API (Graph) stand-in for one phone number id and access token."""

    def __init__(
        self,
        access_token: str = "EAAG-test-token",
        phone_number_id: str = "106540352242922",
        version: str = "v21.0",
    ) -> None:
        super().__init__()
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.version = version
        self._next = 0

    def bodies(self, to: str | None = None) -> list[dict[str, Any]]:
        """JSON bodies of the messages Graph accepted (to one recipient)."""
        return [
            c.params
            for c in self.calls("messages")
            if to is None or c.params.get("to") == to
        ]

    def _handle(
        self, verb: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        expected = f"/{self.version}/{self.phone_number_id}/messages"
        if urllib.parse.urlparse(path).path != expected or verb != "POST":
            return 404, graph_error(803, "Unknown path components"), {}
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth != f"Bearer {self.access_token}":
            return 401, graph_error(190, "Invalid OAuth access token"), {}
        try:
            params = json.loads(raw)
        except ValueError:
            return 400, graph_error(100, "Invalid JSON"), {}
        call = Call("messages", params, headers)
        with self._lock:
            self.attempts.append(call)
        scripted = self._scripted("messages")
        if scripted is not None:
            return scripted.status, scripted.body, scripted.headers
        with self._lock:
            self._next += 1
            self.delivered.append(call)
            wamid = f"wamid.STANDIN{self._next:06d}"
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": params.get("to"), "wa_id": params.get("to")}],
                "messages": [{"id": wamid}],
            },
            {},
        )


def graph_error(code: int, message: str) -> dict[str, Any]:
    """Graph API's error body."""
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "AbCdEfStandIn",
        }
    }


def whatsapp_notification(
    *messages: dict[str, Any],
    statuses: list[Any] | None = None,
    profile_name: str = "Maja",
) -> dict[str, Any]:
    """The webhook body Meta posts for :class:`GraphAPI`'s number: customer ``messages``
    (from one sender, whose profile is ``profile_name``) and/or delivery ``statuses``."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": "38615550100",
            "phone_number_id": "106540352242922",
        },
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": profile_name}, "wa_id": messages[0].get("from")}
        ]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [{"value": value, "field": "messages"}],
            }
        ],
    }
