"""Passwords, signed session cookies and CSRF tokens. Pure functions, stdlib only.

* Passwords: ``hashlib.scrypt`` (memory-hard, in the standard library), stored as
  ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>`` so the cost can be raised later without
  invalidating existing hashes. No plaintext password is ever stored or logged.
* Sessions: the cookie holds a random token; the session (agent, CSRF token, expiry,
  a stamp of the agent's password hash) lives server-side in the ticket database
  (bot.inbox.sessions), keyed by the token's SHA-256. Logging out deletes it, so a
  copied cookie stops working at once; a password change ends older sessions; a second
  inbox process on the same database accepts the same cookies.
* Login throttling: a pure policy (``locked_until``, ``now`` passed in) and a small
  in-process record per account and per client address, consulted before scrypt runs.
* CSRF: the token lives inside the signed session and in every POST form; a request is
  accepted only when both match (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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


def new_session_token() -> str:
    """The cookie value of a new session: 256 random bits, meaningless without the store."""
    return secrets.token_urlsafe(32)


def session_key(token: str) -> str:
    """What the session table stores for ``token``: its SHA-256, never the token itself.

    A leaked database copy then holds no cookie anyone could replay.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def credential_stamp(password_hash: str) -> str:
    """A short fingerprint of the agent's password hash, kept with each session.

    A session is valid only while the agent's configured hash has the same stamp, so
    changing the password (a new hash in supportbot.yml) ends every older session.
    """
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------- throttling


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed logins are free, and how the lockout grows after them.

    After ``free_failures`` failures in a row the key is locked for ``base_lockout``,
    doubling with every further failure up to ``max_lockout``. Failures older than
    ``forget_after`` no longer count (a typo last week does not shorten today's budget).
    """

    free_failures: int = 5
    base_lockout: timedelta = timedelta(seconds=30)
    max_lockout: timedelta = timedelta(hours=1)
    forget_after: timedelta = timedelta(days=1)


#: One account: 5 failures, then 30 s, 60 s, 120 s … (at most an hour).
ACCOUNT_POLICY = ThrottlePolicy()
#: One client address: several agents may share an office address, so more room.
ADDRESS_POLICY = ThrottlePolicy(free_failures=10)


@dataclass(frozen=True)
class Failures:
    """Failed logins in a row for one key (an account or a client address)."""

    count: int
    last: datetime


def locked_until(
    failures: Failures | None, now: datetime, policy: ThrottlePolicy
) -> datetime | None:
    """When the key may try again, or None when it may try now. Pure: ``now`` is given.

    >>> from datetime import timezone
    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> locked_until(Failures(4, t), t, ACCOUNT_POLICY) is None
    True
    >>> locked_until(Failures(5, t), t, ACCOUNT_POLICY) == t + timedelta(seconds=30)
    True
    >>> locked_until(Failures(7, t), t, ACCOUNT_POLICY) == t + timedelta(seconds=120)
    True
    """
    if failures is None or failures.count < policy.free_failures:
        return None
    if now - failures.last >= policy.forget_after:
        return None
    doublings = min(failures.count - policy.free_failures, 32)
    lockout = min(policy.base_lockout * (2**doublings), policy.max_lockout)
    until = failures.last + lockout
    return until if until > now else None


def after_failure(
    failures: Failures | None, now: datetime, policy: ThrottlePolicy
) -> Failures:
    """The record after one more failure (an old streak starts again at one)."""
    if failures is None or now - failures.last >= policy.forget_after:
        return Failures(1, now)
    return Failures(failures.count + 1, now)


class LoginThrottle:
    """Failed-login records per account and per client address, in this process.

    ``begin`` is called before the password is checked (so a locked key costs no
    scrypt run) and already counts the attempt as a failure: concurrent guesses cannot
    all pass the check before the first one is recorded. ``succeeded`` clears the
    account and the address. At most ``max_keys`` keys are kept (the oldest go first),
    so random names cannot grow the memory without bound.
    """

    def __init__(
        self,
        account: ThrottlePolicy = ACCOUNT_POLICY,
        address: ThrottlePolicy = ADDRESS_POLICY,
        *,
        max_keys: int = 10_000,
    ) -> None:
        self._policies = {"account": account, "address": address}
        self._records: dict[tuple[str, str], Failures] = {}
        self._max_keys = max_keys

    def begin(self, account: str, address: str, now: datetime) -> datetime | None:
        """None and the attempt counted, or when the earliest next try is (locked)."""
        keys = (("account", account), ("address", address))
        waits = [
            until
            for key in keys
            if (until := locked_until(self._records.get(key), now, self._policies[key[0]]))
        ]
        if waits:
            return max(waits)
        for key in keys:
            record = after_failure(self._records.pop(key, None), now, self._policies[key[0]])
            self._records[key] = record  # re-inserted: newest at the end
        while len(self._records) > self._max_keys:
            del self._records[next(iter(self._records))]
        return None

    def succeeded(self, account: str, address: str) -> None:
        self._records.pop(("account", account), None)
        self._records.pop(("address", address), None)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    """Both tokens present and equal (constant time)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
