"""bot.nlu.translation.Translator, the Rasa 3.6 component (runs in .venv-rasa).

Messages pass the real language detector, then this component with the real tiny German
↔ English argos packages run by CTranslate2 (no torch in this environment).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.rasa_env

rasa = pytest.importorskip("rasa", reason="runs in the Rasa environment (.venv-rasa)")

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.exceptions import InvalidConfigException  # noqa: E402
from rasa.shared.nlu.constants import INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.nlu.language import LanguageDetector  # noqa: E402
from bot.nlu.translation import (  # noqa: E402
    TRANSLATION,
    TranslationConfigError,
    Translator,
)
from bot.translate import install_package, remove_package  # noqa: E402
from tests.conftest import ROOT, write_settings  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "argos"
DE_EN = FIXTURES / "translate-de_en-tiny.argosmodel"


def create(cls: Any, config: dict[str, Any] | None = None) -> Any:
    """A component as Rasa creates it: defaults merged with ``config``."""
    return cls.create(
        {**cls.get_default_config(), **(config or {})},
        LocalModelStorage(Path(os.environ.get("TMPDIR", "/tmp"))),
        Resource(cls.__name__.lower()),
        ExecutionContext(GraphSchema({}), "test"),
    )


@pytest.fixture()
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "packages"
    install_package(DE_EN, folder)
    settings = write_settings(tmp_path, translation={"packages_dir": str(folder)})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    return folder


def parse(text: Any, translator: Translator) -> Message:
    message = Message(data={TEXT: text})
    create(LanguageDetector).process([message])
    translator.process([message])
    return message


@pytest.mark.parametrize(
    ("german", "english"),
    [
        ("Wo ist meine Bestellung?", "Where is my order?"),
        ("Wie lange dauert der Versand?", "How long does delivery take?"),
        ("Ich möchte mit einem Menschen sprechen", "I want to talk to a human"),
        ("Hallo, guten Tag", "Hello, good morning"),
    ],
)
def test_german_is_understood_through_english(
    packages: Path, german: str, english: str
) -> None:
    message = parse(german, create(Translator))
    assert message.get(TEXT) == english
    stored = message.get(TRANSLATION)
    assert stored["original"] == german
    assert stored["text"] == english
    assert (stored["source"], stored["target"], stored["path"]) == (
        "de",
        "en",
        ["de", "en"],
    )
    assert stored["engine"] == "ctranslate2" and stored["ms"] >= 0
    assert TRANSLATION in message.as_dict(only_output_properties=True)


@pytest.mark.parametrize(
    "text",
    ["Where is my order?", "Kje je moje naročilo?", "أين طلبي؟", "/affirm", "👍"],
)
def test_native_languages_and_payloads_are_left_alone(
    packages: Path, text: str
) -> None:
    message = parse(text, create(Translator))
    assert message.get(TEXT) == text
    assert message.get(TRANSLATION) is None


@pytest.mark.parametrize(
    "text",
    ["", " ", None, "\x00\u202e", "a" * 20_000, "Wo " * 3000, "{0} {1} https://x.y"],
)
def test_naughty_input_never_raises(packages: Path, text: Any) -> None:
    parse(text, create(Translator))


def test_without_a_path_the_message_stays_as_written(packages: Path) -> None:
    translator = create(Translator)
    remove_package(packages, "de", "en")
    message = parse("Wo ist meine Bestellung?", translator)
    assert message.get(TEXT) == "Wo ist meine Bestellung?"
    assert message.get(TRANSLATION) is None
    install_package(DE_EN, packages)  # picked up without a restart
    assert (
        parse("Wo ist meine Bestellung?", translator).get(TEXT) == "Where is my order?"
    )


def test_inbound_switched_off(tmp_path: Path, packages: Path, monkeypatch) -> None:
    settings = write_settings(
        tmp_path, translation={"packages_dir": str(packages), "inbound": False}
    )
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    assert (
        parse("Wo ist meine Bestellung?", create(Translator)).get(TRANSLATION) is None
    )


def test_a_model_broken_on_disk_degrades_to_the_original(packages: Path) -> None:
    translator = create(Translator)
    model = packages / "translate-de_en" / "model" / "model.bin"
    model.write_bytes(model.read_bytes()[:1000])
    message = parse("Danke schön", translator)
    assert message.get(TEXT) == "Danke schön"
    assert message.get(TRANSLATION) is None
    shutil.rmtree(packages / "translate-de_en")


def test_training_data_passes_through(packages: Path) -> None:
    examples = [
        Message(data={TEXT: "Wo ist meine Bestellung?", INTENT: "order_status"})
    ]
    data = TrainingData(training_examples=examples)
    create(LanguageDetector).process_training_data(data)
    create(Translator).process_training_data(data)
    assert data.training_examples[0].get(TEXT) == "Wo ist meine Bestellung?"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"nativ": ["en"]}, "nativ"),
        ({"native": "en"}, "native"),
        ({"min_confidence": 2}, "min_confidence"),
    ],
)
def test_bad_config_names_the_key(packages: Path, config: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(TranslationConfigError) as err:
        create(Translator, config)
    assert isinstance(err.value, InvalidConfigException)
    assert f"pipeline[Translator].{key}" in str(err.value)


def test_bad_settings_file_is_a_config_error(tmp_path: Path, monkeypatch) -> None:
    settings = write_settings(tmp_path, translation={"engine": "argostranslate"})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(settings))
    with pytest.raises(TranslationConfigError, match="argostranslate is not installed"):
        create(Translator)


def test_min_confidence_skips_unsure_detections(packages: Path) -> None:
    # "Danke" alone is detected as German with low confidence (one word, shared with hbs).
    unsure = parse("Danke", create(Translator, {"min_confidence": 0.9}))
    assert unsure.get(TRANSLATION) is None
    assert parse("Danke", create(Translator)).get(TEXT) == "Thanks"
