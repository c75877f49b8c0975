"""A stand-in external helpdesk on 127.0.0.1 speaking the outbox webhook protocol.

It checks the signature and the idempotency key like a careful receiver: the first
request with a key is *applied*, a repeated key is acknowledged and counted as a
duplicate. Its behaviour is scripted per request: ``"ok"``, ``"500"`` (error answer),
``"slow"`` (applies the document, then answers after the client has given up: the
sender sees a timeout and must retry, the receiver must not apply it twice), ``"drop"``
(closes the connection without an answer).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bot.tickets.outbox import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature


class Helpdesk:
    """State of the stand-in; ``script`` is consumed one entry per request."""

    def __init__(self, secret: str, script: list[str] | None = None,
                 slow_seconds: float = 1.5) -> None:
        self.secret = secret
        self.script = list(script or [])
        self.slow_seconds = slow_seconds
        self.applied: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # keys in the order they were applied
        self.requests: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def next_action(self) -> str:
        with self.lock:
            return self.script.pop(0) if self.script else "ok"

    def receive(self, key: str, body: bytes, signature: str | None) -> int:
        now = datetime.now(timezone.utc)
        if not verify_signature(self.secret, signature, body, now):
            self.rejected.append(key)
            return 401
        document = json.loads(body)
        if document.get("idempotency_key") != key:
            self.rejected.append(key)
            return 400
        with self.lock:
            self.requests[key] += 1
            if key in self.applied:
                self.duplicates[key] += 1
            else:
                self.applied[key] = document
                self.order.append(key)
        return 200


def _handler(desk: Helpdesk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            action = desk.next_action()
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if action == "500":
                self._answer(500, b'{"error": "database is down"}')
                return
            code = desk.receive(
                self.headers.get(IDEMPOTENCY_HEADER, ""), body,
                self.headers.get(SIGNATURE_HEADER),
            )
            if action == "slow":
                time.sleep(desk.slow_seconds)
            self._answer(code, b'{"ok": true}' if code == 200 else b'{"ok": false}')

        def _answer(self, code: int, body: bytes) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (timeout): fine
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@contextmanager
def running_helpdesk(desk: Helpdesk) -> Iterator[Helpdesk]:
    """Serve ``desk`` on a free port of 127.0.0.1 while the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(desk))
    server.daemon_threads = True
    desk.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/supportbot"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield desk
    finally:
        server.shutdown()
        server.server_close()
