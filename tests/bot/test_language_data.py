"""The language-identification data: evaluation, fitting and test sets stay apart.

A benchmark figure means something only if the detector never saw the benchmark: the
weights are fitted on bench/data/lid_fit.tsv, scored on bench/data/lid_eval.tsv, and
the unit tests use their own sentences.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from bot.language.model import WEIGHTS_FILE
from tests.bot import test_language

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "bench" / "data" / "lid_eval.tsv"
FIT = ROOT / "bench" / "data" / "lid_fit.tsv"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def evaluation() -> list[dict[str, str]]:
    return _rows(EVAL)


@pytest.fixture(scope="module")
def fitting() -> list[dict[str, str]]:
    return _rows(FIT)


def test_no_text_is_both_evaluated_and_fitted(evaluation, fitting) -> None:
    assert not {r["text"] for r in evaluation} & {r["text"] for r in fitting}


def test_no_evaluation_word_is_fitted(evaluation, fitting) -> None:
    """Single words and pairs are split by word, so no word is on both sides."""
    fitted = {w for r in fitting for w in r["text"].split()}
    evaluated = {w for r in evaluation if r["kind"] != "message" for w in r["text"].split()}
    assert not evaluated & fitted


def test_issue_sizes_per_language_and_kind(evaluation) -> None:
    """At least 300 words and 300 pairs per configured language; messages where written."""
    counts: dict[tuple[str, str], int] = {}
    for row in evaluation:
        counts[row["lang"], row["kind"]] = counts.get((row["lang"], row["kind"]), 0) + 1
    languages = {lang for lang, _ in counts}
    assert languages == {"en", "ar", "sl", "hbs", "de", "it", "fr", "es", "ru", "tr"}
    for lang in languages:
        assert counts[lang, "word"] >= 300
        assert counts[lang, "pair"] >= 300
    for lang in ("en", "ar", "sl"):
        assert counts[lang, "message"] >= 300


def test_per_kind_test_set_is_in_neither_set(evaluation, fitting) -> None:
    """The fixed per-language set and the sl/hbs cases are the tests' own sentences.

    (Older detection tests share a few everyday messages, "شكرا", with the NLU data the
    message part of the benchmark comes from; the per-kind set does not.)
    """
    texts = {r["text"].lower() for r in evaluation + fitting}
    ours = [t for rows in test_language.FIXED.values() for _, t in rows]
    ours += test_language.CROATIAN + test_language.SLOVENE
    ours += test_language.ISSUE_13_SLOVENE
    assert not {t.lower() for t in ours} & texts


def test_weights_were_fitted_on_the_fitting_set_as_it_is() -> None:
    """weights.json records the hash of the data it was fitted on: refit after edits."""
    recorded = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))["fitted_on"]
    assert recorded["file"] == "bench/data/lid_fit.tsv"
    assert recorded["sha256"] == hashlib.sha256(FIT.read_bytes()).hexdigest()
