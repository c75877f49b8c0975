"""The calibrated intent model behind :mod:`bot.nlu.intent_classifier`: pure numpy + sklearn.

Kept apart from the Rasa component so the benchmarks (bench/oos.py, bench/own_data.py)
train and score exactly the model the bot ships, on cached vectors, without building a
Rasa model per experiment.

What it is:

- **Features**: the message's e5 sentence vector (L2-normalised), optionally next to
  TF-IDF char n-grams (``char_wb``) and word n-grams of the lower-cased text. The dense
  part carries meaning across paraphrases and languages; the sparse part would carry
  the exact words editors wrote, but it multiplies training cost (scipy's sparse
  products, ~600 non-zeros a row, against BLAS on 384 dense floats): off by default
  (see docs/intent_model.md). A message in a language with no training data has almost
  no known n-grams, so the dense part decides there by itself either way.
- **Head**: one multinomial logistic regression over both, L2-regularised (``c``).
- **Out-of-scope score**: ``probability`` (the head's top probability), ``nearest``
  (cosine similarity to the nearest training example of the predicted intent) or
  ``blend`` (their mean). ``nearest`` is the default: a frozen encoder places unserved
  questions away from every example even where the head is confidently wrong (chosen on
  BANKING77-OOS valid/ + id-oos/valid, bench/oos.py --tune).
- **Calibration**: the head is refit on k-1 of k stratified folds and scores the held-out
  fold, so every training example gets the score a *new* in-scope message of its
  language would get. Per language, the threshold is the ``target`` quantile of those
  scores: at most ``target`` of in-scope messages fall back (measured, not assumed). A
  language with too few examples uses the threshold of all languages together.

Persistence is ``numpy.savez`` (no pickle: a model file cannot run code) plus a JSON
manifest; :meth:`IntentModel.load` checks the two against each other.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)

#: How out-of-scope is scored (see the module docstring).
SCORES = ("probability", "nearest", "blend")
#: The language key of examples whose language is unknown, and of the pooled threshold.
ANY_LANGUAGE = "*"
ARRAYS = "intent_model.npz"
MANIFEST = "intent_model.json"
FORMAT_VERSION = 1


class IntentModelError(Exception):
    """A persisted intent model that cannot be used: names the file and the fix."""


@dataclass(frozen=True)
class ModelSettings:
    """What the model is trained with; the component's config keys map onto these."""

    c: float = 100.0
    char_ngrams: tuple[int, int] | None = None
    word_ngrams: tuple[int, int] | None = None
    sparse_weight: float = 1.0
    max_sparse_features: int = 100_000
    score: str = "nearest"
    target_fallback_rate: float = 0.05
    folds: int = 4
    min_language_examples: int = 30
    ambiguity_margin: float = 0.1
    max_iter: int = 300
    seed: int = 42


@dataclass(frozen=True)
class Prediction:
    """One message's result: ranking, OOS score, the threshold it met or missed."""

    ranking: list[tuple[str, float]]
    score: float
    threshold: float
    language: str

    @property
    def in_scope(self) -> bool:
        return self.score >= self.threshold


