"""Dictionary evidence: is a word a form of the language's vocabulary?

simplemma 2.0.0 ships lemma dictionaries (inflected form -> lemma) for sl, hbs, en, de,
ru and more, so "ustavim" (sl) or "narudžbu" (hbs) is known even though no model saw it.
Loaded as Python dicts they take 13 MB (sl) to 200 MB (de) each, far too much for the
Rasa process, so each language's forms are kept as a sorted array of 32-bit CRC hashes
(4 bytes a form; hbs 2.4 MB) in ``var/lid/`` and memory-mapped: only the pages a
lookup touches are resident. A hash collision makes an unknown word look known with a
chance of forms/2**32 (under 0.03 % for the largest dictionary); the fitted weights see
the same noise in fitting as in use.

The arrays are built from the installed simplemma on first use, in a child process
(``python -m bot.language.vocab LANG ...``) so the dictionaries' memory is returned to
the system when it exits, under a file lock so the Rasa and action servers starting
together build them once. The file name carries simplemma's version and the format, so
an upgrade rebuilds instead of reading stale data.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import os
import subprocess
import sys
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bot.language.codes import GROUP_CODE, GROUP_MEMBERS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: Where the hash arrays live; $SUPPORTBOT_LID_CACHE overrides (tests, read-only trees).
CACHE_DIR = Path(os.environ.get("SUPPORTBOT_LID_CACHE") or PROJECT_ROOT / "var" / "lid")
#: Bumped when the array format or the normalisation of forms changes.
FORMAT = 1
#: Seconds a child process may take to build all missing arrays.
BUILD_TIMEOUT_S = 300


def dictionary_code(language: str) -> str:
    """Simplemma's code: hr, sr and bs share the "hbs" dictionary."""
    return GROUP_CODE if language in GROUP_MEMBERS else language


def word_hash(word: str) -> int:
    """The 32-bit hash stored for a (lower-cased) form."""
    return zlib.crc32(word.encode("utf-8", "ignore"))


def _simplemma_version() -> str:
    return importlib.metadata.version("simplemma")


def cache_path(language: str, cache_dir: Path | None = None) -> Path:
    """The array file of one dictionary for the installed simplemma version."""
    folder = cache_dir or CACHE_DIR
    code = dictionary_code(language)
    return folder / f"vocab-{code}-simplemma{_simplemma_version()}-f{FORMAT}.npy"


def build_array(language: str) -> np.ndarray:
    """Hashes of every form and lemma of a simplemma dictionary, lower-cased, sorted."""
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    dictionary = DefaultDictionaryFactory(cache_max_size=0).get_dictionary(
        dictionary_code(language)
    )
    forms: set[str] = set()
    for form, lemma in dictionary.items():
        forms.add(form.lower())
        forms.add(lemma.lower())
    hashes = np.fromiter((word_hash(f) for f in forms), dtype=np.uint32, count=len(forms))
    return np.unique(hashes)


def build(languages: Iterable[str], cache_dir: Path | None = None) -> list[Path]:
    """Write the arrays that are missing (atomically); returns the paths written."""
    written = []
    for language in dict.fromkeys(dictionary_code(c) for c in languages):
        path = cache_path(language, cache_dir)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            np.save(f, build_array(language))
        os.replace(tmp, path)
        written.append(path)
    return written


def ensure(languages: Sequence[str], cache_dir: Path | None = None) -> None:
    """Build missing arrays in a child process, once, under a lock.

    Raises:
        RuntimeError: the child failed; its error output is in the message.
    """
    folder = cache_dir or CACHE_DIR
    missing = [c for c in languages if not cache_path(c, folder).exists()]
    if not missing:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [c for c in missing if not cache_path(c, folder).exists()]
        if not missing:
            return
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "bot.language.vocab", "--cache", str(folder), *missing],
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"building the language dictionaries {missing} in {folder} failed: "
                f"{done.stderr.strip()[-2000:]}"
            )


class Vocabulary:
    """Membership of words in the vocabularies of some languages (memory-mapped)."""

    def __init__(self, languages: Sequence[str], cache_dir: Path | None = None) -> None:
        codes = list(dict.fromkeys(languages))
        ensure(codes, cache_dir)
        self.languages = tuple(codes)
        self._arrays = [
            np.load(cache_path(c, cache_dir), mmap_mode="r", allow_pickle=False)
            for c in codes
        ]

    def known(self, tokens: Sequence[str]) -> np.ndarray:
        """Boolean matrix: ``known[i, j]`` is token j in language i's vocabulary."""
        out = np.zeros((len(self._arrays), len(tokens)), dtype=bool)
        if not tokens:
            return out
        hashes = np.fromiter(
            (word_hash(t) for t in tokens), dtype=np.uint32, count=len(tokens)
        )
        for i, array in enumerate(self._arrays):
            if len(array):
                idx = np.minimum(np.searchsorted(array, hashes), len(array) - 1)
                out[i] = array[idx] == hashes
        return out


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.language.vocab [--cache DIR] LANG ...``: build missing arrays."""
    args = list(sys.argv[1:] if argv is None else argv)
    folder = None
    if args[:1] == ["--cache"]:
        folder = Path(args[1])
        args = args[2:]
    for path in build(args, folder):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
