"""Customer phrasings of each article: the NLU examples of its intents plus its ``questions:``.

Editors have already written hundreds of customer phrasings per language as NLU examples
(``data/nlu/<lang>/*.yml``). A customer's short, informal question is much closer to
another customer's question than to an article's polished body, so the index holds them
as ``question`` rows beside the title and passage rows (question-to-question matching).

Rules:

* An example of an intent that an article lists in ``intents:`` becomes a question of
  that article (of every article listing the intent). An example of an intent no article
  lists is not indexed: it still serves the decision model as a message with another
  meaning (``intent`` label), and ``out_of_scope`` examples as messages with no article.
* An article's front-matter ``questions:`` are its questions too, labelled
  ``article:<id>`` for the intent model, since no NLU intent covers them.
* Within one article and language a text normalised like the NLU validator does
  (case, accents, punctuation) is kept once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kb_index.articles import Article

__all__ = [
    "OUT_OF_SCOPE",
    "Question",
    "article_label",
    "collect_questions",
    "questions_hash",
]

#: The intent whose examples are messages no article answers (negatives for the decision).
OUT_OF_SCOPE = "out_of_scope"
# Rasa's inline entity annotations: "[10482](order_id)" or "[10482]{...}" -> "10482".
_ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Question:
    """One customer phrasing: where it came from and which articles answer it.

    Attributes:
        text: The phrasing, entity markup removed.
        language: Language code of the phrasing.
        label: The intent model's class: the NLU intent, or ``article:<id>`` for a
            front-matter question.
        articles: Ids of the articles it is a question of (empty: no article answers
            it, e.g. an ``out_of_scope`` example or an intent no article lists).
    """

    text: str
    language: str
    label: str
    articles: tuple[str, ...]


def article_label(article_id: str) -> str:
    """The intent-model class of an article's own front-matter questions."""
    return f"article:{article_id}"


def collect_questions(
    articles: Sequence[Article], nlu_folder: Path | None
) -> list[Question]:
    """Every phrasing from data/nlu and the articles' front matter, in a stable order.

    ``nlu_folder`` may be missing (a knowledge base without a Rasa project): then only
    the front-matter questions count. NLU files the validator would reject are skipped
    here; ``bot validate`` reports them with file:line.
    """
    by_intent: dict[str, list[str]] = {}
    for article in sorted(articles, key=lambda a: a.id):
        for intent in article.intents:
            by_intent.setdefault(intent, []).append(article.id)
    out: list[Question] = []
    if nlu_folder is not None and Path(nlu_folder).is_dir():
        from bot.editor.nludata import load_nlu  # the one reader of NLU files

        for ex in load_nlu(Path(nlu_folder)).examples:
            text = " ".join(_ENTITY.sub(r"\1", ex.text).split())
            if text:
                out.append(
                    Question(text, ex.language, ex.intent, tuple(by_intent.get(ex.intent, ())))
                )
    for article in sorted(articles, key=lambda a: a.id):
        for lang in sorted(article.questions):
            for text in article.questions[lang]:
                out.append(Question(text, lang, article_label(article.id), (article.id,)))
    return _dedupe(out)


def _dedupe(questions: Iterable[Question]) -> list[Question]:
    from bot.editor.nludata import normalise

    seen: set[tuple[str, str, str]] = set()
    out = []
    for q in questions:
        key = (q.language, q.label, normalise(q.text))
        if key not in seen:
            seen.add(key)
            out.append(q)
    return out


def questions_hash(questions: Sequence[Question]) -> str:
    """sha256 of the phrasings, their labels and articles (part of the index's data hash)."""
    blob = json.dumps(
        sorted([q.language, q.label, q.text, list(q.articles)] for q in questions),
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
