"""Intent-classification metrics and the data split, as pure functions.

Kept free of numpy/sklearn so that they are obviously right and cheap to test: the
numbers an editor's change is judged by must not depend on a library's defaults.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def stratified_split(
    items: Sequence[T], key: Any, test_fraction: float, seed: int
) -> tuple[list[T], list[T]]:
    """(train, test): ``test_fraction`` of every group (``key(item)``) held out.

    Groups are visited in sorted order and shuffled with one seeded generator, so the
    same data and seed give the same split on every machine. A group of one item stays
    in training (a class the model never saw cannot be tested fairly); otherwise at least
    one item of each group is tested and at least one trained on.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    rng = random.Random(seed)
    groups: dict[Hashable, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    train: list[T] = []
    test: list[T] = []
    for group in sorted(groups, key=str):
        members = list(groups[group])
        rng.shuffle(members)
        n_test = (
            0
            if len(members) < 2
            else min(len(members) - 1, max(1, round(len(members) * test_fraction)))
        )
        test += members[:n_test]
        train += members[n_test:]
    return train, test


def stratified_folds(
    items: Sequence[T], key: Any, folds: int, seed: int
) -> list[list[T]]:
    """``folds`` disjoint parts, every group spread evenly over them (k-fold CV)."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    rng = random.Random(seed)
    groups: dict[Hashable, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    parts: list[list[T]] = [[] for _ in range(folds)]
    offset = 0
    for group in sorted(groups, key=str):
        members = list(groups[group])
        rng.shuffle(members)
        for i, member in enumerate(members):
            parts[(offset + i) % folds].append(member)
        offset += len(members)  # small groups do not all land in fold 0
    return parts


def classification_metrics(
    true: Sequence[str], predicted: Sequence[str | None]
) -> dict[str, Any]:
    """Accuracy, macro F1 (over every intent that is true or predicted) and per intent.

    An intent that is never predicted and never true does not count; one that is
    predicted but never true scores F1 0 and pulls the macro average down, as it should.
    """
    if len(true) != len(predicted):
        raise ValueError("true and predicted differ in length")
    n = len(true)
    correct = sum(t == p for t, p in zip(true, predicted, strict=True))
    labels = sorted({*true, *(p for p in predicted if p is not None)})
    per_intent = {}
    for label in labels:
        tp = sum(
            t == label and p == label for t, p in zip(true, predicted, strict=True)
        )
        fp = sum(
            t != label and p == label for t, p in zip(true, predicted, strict=True)
        )
        fn = sum(
            t == label and p != label for t, p in zip(true, predicted, strict=True)
        )
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = (
            2 * precision * recall / (precision + recall) if precision + recall else 0.0
        )
        per_intent[label] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp + fn,
        }
    macro = (
        sum(v["f1"] for v in per_intent.values()) / len(per_intent)
        if per_intent
        else 0.0
    )
    return {
        "accuracy": correct / n if n else 0.0,
        "macro_f1": macro,
        "n": n,
        "per_intent": per_intent,
    }


def confusion_pairs(
    true: Sequence[str], predicted: Sequence[str | None], top: int = 5
) -> list[dict[str, Any]]:
    """The most frequent (true → predicted) mistakes, most frequent first."""
    counts = Counter(
        (t, p or "(none)") for t, p in zip(true, predicted, strict=True) if t != p
    )
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"true": t, "predicted": p, "count": c} for (t, p), c in ranked[:top]]


def confusion_matrix(
    true: Sequence[str], predicted: Sequence[str | None]
) -> tuple[list[str], list[list[int]]]:
    """(labels, matrix[true][predicted]) over the labels that occur."""
    labels = sorted({*true, *(p or "(none)" for p in predicted)})
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(true, predicted, strict=True):
        matrix[index[t]][index[p or "(none)"]] += 1
    return labels, matrix
