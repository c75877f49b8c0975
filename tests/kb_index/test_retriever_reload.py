"""A running KnowledgeBase swaps to a newly built index, and keeps the old one when the
new one does not load: editors rebuild the index while the action server answers."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bot.settings import load_settings
from kb_index.embedder import Embedder
from kb_index.retriever import KBSettings, KnowledgeBase, build_index
from kb_index.store import MANIFEST
from tests.conftest import ROOT, write_settings

MODEL = ROOT / "models" / "embeddings" / "multilingual-e5-small"
pytestmark = pytest.mark.needs_models


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    if not (MODEL / "conversion.json").exists():
        pytest.skip("embedding model not built: run `make setup`")
    settings = KBSettings.from_settings(load_settings(ROOT / "supportbot.yml"))
    model = settings.embedder()
    model.warm_up()
    return model


@pytest.fixture()
def kb_settings(tmp_path: Path) -> KBSettings:
    articles = tmp_path / "kb"
    articles.mkdir()
    for name in ("order-status", "shipping-times"):
        shutil.copy(ROOT / "data" / "kb" / f"{name}.md", articles)
    settings = KBSettings.from_settings(load_settings(write_settings(tmp_path)))
    # No NLU folder: only the articles are embedded (the reload is under test, not the
    # question rows, which tests/kb_index/test_retriever_questions.py covers).
    return replace(settings, articles=articles, index_dir=tmp_path / "index",
                   nlu=tmp_path / "no-nlu")


def ids(kb: KnowledgeBase, text: str) -> list[str]:
    return [h.article.id for h in kb.search(text, top_k=3)]


def test_a_rebuilt_index_is_picked_up_on_the_next_question(
    kb_settings: KBSettings, embedder: Embedder
) -> None:
    build_index(kb_settings, embedder)
    kb = KnowledgeBase(kb_settings, embedder=embedder)
    assert "reset-password" not in ids(kb, "I forgot my password")
    assert kb.refresh() is False  # nothing changed: one stat, no reload

    shutil.copy(ROOT / "data" / "kb" / "reset-password.md", kb_settings.articles)
    _, rebuilt = build_index(kb_settings, embedder)
    assert rebuilt
    assert ids(kb, "I forgot my password")[0] == "reset-password"
    assert sorted(kb.articles) == ["order-status", "reset-password", "shipping-times"]


def test_an_index_that_does_not_load_leaves_the_old_one_answering(
    kb_settings: KBSettings, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    build_index(kb_settings, embedder)
    kb = KnowledgeBase(kb_settings, embedder=embedder)
    before = ids(kb, "where is my parcel")
    assert before[0] == "order-status"

    # An editor changed an article after the build: the manifest no longer matches.
    article = kb_settings.articles / "shipping-times.md"
    article.write_text(article.read_text(encoding="utf-8") + "\nMore text.\n", "utf-8")
    manifest = kb_settings.index_dir / MANIFEST
    manifest.write_text(manifest.read_text(encoding="utf-8") + " ", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="kb_index.retriever"):
        assert kb.refresh() is False
        assert ids(kb, "where is my parcel") == before
    assert "keeping the old one" in caplog.text
    assert (
        caplog.text.count("keeping the old one") == 1
    )  # not retried on every question

    manifest.write_text("{not json", encoding="utf-8")
    assert kb.refresh() is False
    assert ids(kb, "where is my parcel") == before

    _, rebuilt = build_index(kb_settings, embedder)  # the fix: rebuild
    assert rebuilt
    assert kb.refresh() is True
    assert ids(kb, "where is my parcel") == before
