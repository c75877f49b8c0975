"""End-to-end fixtures: a real bot (Rasa server + action server on 127.0.0.1) and helpers.

``start_bot`` starts the bot exactly as ``make run`` does (bot.run.Bot), with its own ports,
tracker database and ticket database, and the clock pinned so that business hours are
deterministic: Wednesday 2026-11-25 10:00 in Ljubljana (open), later Sunday (closed).
The module-scoped ``bot`` fixture is the default bot; a test module that needs other settings
or channel credentials starts its own with ``start_bot(tmp, settings=..., credentials=...)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from bot.run import Bot, BotConfig
from bot.tickets.store import SQLiteTicketStore
from kb_index.articles import load_articles
from tests.conftest import ROOT, write_settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

OPEN_NOW = "2026-11-25T10:00:00+01:00"  # Wednesday, support open 08-18
CLOSED_NOW = "2026-11-29T10:00:00+01:00"  # Sunday, closed until Monday 08:00
TICKET_REF = re.compile(r"LU-\d+")

if not any((ROOT / "models" / "rasa").glob("*.tar.gz")):
    if os.environ.get("CI"):
        # CI expects the end-to-end suite: a missing model is a failure, never a skip.
        raise RuntimeError("no trained model in models/rasa: `make test` trains it first")
    pytest.skip("no trained model: run `make train` (make test does)", allow_module_level=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.e2e)


def start_bot(
    tmp: Path,
    *,
    settings: Path | None = None,
    credentials: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Bot:
    """A bot whose files live in ``tmp``; ``with start_bot(...) as bot:`` starts and stops it."""
    config = BotConfig.isolated(
        tmp,
        settings or write_settings(tmp),
        extra_env={"SUPPORTBOT_FAKE_NOW": OPEN_NOW, **(extra_env or {})},
    )
    if credentials is not None:
        config.credentials_file = credentials
    return Bot(config)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    with start_bot(tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def tickets(bot: Bot) -> Iterator[SQLiteTicketStore]:
    assert bot.config.settings_file is not None
    db = yaml.safe_load(bot.config.settings_file.read_text())["tickets"]["database"]
    store = SQLiteTicketStore(Path(db))
    yield store
    store.close()


@pytest.fixture(scope="session")
def domain_texts() -> dict[str, dict[str, str]]:
    """response name → language → text, from domain.yml's conditional variations."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for name, variants in domain["responses"].items():
        for v in variants:
            cond = v.get("condition") or []
            lang = cond[0]["value"] if cond else "en"
            out.setdefault(name, {})[lang] = v["text"]
    return out


@pytest.fixture(scope="session")
def articles() -> dict[str, Any]:
    return {a.id: a for a in load_articles(ROOT / "data" / "kb", ["en", "ar", "sl"])}


def say(bot: Bot, sender: str, text: str, **metadata: str) -> list[dict[str, Any]]:
    """One customer message over the web chat REST webhook; returns the bot's replies."""
    resp = httpx.post(
        f"{bot.config.rasa_url}/webhooks/webchat/webhook",
        json={"sender": sender, "message": text, "metadata": metadata},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in replies if r.get("text")]


def rasa_api(bot: Bot, path: str) -> Any:
    """GET one route of the running Rasa server's HTTP API (with the bot's token), as JSON.

    What the operator's tools see (``/status``, a conversation's tracker): tests check
    the server's own state here rather than trusting the replies alone.
    """
    resp = httpx.get(
        f"{bot.config.rasa_url}{path}",
        params={"token": bot.config.rasa_token},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()


def tracker(bot: Bot, sender: str) -> dict[str, Any]:
    """One conversation's tracker (slots, events) from the running Rasa server."""
    return dict(rasa_api(bot, f"/conversations/{sender}/tracker"))


def kb_answer_matches(answer: str, articles: dict[str, Any], intent: str, lang: str) -> bool:
    """Whether ``answer`` is a KB article for ``intent`` in ``lang``: its title, then its body.

    ``answer`` is the bot's reply joined at blank lines (channels split a reply there).
    """
    matching = [a for a in articles.values() if intent in a.intents]
    return any(answer.startswith(a.title[lang]) and a.body[lang] in answer for a in matching)


#: Debian's Chromium (Playwright must never download a browser: no internet) and the flags
#: that keep it headless, offline and quiet on a shared machine.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def skip_without_chromium() -> None:
    """Skip the calling test module (call it at import) when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium not installed at {CHROMIUM} (make test installs it)",
            allow_module_level=True,
        )


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
