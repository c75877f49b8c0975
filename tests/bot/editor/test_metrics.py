"""The numbers an editor's change is judged by: split, folds, accuracy, macro F1."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.editor.metrics import (
    classification_metrics,
    confusion_matrix,
    confusion_pairs,
    stratified_folds,
    stratified_split,
)

ITEMS = [
    (lang, intent, i)
    for lang in ("en", "sl")
    for intent in ("a", "b", "c")
    for i in range(10)
] + [("en", "rare", 0)]


def key(item: tuple[str, str, int]) -> tuple[str, str]:
    return item[0], item[1]


def test_split_holds_out_the_fraction_of_every_language_and_intent() -> None:
    train, test = stratified_split(ITEMS, key, 0.2, seed=7)
    assert Counter(map(key, test)) == {
        (lang, i): 2 for lang in ("en", "sl") for i in ("a", "b", "c")
    }
    assert ("en", "rare", 0) in train  # a single example is never tested
    assert sorted(train + test) == sorted(ITEMS)


def test_split_is_reproducible_and_depends_on_the_seed() -> None:
    assert stratified_split(ITEMS, key, 0.2, 1) == stratified_split(
        list(ITEMS), key, 0.2, 1
    )
    assert (
        stratified_split(ITEMS, key, 0.2, 1)[1]
        != stratified_split(ITEMS, key, 0.2, 2)[1]
    )


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_split_rejects_a_fraction_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        stratified_split(ITEMS, key, fraction, 1)


def test_folds_partition_the_data_and_spread_every_group() -> None:
    parts = stratified_folds(ITEMS, key, 5, seed=3)
    assert sorted(x for p in parts for x in p) == sorted(ITEMS)
    for part in parts:
        assert Counter(map(key, part))[("sl", "b")] == 2
    with pytest.raises(ValueError):
        stratified_folds(ITEMS, key, 1, seed=3)


def test_accuracy_and_macro_f1_by_hand() -> None:
    true = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "c"]
    m = classification_metrics(true, predicted)
    assert m["accuracy"] == 0.5
    # a: P 1, R .5 -> .667; b: P .5, R .5 -> .5; c: never true, predicted once -> 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert m["per_intent"]["c"]["support"] == 0


def test_perfect_and_empty() -> None:
    assert classification_metrics(["x", "y"], ["x", "y"])["macro_f1"] == 1.0
    assert classification_metrics([], [])["accuracy"] == 0.0


def test_confusions_most_frequent_first_and_matrix() -> None:
    true = ["a", "a", "a", "b", "b"]
    predicted = ["b", "b", "a", "a", None]
    assert confusion_pairs(true, predicted) == [
        {"true": "a", "predicted": "b", "count": 2},
        {"true": "b", "predicted": "(none)", "count": 1},
        {"true": "b", "predicted": "a", "count": 1},
    ]
    labels, matrix = confusion_matrix(true, predicted)
    assert labels == ["(none)", "a", "b"]
    assert matrix == [[0, 0, 0], [0, 1, 2], [1, 1, 0]]
