"""Deliver ticket changes to an external helpdesk: at least once, signed, with backoff.

The store queues one document per ticket event in the transaction that makes the
change (``ticket_outbox``, see bot/tickets/payload.py for the shape), so nothing is lost
between "the ticket changed" and "the helpdesk was told". This worker POSTs each
document to the configured webhook until it answers 2xx::

    outbox:
      url: https://helpdesk.example.com/hooks/supportbot
      secret: $SUPPORTBOT_OUTBOX_SECRET   # HMAC-SHA256 key, at least 16 characters
      max_attempts: 12                    # then the document is parked as "dead"
      backoff_seconds: 5                  # 5 s, 10 s, 20 s … after each failure
      backoff_max_seconds: 3600           # never wait longer than this
      timeout_seconds: 10                 # per request

Each request carries ``Idempotency-Key`` (also ``idempotency_key`` in the body; the
same for every retry of one change) and ``X-Supportbot-Signature: t=<unix>,v1=<hex>``
where ``hex = HMAC-SHA256(secret, "<unix>." + body)`` (``verify_signature`` checks it,
for receivers written in Python). Delivery is at least once: a receiver must treat a
repeated key as already done. Documents of one ticket go out in order; a failing one
holds back the later ones of the same ticket only.

The delivery state lives in the database, so it survives restarts: a worker killed
mid-request leaves its document leased for ``2 × timeout + 1`` seconds, after which any
worker retries it. Run it with ``python -m bot outbox run`` or in a thread of another
process (``start_in_thread``; the inbox server does this when ``outbox:`` is set).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot import __version__
from bot.settings import Section, Settings
from bot.tickets.store import OutboxItem, SQLTicketStore

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Supportbot-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MIN_SECRET_LENGTH = 16


class Secret:
    """A string that never shows itself in a repr, log line or traceback."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class OutboxConfig:
    """The validated ``outbox:`` section."""

    url: str
    secret: Secret
    max_attempts: int = 12
    backoff_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    timeout_seconds: float = 10.0
    #: How often an idle worker looks for new documents.
    poll_seconds: float = 1.0
    batch: int = 20

    @property
    def lease(self) -> timedelta:
        """How long a claimed document waits before another attempt may take it."""
        return timedelta(seconds=2 * self.timeout_seconds + 1)

    @classmethod
    def from_section(cls, section: Section) -> OutboxConfig | None:
        """The section's settings, or None when no ``url`` is set (outbox off)."""
        known = {"url", "secret", "max_attempts", "backoff_seconds",
                 "backoff_max_seconds", "timeout_seconds", "poll_seconds", "batch"}
        for key in section.data:
            if key not in known:
                raise section.error(
                    str(key), "is not an outbox setting",
                    f"use only {', '.join(sorted(known))}",
                )
        url = section.get("url")
        if url is None or (isinstance(url, str) and not url.strip()):
            return None
        url = os.path.expandvars(str(url)).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or "$" in url:
            raise section.error(
                "url", f"{url!r} is not an http(s) URL",
                "e.g. 'url: https://helpdesk.example.com/hooks/supportbot'",
            )
        raw_secret = section.get("secret")
        secret = os.path.expandvars(str(raw_secret)) if raw_secret is not None else ""
        if "$" in secret:
            raise section.error(
                "secret", "names an environment variable that is not set",
                "export it before starting, e.g. SUPPORTBOT_OUTBOX_SECRET",
            )
        if len(secret) < MIN_SECRET_LENGTH:
            raise section.error(
                "secret", f"must be at least {MIN_SECRET_LENGTH} characters",
                "set 'secret: $SUPPORTBOT_OUTBOX_SECRET' and export a long random "
                "value (python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            )

        def number(key: str, default: float, *, whole: bool = False) -> Any:
            value = section.get(key, default)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if whole:
                ok = ok and isinstance(value, int)
            if not ok or value <= 0:
                kind = "a whole number" if whole else "a number"
                raise section.error(
                    key, f"must be {kind} above 0, got {value!r}",
                    f"e.g. '{key}: {default}'",
                )
            return value

        config = cls(
            url=url,
            secret=Secret(secret),
            max_attempts=number("max_attempts", cls.max_attempts, whole=True),
            backoff_seconds=float(number("backoff_seconds", cls.backoff_seconds)),
            backoff_max_seconds=float(
                number("backoff_max_seconds", cls.backoff_max_seconds)
            ),
            timeout_seconds=float(number("timeout_seconds", cls.timeout_seconds)),
            poll_seconds=float(number("poll_seconds", cls.poll_seconds)),
            batch=number("batch", cls.batch, whole=True),
        )
        if config.backoff_max_seconds < config.backoff_seconds:
            raise section.error(
                "backoff_max_seconds",
                f"{config.backoff_max_seconds} is below backoff_seconds "
                f"{config.backoff_seconds}",
                "make the cap at least the first wait",
            )
        return config

    @classmethod
    def from_settings(cls, settings: Settings) -> OutboxConfig | None:
        return cls.from_section(settings.section("outbox", required=False))


def outbox_enabled(settings: Settings) -> bool:
    """Whether ``outbox:`` names a webhook (validates the section on the way)."""
    return OutboxConfig.from_settings(settings) is not None


# ---------------------------------------------------------------- pure helpers


def retry_delay(attempts: int, base: float, cap: float) -> timedelta:
    """Wait after failure number ``attempts``: base, 2×base, 4×base … at most cap."""
    if attempts < 1:
        raise ValueError(f"attempts counts from 1, got {attempts}")
    exponent = min(attempts - 1, 62)  # 2**62 × base is past any cap
    return timedelta(seconds=min(cap, base * 2**exponent))


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, header: str | None, body: bytes, now: datetime, tolerance: int = 300
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, within ``tolerance`` s."""
    if not header:
        return False
    fields_ = dict(
        part.split("=", 1) for part in header.split(",") if "=" in part
    )
    try:
        timestamp = int(fields_.get("t", ""))
    except ValueError:
        return False
    if abs(now.timestamp() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields_.get("v1", ""))


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------- the worker


@dataclass
class RunReport:
    """What one pass of the worker did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.dead


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class OutboxWorker:
    """Claims due documents from the store and POSTs them to the webhook."""

    def __init__(
        self,
        store: SQLTicketStore,
        config: OutboxConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._clock = clock or _utcnow
        self._client = client or httpx.Client(
            timeout=config.timeout_seconds, follow_redirects=False,
            headers={"User-Agent": f"supportbot-outbox/{__version__}"},
        )

    def close(self) -> None:
        self._client.close()

    def send(self, item: OutboxItem, now: datetime) -> str | None:
        """One attempt; None on success, else why it failed (for the log and row)."""
        body = encode_body(item.payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            IDEMPOTENCY_HEADER: item.idempotency_key,
            SIGNATURE_HEADER: sign(
                self.config.secret.get(), body, int(now.timestamp())
            ),
            "X-Supportbot-Event": str(item.payload.get("event", {}).get("kind", "")),
        }
        try:
            response = self._client.post(self.config.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return f"timed out after {self.config.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"

    def run_once(self) -> RunReport:
        """Deliver every document due now (one per ticket per round) till none is."""
        report = RunReport()
        while True:
            now = self._clock()
            items = self.store.outbox_claim(
                now, now + self.config.lease, limit=self.config.batch
            )
            if not items:
                return report
            for item in items:
                self._attempt(item, report)

    def _attempt(self, item: OutboxItem, report: RunReport) -> None:
        error = self.send(item, self._clock())
        now = self._clock()
        if error is None:
            self.store.outbox_delivered(item.id, now=now)
            report.delivered += 1
            return
        report.errors.append(f"{item.idempotency_key}: {error}")
        if item.attempts >= self.config.max_attempts:
            logger.error(
                "outbox: giving up on %s after %d attempts: %s (requeue with "
                "`python -m bot outbox retry`)",
                item.idempotency_key, item.attempts, error,
            )
            self.store.outbox_failed(item.id, error, retry_at=None, now=now)
            report.dead += 1
            return
        delay = retry_delay(
            item.attempts, self.config.backoff_seconds, self.config.backoff_max_seconds
        )
        logger.warning(
            "outbox: %s attempt %d failed (%s); next in %.0f s",
            item.idempotency_key, item.attempts, error, delay.total_seconds(),
        )
        self.store.outbox_failed(item.id, error, retry_at=now + delay, now=now)
        report.failed += 1

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set; a database hiccup is logged and retried."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep the loop alive; the state is in the database
                logger.exception("outbox: pass failed; retrying")
            stop.wait(self.config.poll_seconds)


def start_in_thread(
    store: SQLTicketStore, config: OutboxConfig
) -> tuple[threading.Thread, threading.Event]:
    """Run a worker in a daemon thread; set the returned event to stop it.

    For a process that already runs (the inbox server). Give it its own store (its own
    connection) so that deliveries never wait on the process's other queries.
    """
    stop = threading.Event()
    worker = OutboxWorker(store, config)

    def loop() -> None:
        try:
            worker.run(stop)
        finally:
            worker.close()

    thread = threading.Thread(target=loop, name="outbox-worker", daemon=True)
    thread.start()
    return thread, stop