@dataclass
class Calibration:
    """Per-language thresholds and what they measured on the held-out folds."""

    target: float
    thresholds: dict[str, float] = field(default_factory=dict)
    measured: dict[str, dict[str, float]] = field(default_factory=dict)

    def threshold(self, language: str | None) -> float:
        """The language's threshold, else the pooled one."""
        if language and language in self.thresholds:
            return self.thresholds[language]
        return self.thresholds[ANY_LANGUAGE]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "thresholds": self.thresholds, "measured": self.measured}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(float(data["target"]), dict(data["thresholds"]), dict(data["measured"]))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def features(dense: np.ndarray, sparse: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
    """The head's input: dense and sparse blocks side by side.

    Without sparse features the input stays a dense array: BLAS multiplies it many
    times faster than scipy multiplies the same numbers stored as a sparse matrix.
    """
    if sparse.shape[1] == 0:
        return dense
    return sp.hstack([sp.csr_matrix(dense), sparse], format="csr")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def fold_ids(labels: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Stratified fold of each example: each intent's examples dealt round-robin.

    An intent with fewer examples than folds is simply absent from some folds' training
    parts; nothing fails (sklearn's StratifiedKFold would warn or refuse).
    """
    rng = np.random.RandomState(seed)
    ids = np.zeros(len(labels), dtype=np.int64)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    start = 0
    for label in sorted(by_label):
        members = np.array(by_label[label])
        rng.shuffle(members)
        for j, i in enumerate(members):
            ids[i] = (start + j) % folds
        start += len(members)  # spread singletons over the folds
    return ids


class _Sparse:
    """Char and word TF-IDF, fitted on training texts; rebuilt from saved arrays."""

    def __init__(self, settings: ModelSettings) -> None:
        self.vectorizers: list[TfidfVectorizer] = []
        if settings.char_ngrams:
            self.vectorizers.append(
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=tuple(settings.char_ngrams),
                    sublinear_tf=True,
                    min_df=2,
                    max_features=settings.max_sparse_features,
                    dtype=np.float32,
                )
            )
        if settings.word_ngrams:
            self.vectorizers.append(
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=tuple(settings.word_ngrams),
                    token_pattern=r"(?u)\b\w+\b",
                    sublinear_tf=True,
                    min_df=1,
                    max_features=settings.max_sparse_features,
                    dtype=np.float32,
                )
            )
        self.weight = settings.sparse_weight

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        parts = []
        fitted = []
        for vec in self.vectorizers:
            try:
                parts.append(vec.fit_transform(texts))
                fitted.append(vec)
            except ValueError:  # empty vocabulary (e.g. min_df on a tiny bot): skip it
                logger.info("intent model: %s n-grams skipped, no vocabulary", vec.analyzer)
        self.vectorizers = fitted
        return self._stack(parts, len(texts))

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return self._stack([vec.transform(texts) for vec in self.vectorizers], len(texts))

    def _stack(self, parts: list[sp.spmatrix], rows: int) -> sp.csr_matrix:
        if not parts:
            return sp.csr_matrix((rows, 0), dtype=np.float32)
        # Each vectorizer's rows are unit length; dividing by sqrt(len) keeps the sparse
        # block's total norm at sparse_weight, like the unit dense block.
        scale = self.weight / np.sqrt(len(parts))
        return sp.hstack(parts, format="csr", dtype=np.float32) * scale

    @property
    def width(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers)

    def state(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """JSON-able description and arrays, enough to rebuild without pickle."""
        meta, arrays = [], {}
        for i, vec in enumerate(self.vectorizers):
            vocab = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
            meta.append(
                {
                    "analyzer": vec.analyzer,
                    "ngram_range": list(vec.ngram_range),
                    "token_pattern": vec.token_pattern,
                    "vocabulary": vocab,
                }
            )
            arrays[f"idf_{i}"] = vec.idf_.astype(np.float32)
        return meta, arrays

    @classmethod
    def rebuild(
        cls, weight: float, meta: list[dict[str, Any]], arrays: dict[str, np.ndarray]
    ) -> _Sparse:
        self = cls.__new__(cls)
        self.weight = weight
        self.vectorizers = []
        for i, m in enumerate(meta):
            vec = TfidfVectorizer(
                analyzer=m["analyzer"],
                ngram_range=tuple(m["ngram_range"]),
                token_pattern=m["token_pattern"],
                sublinear_tf=True,
                vocabulary={term: j for j, term in enumerate(m["vocabulary"])},
                dtype=np.float32,
            )
            vec.idf_ = arrays[f"idf_{i}"].astype(np.float64)
            self.vectorizers.append(vec)
        return self


class _Head:
    """Logistic regression weights, applied with numpy at prediction time."""

    def __init__(self, labels: list[str], weights: np.ndarray, bias: np.ndarray) -> None:
        self.labels = labels
        self.weights = weights  # (classes, dense + sparse)
        self.bias = bias

    @classmethod
    def fit(
        cls,
        x: np.ndarray | sp.csr_matrix,
        y: Sequence[str],
        settings: ModelSettings,
        start: _Head | None = None,
    ) -> _Head:
        """Fit on (x, y); ``start`` (same labels, same features) seeds the optimiser.

        The objective is strictly convex (L2), so a warm start reaches the same optimum
        as a cold one, only in fewer iterations: calibration seeds each fold's fit with
        the full model, which keeps k + 1 fits within the training budget.
        """
        labels = sorted(set(y))
        if len(labels) == 1:  # one intent: always it, with full probability
            return cls(labels, np.zeros((1, x.shape[1]), np.float32), np.zeros(1, np.float32))
        clf = LogisticRegression(
            C=settings.c, max_iter=settings.max_iter, random_state=settings.seed
        )
        if (
            start is not None
            and start.labels == labels
            and len(labels) > 2
            and start.weights.shape[1] == x.shape[1]
        ):
            clf.set_params(warm_start=True)
            coef = start.weights.astype(np.float64)
            # Features no training row has (n-grams only the held-out fold uses) start at
            # zero: their full-model weights encode held-out labels.
            seen = (
                np.asarray(sp.csr_matrix(x).getnnz(axis=0)).ravel() > 0
                if sp.issparse(x)
                else np.ones(x.shape[1], dtype=bool)
            )
            coef[:, ~seen] = 0.0
            clf.coef_ = coef
            clf.intercept_ = start.bias.astype(np.float64)
        clf.fit(x, list(y))
        coef, intercept = clf.coef_, clf.intercept_
        if len(labels) == 2:  # sklearn's binary form: one row for the second class
            coef = np.vstack([-coef / 2, coef / 2])
            intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        return cls(list(clf.classes_), coef.astype(np.float32), intercept.astype(np.float32))

    def probabilities(self, x: np.ndarray | sp.csr_matrix) -> np.ndarray:
        logits = np.asarray(x @ self.weights.T) + self.bias
        return _softmax(logits.astype(np.float64))


class IntentModel:
    """Features + head + nearest-example index + per-language thresholds."""

    def __init__(
        self,
        settings: ModelSettings,
        sparse: _Sparse,
        head: _Head,
        examples: np.ndarray,
        example_labels: np.ndarray,
        calibration: Calibration,
        titles: dict[str, dict[str, str]],
    ) -> None:
        self.settings = settings
        self.sparse = sparse
        self.head = head
        self.examples = examples  # (n, dim) unit vectors of the training examples
        self.example_labels = example_labels  # (n,) index into head.labels
        self.calibration = calibration
        self.titles = titles

    # -- training ------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        vectors: np.ndarray,
        texts: Sequence[str],
        labels: Sequence[str],
        languages: Sequence[str | None],
        settings: ModelSettings | None = None,
    ) -> IntentModel:
        """Fit on all examples; thresholds from ``settings.folds`` held-out folds."""
        settings = settings or ModelSettings()
        if len(texts) == 0:
            raise ValueError("no training examples with an intent")
        dense = normalise(vectors)
        langs = [lang or ANY_LANGUAGE for lang in languages]
        model = cls._fit(dense, texts, labels, settings, Calibration(0.0))
        model.calibration = calibrate(dense, texts, labels, langs, settings, model)
        model.titles = representative_texts(dense, texts, labels, langs)
        return model

    @classmethod
    def _fit(
        cls,
        dense: np.ndarray,
        texts: Sequence[str],
        labels: Sequence[str],
        settings: ModelSettings,
        calibration: Calibration,
        full: IntentModel | None = None,
    ) -> IntentModel:
        """Fit features and head; a fold model (``full`` given) reuses full's features.

        Reusing the full model's vocabulary lets the fold's head start from the full
        head. N-grams seen only in the held-out fold get no weight in the fold's fit
        (no training row has them), so nothing leaks from the held-out fold but the
        vocabulary list and idf.
        """
        if full is None:
            sparse = _Sparse(settings)
            x_sparse = sparse.fit_transform(texts)
        else:
            sparse = full.sparse
            x_sparse = sparse.transform(texts)
        x = features(dense, x_sparse)
        head = _Head.fit(x, labels, settings, start=full.head if full else None)
        index = {label: i for i, label in enumerate(head.labels)}
        example_labels = np.array([index[label] for label in labels], dtype=np.int32)
        return cls(settings, sparse, head, dense, example_labels, calibration, {})

    # -- prediction ----------------------------------------------------------------

    def scores(self, vectors: np.ndarray, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, classes), out-of-scope score (n,)) for ``texts``."""
        dense = normalise(vectors)
        x = features(dense, self.sparse.transform(texts))
        probs = self.head.probabilities(x)
        return probs, self._score(dense, probs)

    def _score(self, dense: np.ndarray, probs: np.ndarray) -> np.ndarray:
        top = probs.max(axis=1)
        if self.settings.score == "probability":
            return top
        best = probs.argmax(axis=1)
        sims = dense @ self.examples.T  # (n, examples)
        same = self.example_labels[None, :] == best[:, None]
        nearest = np.where(same, sims, -1.0).max(axis=1)
        if self.settings.score == "nearest":
            return nearest
        return (top + nearest) / 2

    def predict(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        languages: Sequence[str | None],
    ) -> list[Prediction]:
        probs, scores = self.scores(vectors, texts)
        out = []
        for row, score, lang in zip(probs, scores, languages, strict=True):
            order = np.argsort(-row)
            ranking = [(self.head.labels[i], float(row[i])) for i in order]
            threshold = self.calibration.threshold(lang)
            out.append(Prediction(ranking, float(score), threshold, lang or ANY_LANGUAGE))
        return out

    def ambiguous(self, prediction: Prediction) -> list[str]:
        """The top two intents when they are too close to choose, else []."""
        ranking = prediction.ranking
        if len(ranking) < 2 or not prediction.in_scope:
            return []
        if ranking[0][1] - ranking[1][1] < self.settings.ambiguity_margin:
            return [ranking[0][0], ranking[1][0]]
        return []

    # -- persistence ---------------------------------------------------------------

    def save(self, folder: Path) -> None:
        sparse_meta, arrays = self.sparse.state()
        arrays.update(
            weights=self.head.weights,
            bias=self.head.bias,
            examples=self.examples.astype(np.float16),
            example_labels=self.example_labels,
        )
        np.savez(folder / ARRAYS, **arrays)  # type: ignore[arg-type]
        manifest = {
            "format": FORMAT_VERSION,
            "settings": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.settings.__dict__.items()
            },
            "labels": self.head.labels,
            "sparse": sparse_meta,
            "calibration": self.calibration.to_dict(),
            "titles": self.titles,
            "shapes": {k: list(v.shape) for k, v in arrays.items()},
        }
        (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> IntentModel:
        """The model saved in ``folder``; IntentModelError naming the bad file."""
        manifest_path, arrays_path = folder / MANIFEST, folder / ARRAYS
        try:
            manifest = json.loads(manifest_path.read_text("utf-8"))
            if manifest.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT_VERSION}")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise IntentModelError(f"{manifest_path.name}: unreadable ({exc})") from exc
        try:
            with np.load(arrays_path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise IntentModelError(f"{arrays_path.name}: unreadable ({exc})") from exc
        for key, shape in manifest["shapes"].items():
            if key not in arrays or list(arrays[key].shape) != shape:
                raise IntentModelError(
                    f"{arrays_path.name}: array {key!r} does not match {manifest_path.name}"
                )
        raw: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v
            for k, v in manifest["settings"].items()
            if k in ModelSettings.__dataclass_fields__
        }
        settings = ModelSettings(**raw)
        sparse = _Sparse.rebuild(settings.sparse_weight, manifest["sparse"], arrays)
        head = _Head(list(manifest["labels"]), arrays["weights"], arrays["bias"])
        return cls(
            settings,
            sparse,
            head,
            arrays["examples"].astype(np.float32),
            arrays["example_labels"],
            Calibration.from_dict(manifest["calibration"]),
            manifest["titles"],
        )


def calibrate(
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    languages: Sequence[str],
    settings: ModelSettings,
    full: IntentModel | None = None,
) -> Calibration:
    """Per-language thresholds from held-out folds (see the module docstring)."""
    n = len(texts)
    scores = np.zeros(n)
    correct = np.zeros(n, dtype=bool)
    folds = min(settings.folds, max(Counter(labels).values()))
    if folds < 2 or len(set(labels)) < 2:
        # Nothing to hold out: accept everything the head says (threshold 0).
        logger.warning("intent model: too few examples to calibrate; nothing falls back")
        return Calibration(settings.target_fallback_rate, {ANY_LANGUAGE: 0.0}, {})
    ids = fold_ids(labels, folds, settings.seed)
    empty = Calibration(settings.target_fallback_rate, {ANY_LANGUAGE: 0.0}, {})
    for fold in range(folds):
        held = [int(i) for i in np.flatnonzero(ids == fold)]
        kept = [int(i) for i in np.flatnonzero(ids != fold)]
        model = IntentModel._fit(
            dense[kept],
            [texts[i] for i in kept],
            [labels[i] for i in kept],
            settings,
            empty,
            full,
        )
        probs, fold_scores = model.scores(dense[held], [texts[i] for i in held])
        scores[held] = fold_scores
        best = [model.head.labels[i] for i in probs.argmax(axis=1)]
        correct[held] = [b == labels[i] for b, i in zip(best, held, strict=True)]
    target = settings.target_fallback_rate
    calibration = Calibration(target)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(languages):
        groups[lang].append(i)
    groups[ANY_LANGUAGE] = list(range(n))
    for lang, members in sorted(groups.items()):
        if lang != ANY_LANGUAGE and len(members) < settings.min_language_examples:
            continue
        s = scores[members]
        threshold = float(np.quantile(s, target, method="lower")) if len(s) else 0.0
        kept_mask = s >= threshold
        calibration.thresholds[lang] = threshold
        calibration.measured[lang] = {
            "examples": len(members),
            "false_fallback_rate": float(1 - kept_mask.mean()),
            "accuracy": float(correct[members].mean()),
            "answered_correctly": float((correct[members] & kept_mask).mean()),
        }
    return calibration


def representative_texts(
    dense: np.ndarray,
    texts: Sequence[str],
    labels: Sequence[str],
    languages: Sequence[str],
) -> dict[str, dict[str, str]]:
    """Per intent and language, the example nearest the intent's centroid there.

    A button title an editor wrote, in the customer's language ("did you mean A or B?").
    """
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (label, lang) in enumerate(zip(labels, languages, strict=True)):
        groups[(label, lang)].append(i)
    titles: dict[str, dict[str, str]] = defaultdict(dict)
    for (label, lang), members in sorted(groups.items()):
        centre = dense[members].mean(axis=0)
        best = members[int(np.argmax(dense[members] @ centre))]
        titles[label][lang] = texts[best]
    return dict(titles)
