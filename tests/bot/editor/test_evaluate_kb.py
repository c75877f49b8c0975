"""The KB part of ``bot evaluate``: per language, the questions whose article was not first."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bot.editor.evaluate import kb_misses_markdown
from kb_index.evaluation import evaluate, misses_by_language


class FixedKB:
    """A searcher whose ranking is given: the evaluation's bookkeeping is under test."""

    def __init__(self, ranking: dict[str, list[str]]) -> None:
        self.ranking = ranking
        self.languages: list[str | None] = []

    def search(self, text: str, *, intent: str | None = None, top_k: int = 3,
               language: str | None = None) -> list[Any]:
        self.languages.append(language)
        return [SimpleNamespace(article=SimpleNamespace(id=a), score=0.5)
                for a in self.ranking[text][:top_k]]


QUESTIONS = [
    {"lang": "en", "article": "returns", "text": "send it back"},
    {"lang": "en", "article": "shipping-costs", "text": "postage"},
    {"lang": "sl", "article": "returns", "text": "vracilo"},
    {"lang": "ar", "article": "warranty", "text": "كفالة"},
]
RANKING = {
    "send it back": ["refund-timing", "returns"],
    "postage": ["shipping-costs"],
    "vracilo": ["returns"],
    "كفالة": [],
}


def test_misses_name_the_right_article_and_the_winner_per_language() -> None:
    kb = FixedKB(RANKING)
    result = evaluate(kb, QUESTIONS)
    assert kb.languages == ["en", "en", "sl", "ar"]  # each question searched in its language
    assert misses_by_language(result) == {
        "en": [{"text": "send it back", "article": "returns", "winner": "refund-timing"}],
        "ar": [{"text": "كفالة", "article": "warranty", "winner": ""}],
    }


def test_the_report_lists_misses_per_language_and_says_when_there_are_none(
    tmp_path: Path,
) -> None:
    report = {"languages": {
        "en": {"kb": {"misses": [{"text": "send it back", "article": "returns",
                                   "winner": "refund-timing"}]}},
        "sl": {"kb": {"recall@1": 1.0}},
    }}
    text = "\n".join(kb_misses_markdown(report))
    assert "### en (1)" in text and "| send it back | returns | refund-timing |" in text
    assert "### sl" not in text
    empty = "\n".join(kb_misses_markdown({"languages": {"sl": {"kb": {}}}}))
    assert "None: every labelled question found its article first." in empty
