"""Passwords, login throttling and CSRF tokens: what an attacker can and cannot do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.inbox import auth

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def test_a_hash_verifies_its_password_only() -> None:
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$16384$8$1$")
    assert "correct horse" not in stored
    assert auth.verify_password("correct horse battery", stored)
    assert not auth.verify_password("correct horse batter", stored)
    assert not auth.verify_password("", stored)


def test_the_same_password_hashes_differently_each_time() -> None:
    assert auth.hash_password("pw-123456789") != auth.hash_password("pw-123456789")


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plaintext",
        "scrypt$16384$8$1$abc",
        "md5$1$2$3$4$5",
        "scrypt$1000$8$1$AAAA$" + "A" * 43,
        "scrypt$16384$8$1$AAAA$short",
    ],
)
def test_a_malformed_hash_is_reported_and_never_matches(stored: str) -> None:
    assert auth.check_hash_format(stored) is not None
    assert not auth.verify_password("anything", stored)


def test_an_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="empty"):
        auth.hash_password("")


# ---------------------------------------------------------------- login throttling

POLICY = auth.ThrottlePolicy(
    free_failures=5,
    base_lockout=timedelta(seconds=30),
    max_lockout=timedelta(hours=1),
    forget_after=timedelta(days=1),
)


@pytest.mark.parametrize(
    ("count", "locked_for"),
    [(0, None), (4, None), (5, 30), (6, 60), (7, 120), (12, 3600), (200, 3600)],
)
def test_the_lockout_starts_after_five_failures_and_doubles(
    count: int, locked_for: int | None
) -> None:
    until = auth.locked_until(auth.Failures(count, NOW), NOW, POLICY)
    expected = None if locked_for is None else NOW + timedelta(seconds=locked_for)
    assert until == expected


def test_a_lockout_ends_and_old_failures_are_forgotten() -> None:
    record = auth.Failures(6, NOW)
    assert auth.locked_until(record, NOW + timedelta(seconds=59), POLICY) is not None
    assert auth.locked_until(record, NOW + timedelta(seconds=60), POLICY) is None
    # One more failure after the lockout doubles it; a day later the streak restarts.
    assert auth.after_failure(record, NOW + timedelta(minutes=2), POLICY).count == 7
    assert auth.after_failure(record, NOW + timedelta(days=2), POLICY).count == 1


def test_the_throttle_counts_before_the_check_and_per_address() -> None:
    throttle = auth.LoginThrottle(POLICY, auth.ThrottlePolicy(free_failures=8))
    for _ in range(5):
        assert throttle.begin("maja", "10.0.0.1", NOW) is None
    assert throttle.begin("maja", "10.0.0.2", NOW) == NOW + timedelta(seconds=30)
    for name in ("a", "b", "c"):
        assert throttle.begin(name, "10.0.0.1", NOW) is None
    assert throttle.begin("d", "10.0.0.1", NOW) is not None  # the address: 8 failures
    throttle.succeeded("maja", "10.0.0.1")
    assert throttle.begin("maja", "10.0.0.3", NOW) is None


def test_the_throttle_keeps_a_bounded_number_of_keys() -> None:
    throttle = auth.LoginThrottle(POLICY, POLICY, max_keys=100)
    for i in range(1000):
        throttle.begin(f"random-{i}", "10.0.0.9", NOW + timedelta(days=2 * i))
    assert len(throttle._records) <= 100


def test_csrf_tokens_must_be_present_and_equal() -> None:
    assert auth.csrf_ok("abc", "abc")
    assert not auth.csrf_ok("abc", "abd")
    assert not auth.csrf_ok("abc", None)
    assert not auth.csrf_ok(None, None)
    assert not auth.csrf_ok("", "")
