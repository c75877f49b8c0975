"""Passwords, signed session cookies and CSRF tokens. Pure functions, stdlib only.

* Passwords: ``hashlib.scrypt`` (memory-hard, in the standard library), stored as
  ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` so the cost can be raised later without
  invalidating existing hashes. No plaintext password is ever stored or logged.
* Sessions: the cookie holds ``<payload b64>.<HMAC-SHA256 b64>``; the payload names the
  agent, a CSRF token and an expiry time. Nothing server-side to store or share, so
  any number of inbox processes with the same secret accept the same cookie. A restart
  with a fresh random secret logs everyone out, which is the safe default.
* CSRF: the token lives inside the signed session and in every POST form; a request is
  accepted only when both match (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

#: scrypt cost: 2**14 x 8 x 1 needs 16 MiB and ~50 ms per check on this machine: slow
#: enough to make guessing expensive, fast enough for a login form.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_PREFIX = "scrypt"


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=_DKLEN,
        maxmem=256 * n * r + 2**20,
    )


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A storable hash of ``password`` (``scrypt$n$r$p$salt$hash``)."""
    if not password:
        raise ValueError("the password must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{_PREFIX}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64e(salt)}${_b64e(digest)}"


def check_hash_format(stored: str) -> str | None:
    """None when ``stored`` is a hash ``hash_password`` wrote, else what is wrong."""
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != _PREFIX:
        return "is not a scrypt hash (expected scrypt$n$r$p$salt$hash)"
    try:
        n, r, p = (int(x) for x in parts[1:4])
        _b64d(parts[4])
        if len(_b64d(parts[5])) != _DKLEN:
            return "has a hash of the wrong length"
    except (ValueError, binascii.Error):
        return "has a malformed cost, salt or hash"
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        return "has an invalid scrypt cost"
    return None


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; constant-time comparison."""
    if check_hash_format(stored) is not None:
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = _scrypt(password, _b64d(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, _b64d(digest))


#: Checked when the login names no known agent, so that "no such agent" and "wrong
#: password" take the same time and cannot be told apart.
DUMMY_HASH = hash_password("not a password", salt=b"\0" * 16)


@dataclass(frozen=True)
class Session:
    """A logged-in agent: who, the CSRF token of this session, when it ends."""

    agent: str
    csrf: str
    expires: datetime


def new_session(agent: str, now: datetime, lifetime: timedelta) -> Session:
    return Session(agent=agent, csrf=secrets.token_urlsafe(24), expires=now + lifetime)


def _sign(secret: bytes, payload: bytes) -> str:
    return _b64e(hmac.new(secret, payload, hashlib.sha256).digest())


def encode_session(session: Session, secret: bytes) -> str:
    """The cookie value for ``session``, signed with ``secret``."""
    payload = json.dumps(
        {"a": session.agent, "c": session.csrf, "e": int(session.expires.timestamp())},
        separators=(",", ":"),
    ).encode("utf-8")
    return f"{_b64e(payload)}.{_sign(secret, payload)}"


def decode_session(value: str | None, secret: bytes, now: datetime) -> Session | None:
    """The session in a cookie value, or None when it is missing, forged or expired."""
    if not value or value.count(".") != 1:
        return None
    body, signature = value.split(".")
    try:
        payload = _b64d(body)
    except (ValueError, binascii.Error):
        return None
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        data = json.loads(payload)
        agent, csrf, expires = str(data["a"]), str(data["c"]), int(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires <= now.timestamp():
        return None
    return Session(
        agent=agent,
        csrf=csrf,
        expires=datetime.fromtimestamp(expires, tz=now.tzinfo),
    )


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Both tokens present and equal (constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
