"""The persisted vector index: a faiss index plus a JSON manifest, checked against each other.

Index and documents drifting apart is the most reported failure of faiss-backed stores, so
the manifest records what the vectors were built from (model, dimension, one row per
vector, the articles' content hash) and ``load`` refuses an index that does not match the
articles and model the bot is about to use. A stale index fails loudly with the command
that rebuilds it; it is never searched.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from bot.errors import SupportBotError

MANIFEST = "manifest.json"
INDEX = "index.faiss"
FORMAT_VERSION = 2  # 2: question rows, decision.json beside the index
REBUILD_HINT = "run `make kb` (or `python -m kb_index build`) to rebuild it"


class IndexMismatchError(SupportBotError):
    """The index on disk is missing, unreadable, or does not match the current data."""





@dataclass(frozen=True)
class Row:
    """What one vector in the index stands for."""

    article_id: str
    language: str
    kind: str  # "title", "passage" or "question" (a customer phrasing)


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model_id: str
    dimension: int
    data_hash: str
    rows: list[Row]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [[r.article_id, r.language, r.kind] for r in self.rows]
        data["article_ids"] = sorted({r.article_id for r in self.rows})
        data["count"] = len(self.rows)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            format_version=int(data["format_version"]),
            model_id=str(data["model_id"]),
            dimension=int(data["dimension"]),
            data_hash=str(data["data_hash"]),
            rows=[Row(*r) for r in data["rows"]],
        )


class VectorIndex:
    """Exact inner-product search over L2-normalised vectors (cosine similarity).

    A flat index is the right choice for a knowledge base of hundreds of passages: exact,
    no training, microseconds per query. Larger corpora can swap in an IVF/HNSW index
    behind the same interface.
    """

    def __init__(self, manifest: Manifest, index: faiss.Index) -> None:
        if index.ntotal != len(manifest.rows) or index.d != manifest.dimension:
            raise IndexMismatchError(
                f"index holds {index.ntotal} vectors of dimension {index.d}, manifest "
                f"describes {len(manifest.rows)} of dimension {manifest.dimension}; "
                + REBUILD_HINT
            )
        self.manifest = manifest
        self._index = index

    @classmethod
    def build(
        cls, vectors: np.ndarray, rows: list[Row], model_id: str, data_hash: str
    ) -> VectorIndex:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(rows):
            raise ValueError(f"expected {len(rows)} vectors, got shape {vectors.shape}")
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        manifest = Manifest(FORMAT_VERSION, model_id, int(vectors.shape[1]), data_hash, rows)
        return cls(manifest, index)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row number, cosine) of the ``k`` nearest vectors, best first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        scores, ids = self._index.search(q, min(k, self._index.ntotal))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, folder: Path) -> None:
        """Write index and manifest atomically: a crash never leaves a mismatched pair."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".kb-", dir=folder))
        faiss.write_index(self._index, str(tmp / INDEX))
        (tmp / MANIFEST).write_text(
            json.dumps(self.manifest.to_json(), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        # The manifest is replaced last: a reader that sees the new manifest sees the new index.
        os.replace(tmp / INDEX, folder / INDEX)
        os.replace(tmp / MANIFEST, folder / MANIFEST)
        tmp.rmdir()

    @classmethod
    def load(cls, folder: Path, *, model_id: str, data_hash: str) -> VectorIndex:
        """Load and verify against the model and data the caller is going to use."""
        manifest_path, index_path = folder / MANIFEST, folder / INDEX
        if not manifest_path.exists() or not index_path.exists():
            raise IndexMismatchError(f"no knowledge-base index in {folder}; " + REBUILD_HINT)
        try:
            manifest = Manifest.from_json(json.loads(manifest_path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexMismatchError(
                f"{manifest_path} is unreadable ({exc}); " + REBUILD_HINT
            ) from None
        if manifest.format_version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"{manifest_path} has format {manifest.format_version}, "
                f"this version reads {FORMAT_VERSION}; " + REBUILD_HINT
            )
        if manifest.model_id != model_id:
            raise IndexMismatchError(
                f"{folder} was built with embedding model {manifest.model_id!r}, the "
                f"settings name {model_id!r}; " + REBUILD_HINT
            )
        if manifest.data_hash != data_hash:
            raise IndexMismatchError(
                f"{folder} was built from other knowledge-base articles than the ones in "
                "data/kb now; " + REBUILD_HINT
            )
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise IndexMismatchError(
                f"{index_path} is unreadable ({exc}); " + REBUILD_HINT
            ) from None
        return cls(manifest, index)
