"""A channel's entry in credentials.yml: secrets, numbers, paths, and the off switch.

Rasa hands ``from_credentials`` the channel's mapping with ``${VAR}`` already replaced
by the environment (only in unquoted scalars). ``bot.run`` sets every variable that
credentials.yml names but the environment lacks to "" so that a developer without a
Telegram token can still ``make run``; a channel whose secrets are all empty is
therefore *disabled* (it logs one line and its webhook answers 503), while a channel
with some secrets set and others missing is a mistake that stops the start-up with an
error naming credentials.yml, the key and the variable to set.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.settings import PROJECT_ROOT
from connectors.durable import RetryPolicy

CREDENTIALS_FILE = "credentials.yml"


def wire_bytes(value: str | bytes) -> bytes:
    """The bytes a header (or query) value arrived as.

    Sanic decodes request heads as UTF-8 with ``surrogateescape``, so a header holding
    non-UTF-8 bytes is a str with lone surrogates, which ``str.encode()`` refuses (that
    was a 500). Encoding back the same way never fails and gives the original bytes.
    """
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")


def equal_bytes(candidate: str | bytes | None, expected: str | bytes) -> bool:
    """Constant-time equality of a client-sent value and a secret, compared as bytes.

    ``hmac.compare_digest`` raises TypeError for a str holding non-ASCII characters, so
    both sides are turned into bytes first: any header value is then simply wrong (False).
    """
    if candidate is None:
        return False
    return hmac.compare_digest(wire_bytes(candidate), wire_bytes(expected))


@dataclass(frozen=True)
class Secret:
    """A secret value whose repr and str never show it (logs, tracebacks, reprs)."""

    _value: str

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it."""
        return self._value

    def matches(self, candidate: str | bytes | None) -> bool:
        """Constant-time comparison (:func:`equal_bytes`); None never matches."""
        return equal_bytes(candidate, self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


class ChannelCredentials:
    """One channel's credentials mapping, with errors that name file, key and fix."""

    def __init__(self, channel_class: str, raw: Mapping[str, Any] | None) -> None:
        self.channel_class = channel_class
        self.data: Mapping[str, Any] = raw or {}
        if not isinstance(self.data, Mapping):
            raise self.error(
                "",
                f"must be a mapping of keys, got {raw!r}",
                "indent the channel's keys under its class name",
            )

    def error(self, key: str, problem: str, fix: str = "") -> ConfigError:
        where = f"{self.channel_class}.{key}" if key else self.channel_class
        return ConfigError(CREDENTIALS_FILE, where, problem, fix)

    def secret(self, key: str) -> Secret:
        """A secret (None and "" both mean not set)."""
        value = self.data.get(key)
        if value is None:
            return Secret("")
        if not isinstance(value, (str, int)):
            raise self.error(
                key, "must be a string", f"e.g. {key}: ${{MY_{key.upper()}}}"
            )
        return Secret(str(value).strip())

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key)
        if value is None or value == "":
            return default
        if not isinstance(value, (str, int, float)):
            raise self.error(
                key, f"must be a string, got {value!r}", f"e.g. {key}: {default}"
            )
        return str(value).strip()

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.data.get(key, default)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value < minimum
        ):
            raise self.error(
                key,
                f"must be a number >= {minimum}, got {value!r}",
                f"e.g. {key}: {default}",
            )
        return float(value)

    def retry_policy(self) -> RetryPolicy:
        """How a failing turn is retried; defaults: :class:`connectors.durable.RetryPolicy`.

        Keys: ``turn_attempts``, ``turn_backoff_seconds``, ``turn_max_backoff_seconds``.
        """
        default = RetryPolicy()
        return RetryPolicy(
            attempts=int(self.number("turn_attempts", default.attempts, minimum=1)),
            backoff=self.number("turn_backoff_seconds", default.backoff),
            max_backoff=self.number("turn_max_backoff_seconds", default.max_backoff),
        )

    def url(self, key: str, default: str) -> str:
        value = self.text(key, default).rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise self.error(
                key, f"must be an http(s) URL, got {value!r}", f"e.g. {key}: {default}"
            )
        return value

    def path(self, key: str, default: str) -> Path:
        """A file path; relative paths are relative to the project folder."""
        path = Path(self.text(key, default)).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path

    def enabled(self, secrets: Mapping[str, str]) -> bool:
        """True when every secret is set, False when none is; a partial set is an error.

        ``secrets`` maps each secret key to the environment variable that README tells
        operators to set, so the error can say which one is missing.
        """
        present = {key: bool(self.secret(key)) for key in secrets}
        if not any(present.values()):
            return False
        missing: Sequence[str] = [key for key, ok in present.items() if not ok]
        if missing:
            key = missing[0]
            raise self.error(
                key,
                "is empty while the channel's other secrets are set",
                f"set the environment variable {secrets[key]} (or unset all of "
                f"{', '.join(secrets.values())} to disable the channel)",
            )
        return True
