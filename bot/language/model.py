"""The fitted combination: a conditional logistic regression over the evidence.

For the languages that compete in a message's script, each language k gets the score
``w . features_k + bias_k`` and the probabilities are the softmax of the scores. The
weights ``w`` are shared by all languages (so any configured subset, or a language the
fitting data lacked, is scored the same way) and fitted separately for one-word,
two-word and longer messages, because a source's reliability depends on how much text
it sees. ``bias_k`` is a per-language offset learnt from the data (0 for a language the
fitting set did not have). The numbers live in weights.json next to this file, written
by ``python -m bot.language.fit`` from bench/data/lid_fit.tsv and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bot.language.evidence import FEATURES, softmax

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
#: Messages with at least this many words share one set of weights.
LONGEST_BUCKET = 3


def bucket(words: int) -> int:
    """Which weight set a message of ``words`` words uses: 1, 2 or 3 (3+)."""
    return max(1, min(words, LONGEST_BUCKET))


@dataclass(frozen=True)
class Weights:
    """Per bucket: feature weights and per-language biases."""

    features: tuple[str, ...]
    coefficients: Mapping[int, np.ndarray]
    biases: Mapping[int, Mapping[str, float]]

    def probabilities(
        self, rows: np.ndarray, outputs: Sequence[str], words: int
    ) -> np.ndarray:
        """Softmax over ``outputs`` of the fitted scores of their feature rows."""
        b = bucket(words)
        bias = np.array([self.biases[b].get(code, 0.0) for code in outputs])
        return softmax(rows @ self.coefficients[b] + bias)

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "buckets": {
                str(b): {
                    "coefficients": [round(float(x), 6) for x in self.coefficients[b]],
                    "biases": {k: round(v, 6) for k, v in sorted(self.biases[b].items())},
                }
                for b in sorted(self.coefficients)
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Weights:
        """Parse weights.json; ValueError if it does not match the evidence features."""
        features = tuple(str(f) for f in data.get("features") or ())
        if features != FEATURES:
            raise ValueError(
                f"{WEIGHTS_FILE.name} was fitted on features {list(features)}, the "
                f"detector computes {list(FEATURES)}: refit with python -m bot.language.fit"
            )
        buckets = data["buckets"]
        coefficients = {}
        biases = {}
        for key, value in buckets.items():
            coefficients[int(key)] = np.array(value["coefficients"], dtype=float)
            biases[int(key)] = {str(k): float(v) for k, v in value["biases"].items()}
        if sorted(coefficients) != list(range(1, LONGEST_BUCKET + 1)):
            raise ValueError(f"{WEIGHTS_FILE.name}: buckets {sorted(coefficients)}")
        return cls(features, coefficients, biases)


_weights: Weights | None = None


def load_weights(path: Path = WEIGHTS_FILE) -> Weights:
    """The shipped weights (read once per process)."""
    global _weights
    if path != WEIGHTS_FILE:
        return Weights.from_json(json.loads(path.read_text(encoding="utf-8")))
    if _weights is None:
        _weights = Weights.from_json(json.loads(path.read_text(encoding="utf-8")))
    return _weights
