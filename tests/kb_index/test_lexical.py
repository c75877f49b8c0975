"""BM25 with multilingual normalisation: the lexical half of hybrid KB search."""

from __future__ import annotations

import pytest

from kb_index.lexical import BM25, normalise, tokenize


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("naročilo", "narocilo"),  # Slovenian typed without diacritics
        ("Dostava", "dostava"),
        ("أين", "اين"),  # hamza forms
        ("مَدْفُوعَات", "مدفوعات"),  # vowel marks
        ("فاتورة", "فاتوره"),  # ta marbuta
    ],
)
def test_spelling_variants_normalise_to_the_same_form(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_tokens_are_stemmed_by_truncation_and_arabic_article_is_dropped() -> None:
    assert tokenize("naročila naročilo") == ["naroci", "naroci"]
    assert tokenize("الطلب") == tokenize("طلب")


def test_tokenize_never_fails_on_odd_input() -> None:
    for text in ["", "👍👍", "\x00\x01", "a" * 10_000, "\u202e rtl", "混合 text"]:
        assert isinstance(tokenize(text), list)


def test_bm25_ranks_the_document_sharing_rare_words_first() -> None:
    docs = [
        "Shipping takes 2-4 working days within Slovenia",
        "We accept Klarna, cards and PayPal",
        "Reset your password from the login page",
    ]
    scores = BM25(docs).scores("can I pay with klarna")
    assert scores.index(max(scores)) == 1
    assert scores[0] == 0.0 and scores[2] == 0.0


def test_bm25_with_no_matching_term_scores_zero_everywhere() -> None:
    assert BM25(["alpha beta", "gamma"]).scores("zzz") == [0.0, 0.0]
    assert BM25([]).scores("anything") == []
