"""``python -m bot inbox hash-password``: the password comes from stdin, never argv."""

from __future__ import annotations

import subprocess
import sys

from bot.inbox.auth import verify_password
from tests.conftest import ROOT


def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "inbox", *args],
        input=stdin,
        text=True,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_hash_password_prints_a_hash_that_verifies() -> None:
    done = run("hash-password", stdin="a-long-password\n")
    assert done.returncode == 0, done.stderr
    stored = done.stdout.strip()
    assert verify_password("a-long-password", stored)
    assert "a-long-password" not in done.stdout


def test_a_short_password_is_refused() -> None:
    done = run("hash-password", stdin="short\n")
    assert done.returncode == 2
    assert "at least 10 characters" in done.stderr
