"""``bot review attach``: a misunderstood question becomes a question of the right article."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.editor.review import attach_question
from bot.errors import SupportBotError
from kb_index.articles import load_articles
from tests.conftest import ROOT

LANGS = ("en", "ar", "sl")


@pytest.fixture()
def kb(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name in ("shipping-costs", "shipping-times"):  # with and without questions:
        shutil.copy(ROOT / "data" / "kb" / f"{name}.md", folder)
    return folder


def test_attaching_adds_the_question_and_keeps_every_other_line(kb: Path) -> None:
    path = kb / "shipping-times.md"
    before = path.read_text(encoding="utf-8").split("\n")
    done = attach_question(kb, LANGS, "shipping-times", "sl", "  kdaj  pride paket ")
    assert (done.file, done.language, done.questions) == (path, "sl", 1)
    article = {a.id: a for a in load_articles(kb, LANGS)}["shipping-times"]
    assert article.questions == {"sl": ("kdaj pride paket",)}
    after = path.read_text(encoding="utf-8").split("\n")
    assert [x for x in after if x not in before] == [
        "questions:", '  sl: ["kdaj pride paket"]'
    ]


def test_attaching_to_an_article_with_questions_appends_to_its_language(kb: Path) -> None:
    old = {a.id: a for a in load_articles(kb, LANGS)}["shipping-costs"].questions
    attach_question(kb, LANGS, "shipping-costs", "en", "postage to vienna?")
    attach_question(kb, LANGS, "shipping-costs", "de", "versandkosten nach wien")
    new = {a.id: a for a in load_articles(kb, LANGS)}["shipping-costs"].questions
    assert new["en"] == (*old["en"], "postage to vienna?")
    assert new["de"] == ("versandkosten nach wien",)
    assert new["ar"] == old["ar"] and new["sl"] == old["sl"]


@pytest.mark.parametrize(
    ("article", "language", "text", "words"),
    [
        ("shipping-time", "en", "when", "no article 'shipping-time'"),
        ("shipping-times", "EN", "when", "not a language code"),
        ("shipping-times", "en", "   ", "empty"),
        ("shipping-times", "en", "how much is delivery", "already a question of 'shipping-costs'"),
    ],
)
def test_wrong_requests_are_refused_and_change_nothing(
    kb: Path, article: str, language: str, text: str, words: str
) -> None:
    before = {p.name: p.read_bytes() for p in kb.iterdir()}
    with pytest.raises(SupportBotError, match=words):
        attach_question(kb, LANGS, article, language, text)
    assert {p.name: p.read_bytes() for p in kb.iterdir()} == before
