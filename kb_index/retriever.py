"""Hybrid retrieval over the knowledge base: multilingual dense vectors plus BM25.

Every article contributes, per language, a *title* vector (titles are phrased like the
questions customers ask) and a *passage* vector (title + body). A query in any language
is compared with all of them — multilingual e5 places "kje je moj paket" near the English
and Slovenian texts alike — and an article's dense score is its best row. BM25 over the
same texts adds exact-word evidence. Scores stay on a 0..1 scale so that the thresholds in
``supportbot.yml`` keep their meaning:

    score = (1 - lexical_weight) * dense + lexical_weight * bm25 / (bm25 + BM25_HALF)
            + INTENT_BONUS if the article lists the NLU intent
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from bot.settings import Settings
from kb_index.articles import Article, content_hash, load_articles
from kb_index.embedder import Embedder
from kb_index.lexical import BM25
from kb_index.store import MANIFEST, Row, VectorIndex

logger = logging.getLogger(__name__)

#: BM25 score at which the lexical signal counts half; BM25 is unbounded, this maps it
#: onto 0..1 without depending on the other documents' scores.
BM25_HALF = 6.0
#: Added when the article lists the intent Rasa's NLU predicted: the classifier saw the
#: whole message and was trained on editors' examples, a strong hint on short questions.
INTENT_BONUS = 0.05
#: Rows fetched from faiss before grouping by article (several rows per article).
CANDIDATE_ROWS = 64


@dataclass(frozen=True)
class KBSettings:
    """The ``knowledge_base:`` section of supportbot.yml, validated."""

    articles: Path
    index_dir: Path
    model: str
    query_prefix: str
    passage_prefix: str
    answer_threshold: float
    suggest_threshold: float
    lexical_weight: float
    languages: tuple[str, ...]
    default_language: str

    @classmethod
    def from_settings(cls, settings: Settings) -> KBSettings:
        kb = settings.section("knowledge_base")
        langs = settings.section("languages")
        supported = langs.require("supported")
        if not isinstance(supported, list) or not supported:
            raise langs.error("supported", "must be a non-empty list of language codes")
        model = kb.require("model")
        if not isinstance(model, str) or not model.strip():
            raise kb.error("model", "must be a model name or a folder path")
        # A local folder ("./models/…", "/opt/…", or any existing path) is resolved relative
        # to the settings file; anything else is a model name on a hub, for users with
        # internet, and goes to sentence-transformers unchanged.
        local = kb.path("model")
        is_local = model.startswith((".", "/", "~")) or local.exists()
        model_ref = str(local) if is_local else model

        def fraction(key: str, default: float) -> float:
            value = kb.get(key, default)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise kb.error(key, f"must be a number between 0 and 1, got {value!r}")
            return float(value)

        answer = fraction("answer_threshold", 0.8)
        suggest = fraction("suggest_threshold", 0.7)
        if suggest > answer:
            raise kb.error(
                "suggest_threshold",
                f"({suggest}) is above answer_threshold ({answer})",
                "make suggest_threshold <= answer_threshold",
            )
        return cls(
            articles=kb.path("articles", "data/kb"),
            index_dir=kb.path("index_dir", "var/kb_index"),
            model=model_ref,
            query_prefix=str(kb.get("query_prefix", "") or ""),
            passage_prefix=str(kb.get("passage_prefix", "") or ""),
            answer_threshold=answer,
            suggest_threshold=suggest,
            lexical_weight=fraction("lexical_weight", 0.3),
            languages=tuple(str(x) for x in supported),
            default_language=str(langs.get("default", supported[0])),
        )

    def embedder(self) -> Embedder:
        return Embedder(
            self.model, query_prefix=self.query_prefix, passage_prefix=self.passage_prefix
        )


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float
    dense: float
    lexical: float


class Outcome(str, Enum):
    ANSWER = "answer"  # confident: answer with the best article
    SUGGEST = "suggest"  # plausible: offer the top titles to choose from
    NONE = "none"  # nothing relevant: say so and offer a human


def decide(hits: Sequence[Hit], answer_threshold: float, suggest_threshold: float) -> Outcome:
    """What to do with a ranked hit list; pure so the thresholds are easy to test."""
    if not hits or hits[0].score < suggest_threshold:
        return Outcome.NONE
    if hits[0].score >= answer_threshold:
        return Outcome.ANSWER
    return Outcome.SUGGEST


def row_texts(articles: Sequence[Article]) -> tuple[list[Row], list[str]]:
    """The rows of the index and the text each one embeds, in a stable order."""
    rows: list[Row] = []
    texts: list[str] = []
    for article in sorted(articles, key=lambda a: a.id):
        for lang in sorted(article.title):
            title = article.title[lang]
            rows.append(Row(article.id, lang, "title"))
            texts.append(title)
            rows.append(Row(article.id, lang, "passage"))
            texts.append(f"{title}\n{article.body.get(lang, '')}")
    return rows, texts


def build_index(
    settings: KBSettings, embedder: Embedder | None = None, *, force: bool = False
) -> tuple[VectorIndex, bool]:
    """Embed the articles and save the index; returns (index, rebuilt?).

    Skips the work when an index for the same articles and model is already on disk, so
    ``make run`` only pays for embedding when data/kb or the model changed.
    """
    articles = load_articles(settings.articles, settings.languages)
    embedder = embedder or settings.embedder()
    embedder.warm_up()
    data_hash = content_hash(articles)
    if not force:
        try:
            return (
                VectorIndex.load(
                    settings.index_dir, model_id=embedder.model_id, data_hash=data_hash
                ),
                False,
            )
        except Exception:
            pass
    rows, texts = row_texts(articles)
    vectors = embedder.embed_passages(texts)
    index = VectorIndex.build(vectors, rows, embedder.model_id, data_hash)
    index.save(settings.index_dir)
    return index, True


class KnowledgeBase:
    """Loads articles, model and index once; answers queries from any thread."""

    def __init__(self, settings: KBSettings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder or settings.embedder()
        self._lock = threading.Lock()
        self._ready = False
        self._articles: dict[str, Article] = {}
        self._index: VectorIndex | None = None
        self._bm25: BM25 | None = None
        self._rows: list[Row] = []
        self._stamp: tuple[int, int] = (0, 0)
        self._failed_stamp: tuple[int, int] | None = None
        self._reload_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load everything, verifying the index against the articles and the model."""
        with self._lock:
            if self._ready:
                return
            self._install(*self._load())
            self._ready = True

    def _load(self) -> tuple[list[Article], VectorIndex, list[Row], BM25, tuple[int, int]]:
        stamp = self._manifest_stamp()
        articles = load_articles(self.settings.articles, self.settings.languages)
        self._embedder.warm_up()
        index = VectorIndex.load(
            self.settings.index_dir,
            model_id=self._embedder.model_id,
            data_hash=content_hash(articles),
        )
        rows, texts = row_texts(articles)
        if rows != index.manifest.rows:
            raise ValueError("index rows differ from the articles' rows")  # pragma: no cover
        return articles, index, rows, BM25(texts), stamp

    def _install(
        self, articles: list[Article], index: VectorIndex, rows: list[Row], bm25: BM25,
        stamp: tuple[int, int],
    ) -> None:
        self._articles = {a.id: a for a in articles}
        self._rows = rows
        self._bm25 = bm25
        self._index = index
        self._stamp = stamp

    def _manifest_stamp(self) -> tuple[int, int]:
        try:
            st = (self.settings.index_dir / MANIFEST).stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Swap to a newly built index if its manifest changed; True if swapped.

        One ``stat`` per call, so :meth:`search` runs it on every question: ``bot train``
        rebuilds the index (manifest written last) and the running action server picks
        it up without a restart. A new index that fails to load (articles edited again
        since the build, a different model) is logged once and the old one keeps
        answering.
        """
        if not self._ready:
            self.warm_up()
            return False
        stamp = self._manifest_stamp()
        if stamp in (self._stamp, self._failed_stamp):
            return False
        # Load outside the search lock (questions keep being answered by the old index);
        # one thread loads, the others carry on meanwhile.
        if not self._reload_lock.acquire(blocking=False):
            return False
        try:
            if stamp in (self._stamp, self._failed_stamp):
                return False
            try:
                loaded = self._load()
            except Exception as exc:
                self._failed_stamp = stamp
                logger.warning("new knowledge-base index not loaded, keeping the old "
                               "one: %s", exc)
                return False
            with self._lock:
                self._install(*loaded)
            logger.info("knowledge-base index reloaded: %d vectors", len(loaded[2]))
            return True
        finally:
            self._reload_lock.release()

    @property
    def articles(self) -> dict[str, Article]:
        self.warm_up()
        return self._articles

    def get(self, article_id: str) -> Article | None:
        return self.articles.get(article_id)

    def search(self, text: str, *, intent: str | None = None, top_k: int = 3) -> list[Hit]:
        """The ``top_k`` best articles for ``text``, best first (empty for empty text)."""
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.refresh()
        with self._lock:  # one consistent index, rows and articles, even mid-swap
            index, bm25, rows, articles = self._index, self._bm25, self._rows, self._articles
        assert index is not None and bm25 is not None
        text = (text or "").strip()[:2000]
        if not text:
            return []
        query = self._embedder.embed_queries([text])[0]
        dense: dict[str, float] = {}
        for row_no, cosine in index.search(query, CANDIDATE_ROWS):
            aid = rows[row_no].article_id
            dense[aid] = max(dense.get(aid, -1.0), cosine)
        lexical: dict[str, float] = {}
        for row_no, bm in enumerate(bm25.scores(text)):
            if bm > 0:
                aid = rows[row_no].article_id
                lexical[aid] = max(lexical.get(aid, 0.0), bm)
        w = self.settings.lexical_weight
        hits = []
        for aid in set(dense) | set(lexical):
            article = articles[aid]
            d = max(dense.get(aid, 0.0), 0.0)
            bm = lexical.get(aid, 0.0)
            lex = bm / (bm + BM25_HALF)
            score = (1 - w) * d + w * lex
            if intent and intent in article.intents:
                score += INTENT_BONUS
            hits.append(Hit(article, float(min(score, 1.0)), float(d), float(lex)))
        hits.sort(key=lambda h: (-h.score, h.article.id))
        return hits[:top_k]

    def vector_for(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings (used by benchmarks to time the embedding step alone)."""
        self.warm_up()
        return self._embedder.embed_queries(list(texts))
