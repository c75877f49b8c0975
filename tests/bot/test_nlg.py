"""bot.nlg.TranslatingNLG in the Rasa environment: domain.yml responses in the
customer's language: natively, machine-translated by the real tiny en→de model, or in
English with an honest apology."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rasa")

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from bot.nlg import TranslatingNLG
from bot.translate import install_package
from tests.conftest import ROOT, write_settings

_spec = importlib.util.spec_from_file_location(
    "argos_phrases", ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
)
assert _spec and _spec.loader
phrases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(phrases)

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
NOTICE = "(Automatisch übersetzt.)"


def english(name: str) -> str:
    return next(r["text"] for r in DOMAIN.responses[name] if not r.get("condition"))


def variant(name: str, language: str) -> str:
    for r in DOMAIN.responses[name]:
        for c in r.get("condition") or []:
            if c["value"] == language:
                return str(r["text"])
    raise KeyError(language)


def make_nlg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *packages: Path, **translation: Any
) -> TranslatingNLG:
    packages_dir = tmp_path / "packages"
    for package in packages:
        install_package(package, packages_dir)
    settings = write_settings(
        tmp_path,
        translation={
            "packages_dir": str(packages_dir),
            "notice": {"de": NOTICE},
            **translation,
        },
    )
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    return TranslatingNLG(endpoint_config=None, domain=DOMAIN)


def tracker(language: str | None, detected: str | None = None, *events: Any) -> Any:
    evts: list[Any] = []
    if language:
        evts.append(SlotSet("language", language))
    if detected:
        evts.append(SlotSet("detected_language", detected))
    return DialogueStateTracker.from_events("s1", [*evts, *events], slots=DOMAIN.slots)


async def test_a_native_variation_is_used_as_written(tmp_path, monkeypatch) -> None:
    nlg = make_nlg(tmp_path, monkeypatch, phrases.EN_DE_PACKAGE)
    out = await nlg.generate("utter_greet", tracker("sl"), "webchat")
    assert out["text"] == variant("utter_greet", "sl")
    assert "machine_translated" not in out


async def test_german_is_machine_translated_with_the_notice_once(
    tmp_path, monkeypatch
) -> None:
    nlg = make_nlg(tmp_path, monkeypatch, phrases.EN_DE_PACKAGE)
    out = await nlg.generate("utter_greet", tracker("de", "de"), "webchat")
    assert out["text"] == phrases.german(english("utter_greet")) + "\n\n" + NOTICE
    assert out["language"] == "de"
    assert out["machine_translated"] is True
    assert out["translation"]["text"] == english("utter_greet")
    assert out["translation"]["path"] == ["en", "de"]

    earlier = BotUttered("Hallo!", metadata={"machine_translated": True})
    again = await nlg.generate(
        "utter_you_are_welcome", tracker("de", "de", earlier), "webchat"
    )
    assert again["text"] == phrases.german(english("utter_you_are_welcome"))


async def test_placeholders_survive_translation(tmp_path, monkeypatch) -> None:
    nlg = make_nlg(tmp_path, monkeypatch, phrases.EN_DE_PACKAGE)
    earlier = BotUttered("Hallo!", metadata={"machine_translated": True})
    out = await nlg.generate(
        "utter_ticket_created",
        tracker("de", "de", earlier),
        "webchat",
        ticket_ref="LU-000042",
    )
    expected = phrases.german(english("utter_ticket_created")).replace(
        "{ticket_ref}", "LU-000042"
    )
    assert out["text"] == expected
    assert "LU-000042" in out["text"]
    assert out["translation"]["text"] == english("utter_ticket_created").replace(
        "{ticket_ref}", "LU-000042"
    )


async def test_without_a_package_english_comes_with_one_apology(
    tmp_path, monkeypatch
) -> None:
    nlg = make_nlg(tmp_path, monkeypatch)  # nothing installed
    # The conversation was German (slot) but the package is gone.
    out = await nlg.generate("utter_greet", tracker("de", "de"), "webchat")
    assert out["text"] == english("utter_language_fallback") + "\n\n" + english(
        "utter_greet"
    )
    assert out["language_fallback"] is True
    said = BotUttered(out["text"], metadata={"language_fallback": True})
    later = await nlg.generate("utter_greet", tracker("de", "de", said), "webchat")
    assert later["text"] == english("utter_greet")


async def test_undetectable_language_served_in_english_gets_the_apology(
    tmp_path, monkeypatch
) -> None:
    nlg = make_nlg(tmp_path, monkeypatch)
    # action_set_language answered a German customer in English (no translation path).
    out = await nlg.generate("utter_greet", tracker("en", "de"), "webchat")
    assert out["text"].startswith(english("utter_language_fallback"))
    # An English customer hears no apology; neither does a Slovenian one.
    assert (await nlg.generate("utter_greet", tracker("en", "en"), "webchat"))[
        "text"
    ] == english("utter_greet")
    assert (await nlg.generate("utter_greet", tracker("sl", "hbs"), "webchat"))[
        "text"
    ] == variant("utter_greet", "sl")


async def test_outbound_switched_off_answers_in_english(tmp_path, monkeypatch) -> None:
    nlg = make_nlg(tmp_path, monkeypatch, phrases.EN_DE_PACKAGE, outbound=False)
    out = await nlg.generate("utter_greet", tracker("de", "de"), "webchat")
    assert out["text"].endswith(english("utter_greet"))
    assert "machine_translated" not in out


async def test_buttons_are_translated_too_when_the_model_knows_them(
    tmp_path, monkeypatch
) -> None:
    nlg = make_nlg(tmp_path, monkeypatch, phrases.EN_DE_PACKAGE)
    out = await nlg.generate("utter_offer_human", tracker("de", "de"), "webchat")
    # The tiny model only knows its phrases: whatever it makes of these, the payloads
    # stay and the response is marked as machine translation.
    assert [b["payload"] for b in out["buttons"]] == ["/affirm", "/deny"]
    assert out["machine_translated"] is True
