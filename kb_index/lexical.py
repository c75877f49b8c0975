"""A small BM25 scorer with multilingual normalisation, the lexical half of hybrid search.

Dense e5 embeddings miss exact product words ("Klarna", "VAT", order numbers) and
customers' spelling without diacritics; BM25 over normalised tokens catches those. The
corpus is a few hundred passages, so a plain in-memory implementation is the right size:
it is rebuilt from the articles on load rather than persisted.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"\w+", re.UNICODE)
_ARABIC_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ARABIC_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال")
#: Tokens are cut to this many characters: a crude stemmer that serves inflected
#: languages (Slovenian cases, Arabic suffixes) without language-specific resources.
STEM_LENGTH = 6


def normalise(text: str) -> str:
    """Lowercase, drop Latin diacritics and Arabic vowel marks, unify Arabic letter forms."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _ARABIC_DIACRITICS.sub("", text)
    text = (
        text.replace("أ", "ا")
        .replace("إ", "ا")
        .replace("آ", "ا")
        .replace("ة", "ه")
        .replace("ى", "ي")
    )
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """Normalised, lightly stemmed word tokens; single characters are dropped."""
    tokens = []
    for word in _WORD.findall(normalise(text)):
        for prefix in _ARABIC_PREFIXES:
            if word.startswith(prefix) and len(word) - len(prefix) >= 3:
                word = word[len(prefix) :]
                break
        if len(word) < 2:
            continue
        tokens.append(word[:STEM_LENGTH])
    return tokens


class BM25:
    """Okapi BM25 over a fixed list of documents."""

    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._docs = [Counter(tokenize(d)) for d in documents]
        self._lengths = [sum(c.values()) for c in self._docs]
        self._avg_len = (sum(self._lengths) / len(self._lengths)) if self._docs else 0.0
        df: Counter[str] = Counter()
        for counts in self._docs:
            df.update(counts.keys())
        n = len(self._docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def __len__(self) -> int:
        return len(self._docs)

    def scores(self, query: str) -> list[float]:
        """BM25 score of every document for ``query`` (0.0 where no term matches)."""
        terms = [t for t in set(tokenize(query)) if t in self._idf]
        out = [0.0] * len(self._docs)
        if not terms:
            return out
        for i, counts in enumerate(self._docs):
            norm = self.k1 * (1 - self.b + self.b * self._lengths[i] / (self._avg_len or 1))
            score = 0.0
            for t in terms:
                tf = counts.get(t, 0)
                if tf:
                    score += self._idf[t] * tf * (self.k1 + 1) / (tf + norm)
            out[i] = score
        return out
