"""bot.language.vocab and bot.language.model: the dictionary evidence and the weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.language.evidence import FEATURES
from bot.language.model import WEIGHTS_FILE, Weights, bucket, load_weights
from bot.language.vocab import Vocabulary, cache_path, ensure


@pytest.fixture(scope="module")
def slovene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Vocabulary, Path]:
    folder = tmp_path_factory.mktemp("lid")
    return Vocabulary(["sl", "hr"], cache_dir=folder), folder


def test_vocabulary_is_built_once_in_a_child_process(slovene) -> None:
    _, folder = slovene
    sl, hbs = cache_path("sl", folder), cache_path("hr", folder)
    assert sl.exists() and hbs.exists()
    assert hbs.name.startswith("vocab-hbs-simplemma2.0.0")  # hr/sr/bs share one
    stamp = sl.stat().st_mtime_ns
    Vocabulary(["sl"], cache_dir=folder)
    assert sl.stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_inflected_forms_are_known_in_their_language_only(slovene) -> None:
    vocabulary, _ = slovene
    known = vocabulary.known(["ustavim", "narudžbu", "račun", "xqzvy"])
    assert known.tolist() == [
        [True, False, True, False],  # sl
        [False, True, True, False],  # hbs
    ]
    assert vocabulary.known([]).shape == (2, 0)


def test_a_failed_build_names_languages_and_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as caught:
        ensure(["xx"], cache_dir=tmp_path)
    assert "['xx']" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_buckets_by_words() -> None:
    assert [bucket(n) for n in (0, 1, 2, 3, 40)] == [1, 1, 2, 3, 3]


def test_shipped_weights_match_the_features() -> None:
    weights = load_weights()
    assert weights.features == FEATURES
    for b in (1, 2, 3):
        assert weights.coefficients[b].shape == (len(FEATURES),)
        # Each source's evidence counts for its language, never against it.
        assert (weights.coefficients[b] > 0).all()


def test_weights_for_other_features_are_refused(tmp_path: Path) -> None:
    data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    data["features"] = ["py3langid", "langdetect"]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="refit"):
        load_weights(path)


def test_probabilities_cover_only_the_competing_languages() -> None:
    weights = Weights(
        FEATURES,
        {b: np.ones(len(FEATURES)) for b in (1, 2, 3)},
        {b: {"sl": 0.5} for b in (1, 2, 3)},
    )
    rows = np.zeros((2, len(FEATURES)))
    p = weights.probabilities(rows, ("sl", "xx"), words=1)  # "xx": no bias, still scored
    assert p.sum() == pytest.approx(1.0)
    assert p[0] > p[1]
