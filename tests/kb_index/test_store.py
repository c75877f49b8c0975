"""The faiss index and its manifest are saved together and checked against each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kb_index.store import INDEX, MANIFEST, IndexMismatchError, Row, VectorIndex


def unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def built(tmp_path: Path) -> tuple[VectorIndex, np.ndarray, Path]:
    vectors = unit(np.random.default_rng(0), 4)
    rows = [Row("a", "en", "title"), Row("a", "en", "passage"), Row("b", "sl", "title"),
            Row("b", "sl", "passage")]
    index = VectorIndex.build(vectors, rows, "model-x", "hash-1")
    index.save(tmp_path)
    return index, vectors, tmp_path


def test_search_returns_the_exact_vector_first_with_cosine_one(built) -> None:
    index, vectors, _ = built
    best, score = index.search(vectors[2], k=2)[0]
    assert best == 2 and score == pytest.approx(1.0, abs=1e-5)


def test_saved_index_loads_back_when_model_and_data_match(built) -> None:
    _, vectors, folder = built
    loaded = VectorIndex.load(folder, model_id="model-x", data_hash="hash-1")
    assert loaded.manifest.rows[2] == Row("b", "sl", "title")
    assert loaded.search(vectors[3], k=1)[0][0] == 3
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["article_ids"] == ["a", "b"] and manifest["count"] == 4
    assert manifest["dimension"] == 8 and manifest["model_id"] == "model-x"


@pytest.mark.parametrize(
    ("model_id", "data_hash", "message"),
    [("other-model", "hash-1", "embedding model"), ("model-x", "hash-2", "other knowledge-base")],
)
def test_a_stale_index_is_refused_with_the_command_that_rebuilds_it(
    built, model_id: str, data_hash: str, message: str
) -> None:
    _, _, folder = built
    with pytest.raises(IndexMismatchError, match=message) as err:
        VectorIndex.load(folder, model_id=model_id, data_hash=data_hash)
    assert "make kb" in str(err.value)


def test_index_and_manifest_disagreeing_on_size_is_refused(built) -> None:
    _, _, folder = built
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["rows"] = manifest["rows"][:3]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="manifest describes 3"):
        VectorIndex.load(folder, model_id="model-x", data_hash="hash-1")


@pytest.mark.parametrize("broken", [MANIFEST, INDEX])
def test_missing_or_corrupt_files_give_a_clear_error(built, broken: str) -> None:
    _, _, folder = built
    (folder / broken).write_bytes(b"\x00garbage")
    with pytest.raises(IndexMismatchError, match="unreadable"):
        VectorIndex.load(folder, model_id="model-x", data_hash="hash-1")
    (folder / broken).unlink()
    with pytest.raises(IndexMismatchError, match="no knowledge-base index"):
        VectorIndex.load(folder, model_id="model-x", data_hash="hash-1")


def test_k_must_be_positive(built) -> None:
    index, vectors, _ = built
    with pytest.raises(ValueError, match="k must be"):
        index.search(vectors[0], k=0)
