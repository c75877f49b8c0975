"""Passwords, session cookies and CSRF tokens: what an attacker can and cannot do."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.inbox import auth

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
SECRET = b"s" * 32


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


def test_a_session_round_trips_until_it_expires() -> None:
    session = auth.new_session("maja", NOW, timedelta(hours=1))
    cookie = auth.encode_session(session, SECRET)
    back = auth.decode_session(cookie, SECRET, NOW + timedelta(minutes=59))
    assert back is not None and back.agent == "maja" and back.csrf == session.csrf
    assert auth.decode_session(cookie, SECRET, NOW + timedelta(hours=1)) is None


def test_a_session_signed_with_another_secret_or_edited_is_rejected() -> None:
    cookie = auth.encode_session(
        auth.new_session("sam", NOW, timedelta(hours=1)), SECRET
    )
    assert auth.decode_session(cookie, b"other" * 8, NOW) is None
    body, signature = cookie.split(".")
    forged = auth.encode_session(
        auth.new_session("lea", NOW, timedelta(hours=1)), SECRET
    )
    assert (
        auth.decode_session(f"{forged.split('.')[0]}.{signature}", SECRET, NOW) is None
    )
    for broken in (None, "", "x", "a.b.c", f"{body}.", f".{signature}", "!!.??"):
        assert auth.decode_session(broken, SECRET, NOW) is None


def test_csrf_tokens_must_be_present_and_equal() -> None:
    assert auth.csrf_ok("abc", "abc")
    assert not auth.csrf_ok("abc", "abd")
    assert not auth.csrf_ok("abc", None)
    assert not auth.csrf_ok(None, None)
    assert not auth.csrf_ok("", "")
