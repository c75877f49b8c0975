"""bot.tickets.transcript.translate_for_agents: customer turns in the agent's language.

The translate function here is the real Translator over the tiny fixture models."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from bot.tickets.model import Turn
from bot.tickets.transcript import translate_for_agents
from bot.translate import TranslationSettings, Translator, install_package
from tests.conftest import ROOT

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
FIXTURES = ROOT / "tests" / "fixtures" / "argos"


def translator(tmp_path: Path) -> Translator:
    folder = tmp_path / "packages"
    install_package(FIXTURES / "translate-de_en-tiny.argosmodel", folder)
    install_package(FIXTURES / "translate-en_de-tiny.argosmodel", folder)
    return Translator(TranslationSettings(packages_dir=folder))


def via(t: Translator):  # type: ignore[no-untyped-def]
    def translate(text: str, source: str, target: str) -> str | None:
        if not t.can_translate(source, target):
            return None
        return t.translate(text, source, target).text

    return translate


def test_customer_turns_get_the_agent_language(tmp_path: Path) -> None:
    t = translator(tmp_path)
    turns = [
        Turn(T0, "customer", "Wo ist meine Bestellung?", language="de"),
        Turn(T0, "bot", "Wo ist meine Bestellung?", language="de"),
        Turn(T0, "customer", "/affirm", language="de"),
        Turn(T0, "customer", "hello", language="en"),
        Turn(T0, "customer", "Dober dan", language="sl"),  # no sl package: unchanged
    ]
    out = translate_for_agents(turns, "en", via(t))
    assert out[0].translation == "Where is my order?"
    assert out[1:] == turns[1:]


def test_a_pivot_translation_is_kept_for_pivot_agents(tmp_path: Path) -> None:
    t = translator(tmp_path)
    turn = Turn(T0, "customer", "Danke", language="de", translation="Thanks (from NLU)")
    assert translate_for_agents([turn], "en", via(t)) == [turn]


def test_agents_reading_another_language_get_a_fresh_translation(
    tmp_path: Path,
) -> None:
    t = translator(tmp_path)
    # An English customer whose ticket lands in a German-speaking queue.
    turn = Turn(T0, "customer", "Where is my order?", language="en")
    out = translate_for_agents([turn], "de", via(t))
    assert out[0].translation == "Wo ist meine Bestellung?"
