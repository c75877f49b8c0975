"""bench/metrics.py: the formulas behind every published benchmark figure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import metrics

GOLD = ["a", "a", "a", "b", "b", "c"]
PRED = ["a", "a", "b", "b", "nlu_fallback", None]


def test_accuracy_counts_exact_matches_and_none_as_wrong() -> None:
    assert metrics.accuracy(GOLD, PRED) == pytest.approx(3 / 6)
    assert metrics.accuracy(["x"], ["x"]) == 1.0
    assert metrics.accuracy(["x"], [None]) == 0.0


def test_per_class_f1_by_hand() -> None:
    # a: tp 2, fp 0, fn 1 -> 4/5; b: tp 1, fp 1, fn 1 -> 2/4;
    # c: tp 0, fn 1 -> 0; "nlu_fallback" is no class of the test set
    assert metrics.per_class_f1(GOLD, PRED) == {
        "a": pytest.approx(0.8),
        "b": pytest.approx(0.5),
        "c": 0.0,
    }
    assert metrics.macro_f1(GOLD, PRED) == pytest.approx((0.8 + 0.5 + 0.0) / 3)


def test_macro_f1_weighs_rare_classes_like_frequent_ones() -> None:
    gold = ["big"] * 9 + ["rare"]
    pred = ["big"] * 10
    assert metrics.accuracy(gold, pred) == pytest.approx(0.9)
    # big: tp 9, fp 1 -> 18/19; rare: 0
    assert metrics.macro_f1(gold, pred) == pytest.approx((18 / 19) / 2)


def test_macro_f1_agrees_with_sklearn_on_labels_of_the_test_set() -> None:
    sklearn = pytest.importorskip("sklearn.metrics")
    gold = ["a", "b", "c", "a", "b", "c", "a", "d"]
    pred = ["a", "c", "c", "a", "b", "x", "b", "d"]
    expected = sklearn.f1_score(gold, pred, labels=sorted(set(gold)), average="macro")
    assert metrics.macro_f1(gold, pred) == pytest.approx(expected)


def test_confusions_most_frequent_first() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["b", "b", "a", "a", "c", None]
    assert metrics.confusions(gold, pred, top=2) == [("a", "b", 2), ("b", "a", 1)]
    assert ("c", "None", 1) in metrics.confusions(gold, pred)


@pytest.mark.parametrize("fn", [metrics.accuracy, metrics.macro_f1, metrics.confusions])
def test_mismatched_or_empty_inputs_are_errors(fn: object) -> None:
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        fn(["a", "b"], ["a"])  # type: ignore[operator]
    with pytest.raises(ValueError, match="no items"):
        fn([], [])  # type: ignore[operator]


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1.0), (50, 2.5), (25, 1.75), (95, 3.85), (99, 3.97), (100, 4.0)],
)
def test_percentile_interpolates_linearly(q: float, expected: float) -> None:
    assert metrics.percentile([4.0, 1.0, 3.0, 2.0], q) == pytest.approx(expected)


def test_percentile_of_one_value_and_bad_input() -> None:
    assert metrics.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        metrics.percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        metrics.percentile([1.0], 101)


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.floats(0, 100),
)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    np = pytest.importorskip("numpy")
    assert metrics.percentile(values, q) == pytest.approx(
        float(np.percentile(values, q)), rel=1e-9, abs=1e-6
    )


@given(st.lists(st.floats(0, 1e4, allow_nan=False), min_size=2, max_size=50))
def test_percentiles_are_ordered(values: list[float]) -> None:
    p50, p95, p99 = (metrics.percentile(values, q) for q in (50, 95, 99))
    assert min(values) <= p50 <= p95 <= p99 <= max(values)


def test_throughput() -> None:
    assert metrics.throughput(96, 12.0) == 8.0
    with pytest.raises(ValueError, match="positive duration"):
        metrics.throughput(1, 0)
