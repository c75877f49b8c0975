"""The three evidence sources, restricted to the languages that compete in one script.

* py3langid 0.4.0 (character n-grams, naive Bayes): normalised probabilities.
* lingua 2.1.1 in low-accuracy mode (trigram models only: ~26 MB resident for twelve
  languages instead of ~360 MB for its high-accuracy models) restricted to the same
  languages: confidence values.
* simplemma 2.0.0's dictionaries (bot.language.vocab): the share of words that are forms
  in a language's vocabulary, and the share known in that language *only* among the
  competitors ("ustavim" is Slovenian and not Croatian; "narudžbu" the other way).

Croatian, Serbian and Bosnian are one output (the group) scored by its best member: a
sum would give the group three times the probability of any single rival on text that
fits all of them equally ("dobro jutro"), a head start no evidence earned. Each source is
loaded once per process and language set, lazily, behind a lock.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from bot.language.codes import GROUP_MEMBERS
from bot.language.text import Prepared
from bot.language.vocab import Vocabulary, dictionary_code

#: Feature names, in the order of the columns :meth:`Evidence.features` returns.
FEATURES = ("py3langid", "lingua", "dictionary", "dictionary_only")
#: Probabilities are floored here before the log: one source's zero must not veto.
FLOOR = 1e-5

_lock = threading.Lock()
_py3langid_base: Any = None
_py3langid: dict[frozenset[str], Any] = {}
_lingua: dict[frozenset[str], Any] = {}


def py3langid_for(labels: frozenset[str]) -> Any:
    """A py3langid identifier restricted to ``labels`` (normalised probabilities)."""
    global _py3langid_base
    identifier = _py3langid.get(labels)
    if identifier is None:
        with _lock:
            identifier = _py3langid.get(labels)
            if identifier is None:
                if _py3langid_base is None:
                    from py3langid.langid import MODEL_FILE, LanguageIdentifier

                    _py3langid_base = LanguageIdentifier.from_model_file(
                        MODEL_FILE, norm_probs=True
                    )
                # set_languages rebinds (never mutates) the arrays: a shallow copy
                # shares the loaded model and restricts only its own view.
                identifier = copy.copy(_py3langid_base)
                identifier.set_languages(sorted(labels))
                _py3langid[labels] = identifier
    return identifier


def lingua_for(labels: frozenset[str]) -> Any:
    """A lingua detector for ``labels`` only, low-accuracy mode, models preloaded."""
    detector = _lingua.get(labels)
    if detector is None:
        with _lock:
            detector = _lingua.get(labels)
            if detector is None:
                from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

                languages = [
                    Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                    for code in sorted(labels)
                ]
                detector = (
                    LanguageDetectorBuilder.from_languages(*languages)
                    .with_low_accuracy_mode()
                    .with_preloaded_language_models()
                    .build()
                )
                _lingua[labels] = detector
    return detector


class Evidence:
    """Feature rows for the outputs that compete within one script.

    Args:
        outputs: the detector's output codes for the script, the group as one code.
        group_code: which output stands for hr/sr/bs ("hbs", or "hr" when only that
            member is supported natively).
    """

    def __init__(self, outputs: Sequence[str], group_code: str) -> None:
        self.outputs = tuple(outputs)
        self.group_code = group_code
        self._index = {code: i for i, code in enumerate(self.outputs)}
        labels: set[str] = set()
        for out in self.outputs:
            labels |= set(GROUP_MEMBERS) if out == group_code else {out}
        self.labels = frozenset(labels)
        self._py3langid = py3langid_for(self.labels)
        self._lingua = lingua_for(self.labels)
        self.vocabulary = Vocabulary(
            [dictionary_code(self._member(out)) for out in self.outputs]
        )

    def _member(self, out: str) -> str:
        return "hr" if out == self.group_code else out

    def _output(self, label: str) -> str:
        return self.group_code if label in GROUP_MEMBERS else label

    def features(self, prep: Prepared) -> np.ndarray:
        """One row per output, columns as :data:`FEATURES`."""
        n = len(self.outputs)
        py = np.zeros(n)
        for label, p in self._py3langid.rank(prep.model_text):
            i = self._index[self._output(label)]
            py[i] = max(py[i], p)
        li = np.zeros(n)
        for value in self._lingua.compute_language_confidence_values(prep.model_text):
            i = self._index[self._output(value.language.iso_code_639_1.name.lower())]
            li[i] = max(li[i], value.value)
        if li.sum() <= 0:  # lingua knows none of the n-grams: no opinion
            li[:] = 1.0 / n
        known = self.vocabulary.known(prep.tokens)
        words = max(len(prep.tokens), 1)
        in_language = known.sum(axis=1) / words
        only = (known & (known.sum(axis=0) == 1)).sum(axis=1) / words
        return np.column_stack(
            [
                np.log(np.maximum(py, FLOOR)),
                np.log(np.maximum(li, FLOOR)),
                in_language,
                only,
            ]
        )


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities from scores (stable)."""
    shifted = np.exp(scores - scores.max())
    return shifted / shifted.sum()


def no_evidence(rows: np.ndarray) -> bool:
    """True when every source scores every language alike (nothing to go on)."""
    return bool(np.all(np.ptp(rows, axis=0) < 1e-6)) or math.isnan(float(rows.sum()))
