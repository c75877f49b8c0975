"""``bot reload``: a running bot switches to a new model without dropping conversations.

Rasa's HTTP API loads the model file (``PUT /model``) while the server keeps answering
with the old one; conversations live in the tracker store, not in the model, so they
continue with their slots. Rasa replaces its agent only once the new one has loaded, so
a model that fails to load leaves the old one serving: this command then checks
``GET /status`` and reports "rolled back" with Rasa's reason.

The knowledge-base index needs no command: the action server's KnowledgeBase notices a
new index manifest on its next question and swaps to it, keeping the old index if the
new one does not load (see :mod:`kb_index.retriever`).

Where the server is: ``--url``/``--token``, else $SUPPORTBOT_RASA_URL /
$SUPPORTBOT_RASA_TOKEN, else the file ``python -m bot run`` writes (var/rasa-api.json).
The token signs a bearer JWT (bot.inbox.rasa_api.bearer_headers, the same the inbox
sends); it never travels in a URL, where access logs would keep it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.editor.problems import display_path
from bot.errors import SupportBotError
from bot.inbox.rasa_api import bearer_headers
from bot.settings import PROJECT_ROOT

Say = Callable[[str], None]
API_FILE = PROJECT_ROOT / "var" / "rasa-api.json"
DEFAULT_URL = "http://127.0.0.1:5005"


@dataclass(frozen=True)
class Server:
    url: str
    token: str


@dataclass(frozen=True)
class ReloadResult:
    """What Rasa served before and after (``model_file`` is the file's name only)."""

    loaded: bool
    serving: str | None
    previous: str | None
    seconds: float
    reason: str = ""
    serving_id: str | None = None
    previous_id: str | None = None


def find_server(
    url: str | None, token: str | None, api_file: Path = API_FILE
) -> Server:
    """The Rasa API address and token from options, environment or the run's file."""
    saved: dict[str, Any] = {}
    if api_file.exists():
        try:
            saved = json.loads(api_file.read_text(encoding="utf-8"))
        except ValueError:
            saved = {}
    url = (
        url or os.environ.get("SUPPORTBOT_RASA_URL") or saved.get("url") or DEFAULT_URL
    )
    token = token or os.environ.get("SUPPORTBOT_RASA_TOKEN") or saved.get("token")
    if not token:
        raise SupportBotError(
            "no token for Rasa's HTTP API: start the bot with `python -m bot run` (it "
            f"writes {display_path(api_file)}), or set SUPPORTBOT_RASA_TOKEN for both "
            "the bot and this command, or pass --token"
        )
    return Server(url.rstrip("/"), token)


def status(client: httpx.Client, server: Server) -> dict[str, Any] | None:
    """Rasa's ``GET /status`` (model_file, model_id), None when no model is loaded."""
    try:
        resp = client.get(
            f"{server.url}/status", headers=bearer_headers(server.token, user="reload")
        )
    except httpx.HTTPError as exc:
        raise SupportBotError(
            f"the Rasa server at {server.url} does not answer ({exc.__class__.__name__}); "
            "is the bot running? (`make run`)"
        ) from None
    if resp.status_code == 401 or resp.status_code == 403:
        raise SupportBotError(
            f"the Rasa server at {server.url} refused the token "
            f"(HTTP {resp.status_code}); use the running bot's token"
        )
    if resp.status_code == 409:  # Rasa: "No agent loaded"
        return None
    if resp.status_code != 200:
        raise SupportBotError(
            f"{server.url}/status answered HTTP {resp.status_code}: {resp.text[:200]}"
        )
    data = resp.json()
    return data if isinstance(data, dict) else None


def reload_model(
    server: Server,
    model: Path,
    *,
    say: Say = print,
    timeout: float = 600.0,
    heartbeat: float = 10.0,
) -> ReloadResult:
    """Ask the running Rasa server to load ``model``; verify what it serves afterwards."""
    model = model.resolve()
    if not model.is_file():
        raise SupportBotError(
            f"{display_path(model)}: no such model file; run "
            "`python -m bot train` first"
        )
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0)) as client:
        before = status(client, server)
        previous = before.get("model_file") if before else None
        previous_id = before.get("model_id") if before else None
        say(
            f"serving now: {_name(previous)}; loading {display_path(model)} "
            "(the old model keeps answering meanwhile) ..."
        )
        start = time.monotonic()
        done = threading.Event()

        def tick() -> None:
            while not done.wait(heartbeat):
                say(f"  ... still loading ({time.monotonic() - start:.0f} s)")

        threading.Thread(target=tick, daemon=True).start()
        try:
            resp = client.put(
                f"{server.url}/model",
                headers=bearer_headers(server.token, user="reload"),
                json={"model_file": str(model)},
            )
        except httpx.HTTPError as exc:
            resp = None
            failure = f"{exc.__class__.__name__}: {exc}"
        finally:
            done.set()
        seconds = time.monotonic() - start
        after = status(client, server)
    serving = after.get("model_file") if after else None
    serving_id = after.get("model_id") if after else None
    if resp is not None and resp.status_code in (200, 204):
        if serving == model.name:
            return ReloadResult(
                True, serving, previous, seconds, "", serving_id, previous_id
            )
        failure = f"Rasa accepted the model but serves {_name(serving)}"
    elif resp is not None:
        failure = _rasa_reason(resp)
    return ReloadResult(
        False, serving, previous, seconds, failure, serving_id, previous_id
    )


def _rasa_reason(resp: httpx.Response) -> str:
    try:
        body = resp.json()
        return f"HTTP {resp.status_code}: {body.get('message') or body}"
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:300]}"


def _name(model_file: str | None) -> str:
    return model_file or "no model"


def describe(result: ReloadResult) -> tuple[str, int]:
    """The line to print and the exit status."""
    if result.loaded:
        return (
            f"reloaded in {result.seconds:.1f} s: now serving {_name(result.serving)} "
            f"(was {_name(result.previous)}); conversations continue",
            0,
        )
    if result.serving_id and result.serving_id == result.previous_id:
        return (
            f"rolled back: the new model failed to load ({result.reason}); still "
            f"serving {_name(result.serving)}",
            1,
        )
    return (
        f"reload FAILED ({result.reason}); the server now serves "
        f"{_name(result.serving)} — restart the bot (`make run`)",
        1,
    )


def newest_model(folder: Path) -> Path:
    models = sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SupportBotError(
            f"{display_path(folder)}: no trained model; run `python -m bot train`"
        )
    return models[-1]
