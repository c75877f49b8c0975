"""The action server answers only the Rasa server: a forged call without the secret is 401.

A real ``python -m actions.server`` on 127.0.0.1 (rasa_sdk's app and every action of the
package), called over HTTP the way Rasa calls it, with and without the bearer token.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions.server import (
    TOKEN_ENV,
    MemoryTrimmer,
    TokenError,
    bearer_matches,
    limit_malloc_arenas,
    token_from_env,
)
from bot.run import free_port
from tests.conftest import ROOT, write_settings

TOKEN = secrets.token_urlsafe(32)


def action_call(action: str = "action_check_hours") -> dict[str, Any]:
    """The body Rasa POSTs to /webhook (a forger would send the same)."""
    return {
        "next_action": action,
        "sender_id": "web-forged",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "web-forged", "slots": {"language": "en"},
            "latest_message": {"text": "when are you open?",
                               "intent": {"name": "opening_hours", "confidence": 1.0}},
            "events": [], "paused": False, "followup_action": None,
            "active_loop": {}, "latest_action_name": "action_listen",
        },
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("action-server")
    port = free_port()
    env = {
        **os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(ROOT),
        "SUPPORTBOT_CONFIG": str(write_settings(tmp)),
        "SUPPORTBOT_FAKE_NOW": "2026-11-25T10:00:00+01:00",
    }
    env.pop("SUPPORTBOT_WARM_UP", None)
    log = open(tmp / "actions.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp / "actions.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "action server did not start"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def post(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/webhook", json=action_call(), headers=headers, timeout=60)


def test_health_is_open(server: str) -> None:
    assert httpx.get(f"{server}/health", timeout=5).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Authorization": "Bearer wrong-token-of-enough-length"},
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "no-scheme", "basic", "truncated", "empty"],
)
def test_a_forged_action_call_is_refused(server: str, headers: dict[str, str] | None) -> None:
    resp = post(server, headers)
    assert resp.status_code == 401
    assert "unauthorised" in resp.json()["error"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_non_ascii_token_is_a_401_not_a_500(server: str) -> None:
    resp = httpx.post(
        f"{server}/webhook", json=action_call(),
        headers=[(b"Authorization", "Bearer čćž€".encode())], timeout=30,
    )
    assert resp.status_code == 401


def test_the_action_list_needs_the_token_too(server: str) -> None:
    assert httpx.get(f"{server}/actions", timeout=10).status_code == 401
    listed = httpx.get(
        f"{server}/actions", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert listed.status_code == 200
    assert {"name": "action_escalate"} in listed.json()


def test_the_rasa_server_with_the_token_is_answered(server: str) -> None:
    resp = post(server, {"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.text
    [message] = resp.json()["responses"]
    assert message["response"] == "utter_hours_open"


def test_no_cross_origin_requests_are_allowed(server: str) -> None:
    resp = httpx.options(
        f"{server}/webhook", timeout=10,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"},
    )
    assert "access-control-allow-origin" not in resp.headers


@pytest.mark.parametrize("value", [None, "", "   ", "short-secret"])
def test_the_server_refuses_to_start_without_a_usable_secret(
    tmp_path: Path, value: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if value is not None:
        env[TOKEN_ENV] = value
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "actions.server", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert TOKEN_ENV in done.stderr and "token_urlsafe" in done.stderr


def test_token_rules() -> None:
    assert token_from_env({TOKEN_ENV: TOKEN}) == TOKEN
    with pytest.raises(TokenError, match="not set"):
        token_from_env({})
    with pytest.raises(TokenError, match="at least 16"):
        token_from_env({TOKEN_ENV: f" {TOKEN}"})
    assert bearer_matches(f"bearer  {TOKEN} ", TOKEN)
    assert not bearer_matches(None, TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN}x", TOKEN)


def test_the_heap_is_trimmed_at_most_once_per_interval() -> None:
    now = [100.0]
    trimmer = MemoryTrimmer(interval=30.0, clock=lambda: now[0])
    assert trimmer.due()  # the first call after start
    trimmer.trim()
    now[0] += 29.0
    assert not trimmer.due()
    now[0] += 1.0
    assert trimmer.due() and not trimmer.due()
    assert trimmer.trims == 1


def test_malloc_arenas_can_be_capped_on_glibc() -> None:
    """The action server's cap on per-thread heaps applies on the Linux it runs on."""
    assert limit_malloc_arenas(8)  # generous for this test process, applied all the same
