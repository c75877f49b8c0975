"""Which customer phrasings become question rows of which article (kb_index.questions)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kb_index.articles import Article
from kb_index.questions import (
    OUT_OF_SCOPE,
    article_label,
    collect_questions,
    questions_hash,
)

ROOT = Path(__file__).resolve().parents[2]


def article(aid: str, intents: tuple[str, ...] = (), questions: dict | None = None) -> Article:
    return Article(id=aid, title={"en": aid}, body={"en": "b"}, intents=intents,
                   questions=questions or {}, source=Path(f"{aid}.md"))


@pytest.fixture()
def nlu(tmp_path: Path) -> Path:
    folder = tmp_path / "nlu"
    (folder / "en").mkdir(parents=True)
    (folder / "sl").mkdir()
    (folder / "en" / "orders.yml").write_text(
        'version: "3.1"\nnlu:\n'
        "- intent: return_refund\n  examples: |\n    - how do i send it back\n"
        "    - where is my refund for [10482](order_id)\n"
        "- intent: greet\n  examples: |\n    - hello\n"
        "- intent: out_of_scope\n  examples: |\n    - whats the weather\n",
        encoding="utf-8",
    )
    (folder / "sl" / "orders.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: return_refund\n  examples: |\n    - kako vrnem\n',
        encoding="utf-8",
    )
    return folder


def test_an_intents_examples_become_questions_of_every_article_listing_it(nlu):
    found = collect_questions(
        [article("returns", ("return_refund",)), article("refund-timing", ("return_refund",))],
        nlu,
    )
    mine = [q for q in found if q.label == "return_refund"]
    assert {(q.language, q.text) for q in mine} == {
        ("en", "how do i send it back"), ("en", "where is my refund for 10482"),
        ("sl", "kako vrnem"),
    }
    assert all(q.articles == ("refund-timing", "returns") for q in mine)


def test_an_example_of_an_intent_no_article_lists_is_not_indexed(nlu):
    found = collect_questions([article("returns", ("return_refund",))], nlu)
    greet = [q for q in found if q.label == "greet"]
    assert greet and all(q.articles == () for q in greet)
    assert [q.articles for q in found if q.label == OUT_OF_SCOPE] == [()]


def test_front_matter_questions_belong_to_their_article_only(nlu):
    found = collect_questions(
        [article("returns", questions={"en": ("start a return",), "de": ("rücksendung",)})],
        nlu,
    )
    own = [q for q in found if q.label == article_label("returns")]
    assert {(q.language, q.text, q.articles) for q in own} == {
        ("en", "start a return", ("returns",)), ("de", "rücksendung", ("returns",))
    }


def test_without_an_nlu_folder_only_front_matter_questions_count(tmp_path):
    found = collect_questions([article("a", ("x",), {"en": ("q one",)})], tmp_path / "none")
    assert [(q.text, q.articles) for q in found] == [("q one", ("a",))]


def test_the_same_phrasing_twice_is_kept_once_and_the_hash_follows_content(nlu):
    a = collect_questions([article("a", questions={"en": ("Where's it?", "wheres it")})], nlu)
    assert [q.text for q in a if q.articles] == ["Where's it?"]
    b = collect_questions([article("a", questions={"en": ("where is it",)})], nlu)
    assert questions_hash(a) != questions_hash(b)


def test_the_held_out_benchmark_questions_are_in_no_index_data():
    """bench/data/kb_customer_questions.yml is test data only: none of its questions may
    be an NLU example or an article's front-matter question."""
    from bot.editor.nludata import normalise
    from kb_index.articles import load_articles

    held_out = yaml.safe_load(
        (ROOT / "bench" / "data" / "kb_customer_questions.yml").read_text(encoding="utf-8")
    )
    assert held_out["held_out"] is True
    bench = {normalise(q["text"]) for q in held_out["questions"]}
    indexed = collect_questions(load_articles(ROOT / "data" / "kb", ("en", "ar", "sl")),
                                ROOT / "data" / "nlu")
    assert bench.isdisjoint({normalise(q.text) for q in indexed})
