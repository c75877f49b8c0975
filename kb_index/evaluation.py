"""KB retrieval quality on labelled questions: recall@1 and recall@3 per language.

Shared by ``bot evaluate`` (the editors' quality report) and ``bench/kb_recall.py``
(which also compares dense, lexical and hybrid retrieval), so both measure the same way.
A question is ``{lang, article, text}``: the id of the one article that answers it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.errors import ConfigError


class Searcher(Protocol):
    def search(
        self, text: str, *, intent: str | None = None, top_k: int = 3,
        language: str | None = None,
    ) -> list[Any]: ...


def load_questions(path: Path) -> list[dict[str, str]]:
    """The ``questions:`` list of a labelled-questions file, checked."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            str(path),
            "",
            "file not found",
            "point evaluation.kb_questions in supportbot.yml at it",
        ) from None
    questions = data.get("questions") if isinstance(data, Mapping) else None
    if not isinstance(questions, list):
        raise ConfigError(
            str(path), "questions", "must be a list of {lang, article, text}"
        )
    for number, q in enumerate(questions, 1):
        if not isinstance(q, Mapping) or not all(
            isinstance(q.get(k), str) and q.get(k) for k in ("lang", "article", "text")
        ):
            raise ConfigError(
                str(path),
                f"questions[{number}]",
                f"needs lang, article and text, got {q!r}",
            )
    return [dict(q) for q in questions]


def evaluate(kb: Searcher, questions: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """Search every question once (top 3).

    Returns ``per_lang`` (language -> list of (hit@1, hit@3) as 0/1), the top-1 scores of
    right and wrong top hits (``right``/``wrong``, for threshold calibration), the
    milliseconds per query (``ms``) and ``misses``: every question whose right article
    was not first, with the article that won (what editors fix, see ``bot review``).
    """
    per_lang: dict[str, list[tuple[int, int]]] = defaultdict(list)
    right: list[float] = []
    wrong: list[float] = []
    times: list[float] = []
    misses: list[dict[str, str]] = []
    for q in questions:
        start = time.perf_counter()
        hits = kb.search(q["text"], top_k=3, language=q["lang"])
        times.append((time.perf_counter() - start) * 1000)
        ids = [h.article.id for h in hits]
        per_lang[q["lang"]].append(
            (int(ids[:1] == [q["article"]]), int(q["article"] in ids))
        )
        if hits:
            (right if ids[0] == q["article"] else wrong).append(hits[0].score)
        if ids[:1] != [q["article"]]:
            misses.append({"lang": q["lang"], "text": q["text"], "article": q["article"],
                           "winner": ids[0] if ids else ""})
    return {"per_lang": dict(per_lang), "right": right, "wrong": wrong, "ms": times,
            "misses": misses}


def misses_by_language(result: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
    """``{lang: [{text, article, winner}, ...]}`` from :func:`evaluate`'s result."""
    out: dict[str, list[dict[str, str]]] = {}
    for miss in result.get("misses", []):
        out.setdefault(miss["lang"], []).append(
            {k: miss[k] for k in ("text", "article", "winner")}
        )
    return out


def recall_by_language(result: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{lang: {"recall@1", "recall@3", "questions"}}`` from :func:`evaluate`'s result."""
    out = {}
    for lang, pairs in sorted(result["per_lang"].items()):
        n = len(pairs)
        out[lang] = {
            "recall@1": sum(p[0] for p in pairs) / n if n else 0.0,
            "recall@3": sum(p[1] for p in pairs) / n if n else 0.0,
            "questions": n,
        }
    return out
