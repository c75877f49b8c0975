"""End to end: a German customer, a language without native NLU data, served through the
tiny German ↔ English argos packages (real CTranslate2 inference in the Rasa server and
the action server), and the honest degradation once the packages are removed.

One bot for the module: its settings point translation.packages_dir at a temporary
folder holding the fixture packages, installed and later removed with the operator's
command, ``python -m bot models``, while the bot keeps running.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.run import Bot
from bot.tickets.store import SQLiteTicketStore
from tests.conftest import ROOT, write_settings
from tests.e2e.conftest import TICKET_REF, say, start_bot, texts, tracker

_spec = importlib.util.spec_from_file_location(
    "argos_phrases", ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
)
assert _spec and _spec.loader
phrases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phrases)

NOTICE = "(Automatisch übersetzt.)"


def models(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(settings), "models", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("translation")
    path = write_settings(
        tmp,
        translation={"packages_dir": str(tmp / "packages"), "notice": {"de": NOTICE}},
    )
    models(path, "install", str(phrases.DE_EN_PACKAGE), str(phrases.EN_DE_PACKAGE))
    return path


@pytest.fixture(scope="module")
def bot(settings: Path) -> Iterator[Bot]:
    with start_bot(settings.parent, settings=settings) as running:
        yield running


@pytest.fixture(scope="module")
def tickets(settings: Path) -> Iterator[SQLiteTicketStore]:
    db = yaml.safe_load(settings.read_text(encoding="utf-8"))["tickets"]["database"]
    store = SQLiteTicketStore(Path(db))
    yield store
    store.close()


def english(domain_texts: dict[str, dict[str, str]], name: str) -> str:
    return domain_texts[name]["en"]


def paragraphs(text: str) -> list[str]:
    """How the web chat delivers a reply: one message per paragraph."""
    return [p for p in text.split("\n\n") if p.strip()]


def tracker_events(bot: Bot, sender: str) -> list[dict[str, Any]]:
    return list(tracker(bot, sender)["events"])


def test_a_german_conversation_is_understood_and_answered_in_german(
    bot: Bot,
    tickets: SQLiteTicketStore,
    domain_texts: dict[str, dict[str, str]],
    articles: dict[str, Any],
) -> None:
    sender = "de-customer"
    greeting = texts(say(bot, sender, "Hallo, guten Tag"))
    # Machine-translated from the English response, with the notice once.
    assert greeting == [
        *paragraphs(phrases.german(english(domain_texts, "utter_greet"))),
        NOTICE,
    ]

    shipping = articles["shipping-times"]
    answer = texts(say(bot, sender, "Wie lange dauert der Versand?"))
    expected = phrases.german(f"{shipping.title['en']}\n\n{shipping.body['en']}")
    assert answer == paragraphs(expected)
    assert answer[0] == "Wie lange dauert die Lieferung?"

    status = articles["order-status"]
    answer = texts(say(bot, sender, "Wo ist meine Bestellung?"))
    assert answer == paragraphs(
        phrases.german(f"{status.title['en']}\n\n{status.body['en']}")
    )
    assert "https://lumo.example/order-status" in answer[-1]  # URLs pass untouched

    thanks = texts(say(bot, sender, "Danke schön"))
    assert thanks == [phrases.german(english(domain_texts, "utter_you_are_welcome"))]

    handoff = texts(say(bot, sender, "Ich möchte mit einem Menschen sprechen"))
    match = TICKET_REF.search(handoff[-1])
    assert match, handoff
    assert handoff == [
        phrases.german(english(domain_texts, "utter_ticket_created")).replace(
            "{ticket_ref}", match.group(0)
        )
    ]

    ticket = tickets.get(int(match.group(0).split("-")[1]))
    assert ticket is not None
    assert ticket.language == "de"
    assert ticket.queue.endswith("-en")  # agents read English: the pivot translation
    customer = [t for t in ticket.transcript if t.speaker == "customer"]
    assert [(t.text, t.translation, t.language) for t in customer] == [
        ("Hallo, guten Tag", "Hello, good morning", "de"),
        ("Wie lange dauert der Versand?", "How long does delivery take?", "de"),
        ("Wo ist meine Bestellung?", "Where is my order?", "de"),
        ("Danke schön", "Thank you", "de"),
        ("Ich möchte mit einem Menschen sprechen", "I want to talk to a human", "de"),
    ]
    assert [t.intent for t in customer] == [
        "greet",
        "shipping_time",
        "order_status",
        "thanks",
        "request_human",
    ]
    bot_turns = [t for t in ticket.transcript if t.speaker == "bot"]
    # Every bot turn was machine-translated: the customer's German text, the English
    # source beside it for the agent.
    assert bot_turns and all(t.language == "de" and t.translation for t in bot_turns)
    assert bot_turns[0].translation == english(domain_texts, "utter_greet")
    assert "shipping-times" in bot_turns[1].kb_articles
    assert ticket.summary.startswith(
        'Customer (de): "Wie lange dauert der Versand?" '
        '[translation: "How long does delivery take?"]'
    )

    # The tracker keeps original, translation and path on every translated message.
    users = [e for e in tracker_events(bot, sender) if e["event"] == "user"]
    first = users[0]
    assert first["text"] == "Hallo, guten Tag"
    translation = first["parse_data"]["translation"]
    assert translation["original"] == "Hallo, guten Tag"
    assert translation["text"] == "Hello, good morning"
    assert translation["path"] == ["de", "en"]
    bots = [e for e in tracker_events(bot, sender) if e["event"] == "bot"]
    assert all(e["metadata"].get("machine_translated") for e in bots)


def test_without_packages_the_bot_answers_in_english_and_says_so_once(
    bot: Bot,
    settings: Path,
    tickets: SQLiteTicketStore,
    domain_texts: dict[str, dict[str, str]],
) -> None:
    models(settings, "remove", "de", "en")
    models(settings, "remove", "en", "de")
    sender = "de-customer-degraded"
    apology = english(domain_texts, "utter_language_fallback")
    first = texts(say(bot, sender, "Hallo, guten Tag"))
    assert first == [apology, english(domain_texts, "utter_greet")]
    again = texts(say(bot, sender, "Guten Tag"))
    assert apology not in again

    handoff = texts(say(bot, sender, "agent"))  # the greeting says: type "agent"
    match = TICKET_REF.search(handoff[-1])
    assert match, handoff
    assert handoff[-1] == english(domain_texts, "utter_ticket_created").replace(
        "{ticket_ref}", match.group(0)
    )
    ticket = tickets.get(int(match.group(0).split("-")[1]))
    assert ticket is not None
    assert ticket.language == "de"  # an agent who speaks German can take it
    customer = [t for t in ticket.transcript if t.speaker == "customer"]
    assert customer[0].text == "Hallo, guten Tag" and customer[0].translation is None
