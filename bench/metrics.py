"""Pure metrics shared by the benchmarks: classification scores and latency percentiles.

No I/O and no clock here, so tests/bench/test_metrics.py can pin every formula on small
hand-computed examples; the benchmark scripts only measure and format.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def accuracy(gold: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Share of items whose prediction equals the gold label (None is always wrong)."""
    _check_pairs(gold, predicted)
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def per_class_f1(
    gold: Sequence[str], predicted: Sequence[str | None]
) -> dict[str, float]:
    """F1 of every gold class (precision and recall of 0/0 count as 0, as sklearn does).

    Predictions of labels that never occur in ``gold`` (e.g. ``nlu_fallback``) lower the
    recall of the true class but get no class of their own: macro F1 averages over the
    classes of the test set, which is how BANKING77 results are published.
    """
    _check_pairs(gold, predicted)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for g, p in zip(gold, predicted, strict=True):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            if p is not None:
                fp[p] += 1
    scores = {}
    for label in sorted(set(gold)):
        denominator = 2 * tp[label] + fp[label] + fn[label]
        scores[label] = 2 * tp[label] / denominator if denominator else 0.0
    return scores


def macro_f1(gold: Sequence[str], predicted: Sequence[str | None]) -> float:
    """Unweighted mean of the per-class F1 over the classes present in ``gold``."""
    scores = per_class_f1(gold, predicted)
    return sum(scores.values()) / len(scores)


def confusions(
    gold: Sequence[str], predicted: Sequence[str | None], top: int = 5
) -> list[tuple[str, str, int]]:
    """The ``top`` most frequent (gold, predicted, count) mistakes, most first."""
    _check_pairs(gold, predicted)
    pairs = zip(gold, predicted, strict=True)
    counts = Counter((g, str(p)) for g, p in pairs if g != p)
    return [
        (g, p, n)
        for (g, p), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ][:top]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks.

    The same definition as numpy's default (``method="linear"``), so figures agree with
    anyone recomputing them from the raw timings.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def throughput(count: int, seconds: float) -> float:
    """Items per second over a wall-clock window."""
    if seconds <= 0:
        raise ValueError(f"throughput needs a positive duration, got {seconds}")
    return count / seconds


def _check_pairs(gold: Sequence[object], predicted: Sequence[object]) -> None:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        raise ValueError("no items to score")
