"""bot.nlu.language.LanguageDetector, the Rasa 3.6 component (runs in .venv-rasa).

The last tests train a real NLU model with the component first in the pipeline and parse
messages through a loaded Agent (about a minute on two cores, once per module).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.rasa_env

rasa = pytest.importorskip("rasa", reason="runs in the Rasa environment (.venv-rasa)")

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.recipes.default_recipe import DefaultV1Recipe  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.shared.exceptions import InvalidConfigException  # noqa: E402
from rasa.shared.nlu.constants import ACTION_NAME, INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.errors import ConfigError  # noqa: E402
from bot.language import GROUP_CODE  # noqa: E402
from bot.nlu.language import (  # noqa: E402
    LANGUAGE,
    LanguageConfigError,
    LanguageDetector,
)

ROOT = Path(__file__).resolve().parents[3]
COMPONENT_PATH = "bot.nlu.language.LanguageDetector"
EXPLICIT = {"supported": ["en", "ar", "sl"], "also_detect": ["hr", "sr", "bs", "de"]}


def create_component(
    config: dict[str, Any] | None = None, tmp_path: Path | None = None
) -> LanguageDetector:
    """The component as Rasa creates it: defaults merged with ``config``."""
    storage_dir = tmp_path or Path(os.environ.get("TMPDIR", "/tmp"))
    return LanguageDetector.create(
        {**LanguageDetector.get_default_config(), **(config or {})},
        LocalModelStorage(storage_dir),
        Resource("language_detector"),
        ExecutionContext(GraphSchema({}), "test"),
    )


@pytest.fixture(scope="module")
def component() -> LanguageDetector:
    return create_component(EXPLICIT)


def _message(text: Any, metadata: dict[str, Any] | None = None) -> Message:
    return Message(data={TEXT: text, "metadata": metadata})


# --- process -------------------------------------------------------------------------

MULTILINGUAL = [
    ("en", "Hello, my parcel never arrived"),
    ("en", "can you help me reset my password"),
    ("ar", "مرحبا، أين طلبي؟"),
    ("ar", "شكرا جزيلا"),
    ("sl", "Pozdravljeni, kje je moje naročilo?"),
    ("sl", "hvala lepa"),
    (GROUP_CODE, "Bok, gdje je moja narudžba?"),
    (GROUP_CODE, "da li mogu da promenim adresu"),
    (GROUP_CODE, "Здраво, где је моја поруџбина?"),
    ("de", "Hallo, wo ist meine Bestellung?"),
    (None, "👍"),
    (None, "ok"),
    (None, "12345"),
]


@pytest.mark.parametrize(("expected", "text"), MULTILINGUAL)
def test_process_sets_language_in_output(
    component: LanguageDetector, expected: str | None, text: str
) -> None:
    message = _message(text)
    assert component.process([message]) == [message]
    detection = message.get(LANGUAGE)
    assert detection["language"] == expected
    assert set(detection) == {"language", "confidence", "method", "candidates", "words"}
    assert message.as_dict(only_output_properties=True)[LANGUAGE] == detection
    json.dumps(detection, allow_nan=False)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"language_hint": "sl-SI"}, "sl"),
        ({"locale": "hr-HR"}, GROUP_CODE),
        ({"language_hint": "de", "locale": "sl-SI"}, "de"),  # first key wins
        ({"language_hint": "", "locale": "sl-SI"}, "sl"),
        ({"language_hint": 42}, None),
        ({"locale": "ja-JP"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_hint_from_metadata_for_undecidable_text(
    component: LanguageDetector, metadata: Any, expected: str | None
) -> None:
    message = _message("👍", metadata)
    component.process([message])
    assert message.get(LANGUAGE)["language"] == expected


def test_hint_does_not_override_clear_text(component: LanguageDetector) -> None:
    message = _message("Where is my order please?", {"locale": "sl-SI"})
    component.process([message])
    assert message.get(LANGUAGE)["language"] == "en"


@pytest.mark.parametrize(
    "payload",
    [
        "/unsupported_content",
        "/greet",
        "/affirm",
        '/choose_article{"article_id": "returns"}',
    ],
)
def test_intent_payloads_have_no_language_of_their_own_only_the_hint(
    component: LanguageDetector, payload: str
) -> None:
    # "/unsupported_content" alone reads as English (0.57): a first message would
    # then be answered in English whatever the customer's Telegram language.
    bare = _message(payload)
    hinted = _message(payload, {"language_hint": "ar"})
    component.process([bare, hinted])
    assert bare.get(LANGUAGE)["language"] is None
    assert hinted.get(LANGUAGE)["language"] == "ar"
    assert hinted.get(LANGUAGE)["method"] == "hint"


def test_text_that_only_starts_with_a_slash_is_still_detected(
    component: LanguageDetector,
) -> None:
    message = _message("/help kje je moje naročilo", {"language_hint": "en"})
    component.process([message])
    assert message.get(LANGUAGE)["language"] == "sl"


def test_hint_keys_are_configurable(tmp_path: Path) -> None:
    custom = create_component({**EXPLICIT, "hint_keys": ["tg_lang"]}, tmp_path)
    message = _message("ok", {"tg_lang": "sl", "locale": "de-DE"})
    custom.process([message])
    assert message.get(LANGUAGE)["language"] == "sl"


NAUGHTY = [
    "",
    "a" * 10_000,
    "\ud800",
    "abc\udfffdef",
    "\x00\x1b[2J\x7f",
    "\u202e\u200fمرحبا\u200e\u202c",
    "Z̵̢̛a̷̠͝l̶̨̛g̴̣̈o̵̺͊",
    "👩‍👩‍👧‍👦" * 500,
    "مرحبا hello Здраво 你好",
    "<script>alert(1)</script>",
    "\n" * 1000,
]


@pytest.mark.parametrize("text", NAUGHTY, ids=range(len(NAUGHTY)))
def test_naughty_strings(component: LanguageDetector, text: str) -> None:
    message = _message(text, {"locale": text[:10]})
    component.process([message])
    detection = message.get(LANGUAGE)
    assert detection["language"] in {None, *component.detector.languages}
    json.dumps(detection, allow_nan=False)


def test_messages_without_text_are_left_alone(component: LanguageDetector) -> None:
    no_text = [Message(data={INTENT: "greet"}), Message(data={ACTION_NAME: "utter_x"})]
    component.process(no_text)
    assert all(m.get(LANGUAGE) is None for m in no_text)


def test_process_training_data_sets_language_on_examples(
    component: LanguageDetector,
) -> None:
    examples = [
        Message(data={TEXT: "kje je moj paket", INTENT: "where_is_order"}),
        Message(data={TEXT: "where is my parcel", INTENT: "where_is_order"}),
        Message(data={TEXT: "أين طردي", INTENT: "where_is_order"}),
        Message(data={INTENT: "greet"}),
    ]
    data = TrainingData(training_examples=examples)
    assert component.process_training_data(data) is data
    found = [m.get(LANGUAGE) and m.get(LANGUAGE)["language"] for m in examples]
    assert found == ["sl", "en", "ar", None]


def test_py3langid_runs_on_rasas_numpy() -> None:
    """py3langid 0.4.0 declares numpy>=2; Rasa pins 1.23 and it must still work."""
    import numpy
    import py3langid

    assert py3langid.__version__ == "0.4.0"
    assert numpy.__version__.startswith("1.23")
    assert py3langid.classify("Gdje je moja narudžba?")[0] in {"hr", "bs", "sr"}


# --- configuration -------------------------------------------------------------------


def test_registered_as_non_trainable_featurizer() -> None:
    registered = DefaultV1Recipe._from_registry(COMPONENT_PATH)
    assert registered.clazz is LanguageDetector
    assert registered.types == {DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER}
    assert registered.is_trainable is False


def test_required_packages_are_installed() -> None:
    from rasa.utils.common import find_unavailable_packages

    assert LanguageDetector.required_packages() == ["py3langid", "simplemma"]
    assert find_unavailable_packages(LanguageDetector.required_packages()) == set()


def test_language_packages_sit_beside_rasas_pins() -> None:
    """lingua and simplemma install into the Rasa environment without moving its pins.

    Rasa 3.6 breaks with numpy past 1.23 or setuptools past 70 (it imports
    pkg_resources); the detector must load and decide here on those versions.
    """
    import importlib.metadata as metadata

    import lingua
    import simplemma

    assert metadata.version("lingua-language-detector") == "2.1.1"
    assert metadata.version("simplemma") == "2.0.0"
    assert metadata.version("numpy") == "1.23.5"
    assert metadata.version("setuptools").startswith("70.")
    assert lingua.LanguageDetectorBuilder and simplemma.is_known("ustavim", lang="sl")
    from bot.language import LanguageDetector as Detector

    detector = Detector(["en", "sl"], ["hr"])
    detector.warm_up()
    assert detector.detect("kako ustavim mesečni paket").language == "sl"


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"suported": ["en"]}, "suported", "did you mean 'supported'"),
        ({"supported": ["en", "slo"]}, "supported", "did you mean 'sl'"),
        ({"supported": []}, "supported", "empty"),
        ({"also_detect": "klingon"}, "also_detect", "unsupported language code"),
        ({"also_detect": ["ja"]}, "also_detect", "supported: ar, bg"),
        ({"default": 3}, "default", "language code"),
        ({"supported": ["en"], "also_detect": [], "default": "sl"}, "default", "sl"),
        ({"hint_keys": "locale"}, "hint_keys", "list"),
        ({"second_opinion": True}, "second_opinion", "unknown key"),
    ],
)
def test_validate_config_names_key_and_fix(
    tmp_path: Path, config: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(LanguageConfigError) as caught:
        create_component({**EXPLICIT, **config}, tmp_path)
    error = caught.value
    assert isinstance(error, InvalidConfigException)  # Rasa's CLI prints it cleanly
    assert isinstance(error, ConfigError)
    assert error.key == f"pipeline[LanguageDetector].{key}"
    assert words in str(error)
    assert "(fix: " in str(error)


def _settings_file(folder: Path, languages: dict[str, Any]) -> Path:
    import yaml

    path = folder / "supportbot.yml"
    path.write_text(yaml.safe_dump({"languages": languages}), encoding="utf-8")
    return path


def test_languages_default_to_supportbot_yml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = {"supported": ["en", "hr"], "default": "hr", "also_detect": ["sl"]}
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(_settings_file(tmp_path, settings)))
    from_file = create_component({}, tmp_path)
    assert from_file.detector.languages == ("en", "hr", "sl")
    assert from_file.settings.default == "hr"
    message = _message("gdje je moja narudžba")
    from_file.process([message])
    assert message.get(LANGUAGE)["language"] == "hr"
    # a key given in config.yml wins over the file, the others still come from it
    mixed = create_component({"also_detect": ["de"]}, tmp_path)
    assert mixed.detector.languages == ("en", "hr", "de")


def test_project_settings_file_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUPPORTBOT_CONFIG", raising=False)
    from_project = create_component({}, tmp_path)
    assert from_project.settings.supported[:1] == ("en",)
    assert GROUP_CODE in from_project.detector.languages


def test_missing_or_broken_settings_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(LanguageConfigError, match="settings file not found"):
        create_component({}, tmp_path)
    bad = _settings_file(tmp_path, {"supported": ["en"], "default": "fr"})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(bad))
    with pytest.raises(LanguageConfigError, match=r"languages\.default"):
        create_component({}, tmp_path)
    # everything given in config.yml: the file is not needed at all
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(tmp_path / "nope.yml"))
    assert create_component({**EXPLICIT, "default": "en"}, tmp_path)


def test_fingerprint_follows_resolved_languages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _settings_file(tmp_path, {"supported": ["en", "sl"], "default": "en"})
    monkeypatch.setenv("SUPPORTBOT_CONFIG", str(path))
    first = LanguageDetector.fingerprint_addon({})
    assert first and first == LanguageDetector.fingerprint_addon({})
    _settings_file(tmp_path, {"supported": ["en", "sl", "ar"], "default": "en"})
    assert LanguageDetector.fingerprint_addon({}) != first
    assert LanguageDetector.fingerprint_addon({"supported": ["xx"]}) is None


# --- placement in Rasa's graph, and a real training run ------------------------------

CONFIG = """\
recipe: default.v1
language: xx
assistant_id: language-detector-test
pipeline:
  - name: bot.nlu.language.LanguageDetector
    supported: [en, ar, sl]
    also_detect: [hr, sr, bs, de]
  - name: tests_language_probe.LanguageProbe
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: LogisticRegressionClassifier
"""

NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello there
    - hi, good morning
    - pozdravljeni
    - živjo, dober dan
    - مرحبا
    - السلام عليكم
- intent: where_is_order
  examples: |
    - where is my order
    - my parcel has not arrived yet
    - kje je moje naročilo
    - paket še ni prispel
    - أين طلبي
    - لم يصل الطرد بعد
"""

