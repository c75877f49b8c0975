"""Question rows and the learned decision on a real (small) index, with the real e5 model.

A three-article knowledge base with a small NLU folder: a phrasing only an NLU example
carries finds its article; a changed front-matter question rebuilds the index embedding
only the new text, and until then the old index is refused with the command that fixes
it; any text, however odd, gets a decision.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bot.settings import load_settings
from kb_index.embedder import Embedder
from kb_index.retriever import KBSettings, KnowledgeBase, Outcome, build_index
from kb_index.store import IndexMismatchError
from tests.conftest import ROOT, write_settings

MODEL = ROOT / "models" / "embeddings" / "multilingual-e5-small"
pytestmark = pytest.mark.needs_models

EXAMPLES = {
    "order_status": ["where is my parcel", "has my order shipped yet", "status of order 123",
                     "my package hasnt come", "track my order", "when will my order come"],
    "shipping_time": ["how many days is delivery", "how long to get here", "delivery time",
                      "when does it arrive if i order now", "days for shipping",
                      "how quick do you deliver"],
    "reset_password": ["forgot my password", "cant log in", "reset password",
                       "the secret word for signing in slipped my mind",
                       "password not working", "locked out of my account"],
    "out_of_scope": ["whats the weather", "tell me a joke", "who won the match",
                     "recipe for pancakes", "what is 2+2", "sing a song"],
}


class CountingEmbedder(Embedder):
    """The real embedder, counting the texts it embeds (what a rebuild paid for)."""

    embedded = 0

    def _embed(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        CountingEmbedder.embedded += len(texts)
        return super()._embed(texts, prefix)


@pytest.fixture(scope="module")
def embedder() -> CountingEmbedder:
    if not (MODEL / "conversion.json").exists():
        pytest.skip("embedding model not built: run `make setup`")
    base = KBSettings.from_settings(load_settings(ROOT / "supportbot.yml"))
    model = CountingEmbedder(base.model, query_prefix=base.query_prefix,
                             passage_prefix=base.passage_prefix)
    model.warm_up()
    return model


@pytest.fixture()
def kb_settings(tmp_path: Path) -> KBSettings:
    articles = tmp_path / "kb"
    articles.mkdir()
    for name in ("order-status", "shipping-times", "reset-password"):
        text = (ROOT / "data" / "kb" / f"{name}.md").read_text(encoding="utf-8")
        (articles / f"{name}.md").write_text(text, encoding="utf-8")
    nlu = tmp_path / "nlu" / "en"
    nlu.mkdir(parents=True)
    blocks = "".join(
        f"- intent: {intent}\n  examples: |\n" + "".join(f"    - {e}\n" for e in examples)
        for intent, examples in EXAMPLES.items()
    )
    (nlu / "all.yml").write_text(f'version: "3.1"\nnlu:\n{blocks}', encoding="utf-8")
    settings = KBSettings.from_settings(load_settings(write_settings(tmp_path)))
    return replace(settings, articles=articles, index_dir=tmp_path / "index",
                   nlu=tmp_path / "nlu")


def test_a_question_only_an_nlu_example_matches_finds_its_article(kb_settings, embedder):
    build_index(kb_settings, embedder)
    kb = KnowledgeBase(kb_settings, embedder=embedder)
    hits = kb.search("the secret word for logging in slipped my mind", language="en")
    assert hits[0].article.id == "reset-password"
    assert hits[0].qmatch > hits[0].dense  # the phrasing, not the article text, matched


def test_a_changed_question_rebuilds_embedding_only_the_new_text(kb_settings, embedder):
    build_index(kb_settings, embedder)
    path = kb_settings.articles / "shipping-times.md"
    text = path.read_text(encoding="utf-8")
    question = 'questions:\n  en: ["how long is the wait for a parcel"]\n'
    path.write_text(text.replace("title:", question + "title:", 1), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match=r"python -m kb_index build"):
        KnowledgeBase(kb_settings, embedder=embedder).warm_up()  # stale: refused

    before = CountingEmbedder.embedded
    _, rebuilt = build_index(kb_settings, embedder)
    assert rebuilt and CountingEmbedder.embedded - before == 1
    _, rebuilt_again = build_index(kb_settings, embedder)
    assert not rebuilt_again
    kb = KnowledgeBase(kb_settings, embedder=embedder)
    assert kb.search("how long is the wait for a parcel", language="en")[0].qmatch > 0.99


@pytest.mark.parametrize(
    "text",
    ["where is my parcel? " * 520, "📦📦😡", "где my посылка طلبي paket?", "   ", ""],
    ids=["10kB", "emoji only", "mixed scripts", "spaces", "empty"],
)
def test_any_text_gets_a_decision_never_an_exception(kb_settings, embedder, text):
    build_index(kb_settings, embedder)
    answer = KnowledgeBase(kb_settings, embedder=embedder).answer(text, language="xx")
    assert answer.outcome in set(Outcome)
    assert 0.0 <= answer.confidence <= 1.0
    if not text.strip():
        assert answer.outcome is Outcome.NONE and answer.hits == []


def test_the_old_index_format_is_refused_with_the_fix(kb_settings, embedder, tmp_path):
    build_index(kb_settings, embedder)
    (kb_settings.index_dir / "decision.json").unlink()
    with pytest.raises(IndexMismatchError, match=r"no decision model .*kb_index build"):
        KnowledgeBase(kb_settings, embedder=embedder).warm_up()
    shutil.rmtree(kb_settings.index_dir)
