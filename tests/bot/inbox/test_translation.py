"""Agents read customers in their own language and answer in the customer's.

Real CTranslate2 inference through bot.translate with the tiny de<->en fixture packages
(tests/fixtures/argos); without packages nothing is translated and nothing fails.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from bot.inbox.translation import InboxTranslator, NoTranslation, load_translator
from bot.settings import load_settings
from bot.translate import TranslationSettings, Translator, install_package
from tests.conftest import ROOT, write_settings


def _phrases() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "argos_phrases_inbox", ROOT / "tests" / "fixtures" / "argos" / "phrases.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


phrases = _phrases()


@pytest.fixture()
def packages_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "packages"
    install_package(phrases.DE_EN_PACKAGE, folder)
    install_package(phrases.EN_DE_PACKAGE, folder)
    return folder


def test_a_german_customer_message_reaches_an_english_agent_in_english(
    packages_dir: Path,
) -> None:
    inbox = InboxTranslator(Translator(TranslationSettings(packages_dir=packages_dir)))
    assert inbox.translate("Wo ist meine Bestellung?", "de", "en") == "Where is my order?"


def test_an_english_agent_reply_reaches_a_german_customer_in_german(
    packages_dir: Path,
) -> None:
    inbox = InboxTranslator(Translator(TranslationSettings(packages_dir=packages_dir)))
    assert inbox.translate("You're welcome!", "en", "de") == "Gern geschehen!"


def test_without_an_installed_path_the_text_is_left_as_typed(tmp_path: Path) -> None:
    inbox = InboxTranslator(Translator(TranslationSettings(packages_dir=tmp_path / "none")))
    assert inbox.translate("Živjo", "sl", "en") is None
    assert inbox.translate("", "de", "en") is None
    assert inbox.translate("Hello", "en", "en") is None
    assert NoTranslation().translate("Živjo", "sl", "en") is None


def test_the_settings_choose_the_package_folder_or_switch_translation_off(
    tmp_path: Path, packages_dir: Path
) -> None:
    on = load_settings(
        write_settings(tmp_path, translation={"packages_dir": str(packages_dir)})
    )
    assert load_translator(on).translate("Danke", "de", "en") == "Thanks"
    off_dir = tmp_path / "off"
    off_dir.mkdir()
    off = load_settings(
        write_settings(
            off_dir, translation={"enabled": False, "packages_dir": str(packages_dir)}
        )
    )
    assert isinstance(load_translator(off), NoTranslation)