PROBE = '''\
"""Test-only featurizer placed after the language detector: records what it sees."""
from typing import Any, Dict, List

from rasa.engine.graph import GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

SEEN_IN_TRAINING: List[Any] = []


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class LanguageProbe(GraphComponent):
    @classmethod
    def create(cls, config, model_storage, resource, execution_context):
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        SEEN_IN_TRAINING.extend(
            (m.get("text"), (m.get("language") or {}).get("language"))
            for m in training_data.training_examples
        )
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for m in messages:
            m.set("probe_saw", (m.get("language") or {}).get("language"), True)
        return messages
'''


def test_component_runs_first_in_both_graphs() -> None:
    """Train graph: before the tokenizer on training data; predict graph: first too."""
    import yaml
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.data import TrainingType

    config = yaml.safe_load(CONFIG)
    config["pipeline"][1] = {"name": "WhitespaceTokenizer"}
    del config["pipeline"][2]
    recipe = Recipe.recipe_for_name("default.v1")
    graphs = recipe.graph_config_for_recipe(config, {}, training_type=TrainingType.NLU)
    train = graphs.train_schema.nodes
    ours = f"run_{COMPONENT_PATH}0"
    assert train[ours].fn == "process_training_data"
    assert train[ours].needs == {"training_data": "nlu_training_data_provider"}
    assert train["run_WhitespaceTokenizer1"].needs["training_data"] == ours
    predict = graphs.predict_schema.nodes
    assert predict[ours].fn == "process"
    assert predict[ours].needs == {"messages": "nlu_message_converter"}
    assert predict["run_WhitespaceTokenizer1"].needs["messages"] == ours


def test_project_config_places_detector_first() -> None:
    import yaml
    from rasa.engine.recipes.recipe import Recipe
    from rasa.shared.data import TrainingType

    path = ROOT / "config.yml"
    if not path.exists():
        pytest.skip("the project has no config.yml yet")
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["pipeline"][0]["name"] == COMPONENT_PATH
    second = f"run_{config['pipeline'][1]['name']}1"
    graphs = Recipe.recipe_for_name("default.v1").graph_config_for_recipe(
        config, {}, training_type=TrainingType.NLU
    )
    ours = f"run_{COMPONENT_PATH}0"
    assert graphs.train_schema.nodes[second].needs["training_data"] == ours
    assert graphs.predict_schema.nodes[second].needs["messages"] == ours


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    import sys

    from rasa.model_training import train_nlu

    folder = tmp_path_factory.mktemp("rasa_project")
    (folder / "tests_language_probe.py").write_text(PROBE, encoding="utf-8")
    (folder / "config.yml").write_text(CONFIG, encoding="utf-8")
    (folder / "nlu.yml").write_text(NLU, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_TELEMETRY_ENABLED", "false")
        mp.setenv("RASA_CACHE_DIRECTORY", str(folder / "cache"))
        mp.syspath_prepend(str(folder))
        mp.chdir(folder)
        model = train_nlu(
            config=str(folder / "config.yml"),
            nlu_data=str(folder / "nlu.yml"),
            output=str(folder / "models"),
        )
        probe = sys.modules["tests_language_probe"]
        assert model is not None
        yield Path(model), probe


def test_training_examples_carry_language(trained_model: tuple[Path, Any]) -> None:
    _, probe = trained_model
    seen = dict(probe.SEEN_IN_TRAINING)
    assert seen["kje je moje naročilo"] == "sl"
    assert seen["where is my order"] == "en"
    assert seen["أين طلبي"] == "ar"
    assert len(seen) == 12


async def test_parse_data_of_a_trained_model_has_language(
    trained_model: tuple[Path, Any],
) -> None:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import UserMessage

    model_path, _ = trained_model
    agent = Agent.load(model_path)
    cases = {
        "kje je moj paket": "sl",
        "where is my parcel": "en",
        "أين الطرد": "ar",
        "Bok, gdje je moja narudžba?": GROUP_CODE,
        "👍": None,
    }
    for text, expected in cases.items():
        parse_data = await agent.parse_message(text)
        assert parse_data["language"]["language"] == expected, parse_data
        # the next component sees it (Rasa drops None-valued keys from parse_data)
        assert parse_data.get("probe_saw") == expected
        assert parse_data["intent"]["name"] in {"greet", "where_is_order", None}
    # the channel's locale arrives as metadata and is the hint for undecidable text
    parse_data = await agent.processor.parse_message(
        UserMessage("👍", metadata={"language_hint": "sl-SI"})
    )
    assert parse_data["language"]["language"] == "sl"
    assert parse_data["language"]["method"] == "hint"
