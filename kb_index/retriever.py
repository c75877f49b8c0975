"""Retrieval over the knowledge base: articles and customers' phrasings, a learned decision.

The index holds, per article and language, a *title* row, a *passage* row (title + body)
and one *question* row per customer phrasing (kb_index/questions.py: the NLU examples of
the article's intents and its front-matter ``questions:``). A query meets all of them
through the multilingual e5 embeddings, in whatever language it is written; BM25 adds
exact-word evidence. :mod:`kb_index.decision` turns that evidence into a ranking and into
answer / offer titles / none, with models fitted at build time on held-out folds of the
editors' phrasings (``method="learned"``, what the bot uses).

The previous hand-weighted hybrid stays available as ``method="hybrid"`` (title and
passage rows only, thresholds from supportbot.yml) so the benchmark can show both:

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

import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from bot.settings import Settings
from kb_index.articles import Article, content_hash, load_articles
from kb_index.decision import FILE as DECISION_FILE
from kb_index.decision import (
    DecisionModel,
    evidence_from_rows,
    fit_decision_model,
    lexical_per_article,
)
from kb_index.embedder import Embedder
from kb_index.lexical import BM25
from kb_index.questions import Question, collect_questions, questions_hash
from kb_index.store import MANIFEST, REBUILD_HINT, IndexMismatchError, Row, VectorIndex

logger = logging.getLogger(__name__)

#: BM25 score at which the lexical signal counts half; BM25 is unbounded, this maps it
#: onto 0..1 without depending on the other documents' scores.
BM25_HALF = 6.0
#: Added when the article lists the intent Rasa's NLU predicted: the classifier saw the
#: whole message and was trained on editors' examples, a strong hint on short questions.
INTENT_BONUS = 0.05
#: A query longer than this is cut: a question sits in its first lines, and embedding
#: 10 kB costs memory and time for nothing (the model reads 512 tokens at most).
MAX_QUERY_CHARS = 2000


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
    #: data/nlu: the editors' phrasings indexed as questions (missing folder: none).
    nlu: Path = Path("data/nlu")
    #: Share of questions that may get a wrong article answered directly (held out).
    wrong_answer_target: float = 0.02
    #: Share of out-of-scope messages that may still be offered titles.
    out_of_scope_offered: float = 0.1
    #: Customer language -> native language they most likely read, when no translation
    #: path exists (hr -> sl); unlisted languages get ``default_language``.
    closest_language: tuple[tuple[str, str], ...] = ()
    #: Native language -> the honest note sent before an article shown in it to a
    #: customer who wrote another language (none: the default ``utter_language_fallback``).
    closest_language_notes: tuple[tuple[str, str], ...] = ()

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
        closest = kb.get("closest_language", {}) or {}
        if not isinstance(closest, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in closest.items()
        ):
            raise kb.error("closest_language", "must map language codes to language codes",
                           "write it as 'closest_language: {hr: sl, de: en}'")
        for code, target in closest.items():
            if target not in supported:
                raise kb.error(
                    f"closest_language.{code}",
                    f"{target!r} is not one of languages.supported ({', '.join(supported)})",
                    "name a language the articles are written in",
                )
        notes = kb.get("closest_language_note", {}) or {}
        if not isinstance(notes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in notes.items()
        ):
            raise kb.error("closest_language_note", "must map language codes to a note",
                           "write it as 'closest_language_note: {sl: \"...\"}'")
        return cls(
            nlu=kb.path("nlu", "data/nlu"),
            closest_language_notes=tuple(sorted((str(k), str(v)) for k, v in notes.items())),
            wrong_answer_target=fraction("wrong_answer_target", 0.02),
            out_of_scope_offered=fraction("out_of_scope_offered", 0.1),
            closest_language=tuple(sorted((str(k), str(v)) for k, v in closest.items())),
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

    def reading_language(self, customer: str | None) -> str:
        """The native language to show an article in when ``customer``'s is not one.

        ``customer`` itself when the articles are written in it; else the configured
        closest language (a Croatian reader gets Slovenian); else the default language.
        """
        if customer in self.languages:
            return str(customer)
        return dict(self.closest_language).get(customer or "", self.default_language)

    def closest_language_note(self, shown: str) -> str | None:
        """The note that says honestly why an article comes in ``shown``, if configured."""
        return dict(self.closest_language_notes).get(shown)

    def embedder(self) -> Embedder:
        return Embedder(
            self.model, query_prefix=self.query_prefix, passage_prefix=self.passage_prefix
        )


@dataclass(frozen=True)
class Hit:
    """One ranked article and its evidence (``score``: ranker probability or hybrid)."""

    article: Article
    score: float
    dense: float
    lexical: float
    qmatch: float = 0.0
    intent: float = 0.0


class Outcome(str, Enum):
    ANSWER = "answer"  # confident: answer with the best article
    SUGGEST = "suggest"  # plausible: offer the top titles to choose from
    NONE = "none"  # nothing relevant: say so and offer a human


@dataclass(frozen=True)
class Answer:
    """What to do with a question: the outcome, the ranked hits and P(top hit is right)."""

    outcome: Outcome
    hits: list[Hit]
    confidence: float


def decide(hits: Sequence[Hit], answer_threshold: float, suggest_threshold: float) -> Outcome:
    """What to do with a ranked hit list; pure so the thresholds are easy to test."""
    if not hits or hits[0].score < suggest_threshold:
        return Outcome.NONE
    if hits[0].score >= answer_threshold:
        return Outcome.ANSWER
    return Outcome.SUGGEST


def row_texts(articles: Sequence[Article]) -> tuple[list[Row], list[str]]:
    """The title and passage rows of the index and their texts, in a stable order."""
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


def question_rows(questions: Sequence[Question]) -> tuple[list[Row], list[int]]:
    """One ``question`` row per (phrasing, article it asks for); the phrasing's index."""
    rows: list[Row] = []
    index: list[int] = []
    for qi, q in enumerate(questions):
        for aid in q.articles:
            rows.append(Row(aid, q.language, "question"))
            index.append(qi)
    return rows, index


def data_hash(settings: KBSettings, articles: Sequence[Article],
              questions: Sequence[Question]) -> str:
    """What the index and its decision model were built from: articles, phrasings, target."""
    blob = json.dumps([
        content_hash(articles), questions_hash(questions),
        settings.wrong_answer_target, settings.out_of_scope_offered,
    ])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


#: Embeddings of every text embedded before, so a rebuild embeds only what changed.
EMBEDDING_CACHE = "embeddings.npz"


def _cache_key(kind: str, text: str) -> str:
    return hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()[:32]


class _EmbeddingCache:
    """Vectors by (kind, text) from the last build of this model; only misses are embedded."""

    def __init__(self, folder: Path, model_id: str) -> None:
        self.path = folder / EMBEDDING_CACHE
        self.model_id = model_id
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0
        try:
            with np.load(self.path, allow_pickle=False) as data:
                if str(data["model_id"]) == model_id:
                    self.vectors = dict(zip(data["keys"].tolist(), data["vectors"],
                                            strict=True))
        except (OSError, KeyError, ValueError):
            pass

    def get(self, embedder: Embedder, kind: str, texts: Sequence[str]) -> np.ndarray:
        keys = [_cache_key(kind, t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True)
                          if k not in self.vectors}.items())
        if missing:
            embed = embedder.embed_passages if kind == "passage" else embedder.embed_queries
            fresh = embed([t for _, t in missing])
            self.vectors.update({k: v for (k, _), v in zip(missing, fresh, strict=True)})
            self.embedded += len(missing)
        if not keys:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32)

    def save(self, keep: set[str]) -> None:
        keys = sorted(k for k in self.vectors if k in keep)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, model_id=np.array(self.model_id), keys=np.array(keys),
                 vectors=np.stack([self.vectors[k] for k in keys]) if keys
                 else np.zeros((0, 1), dtype=np.float32))
        os.replace(tmp, self.path)


def build_index(
    settings: KBSettings, embedder: Embedder | None = None, *, force: bool = False
) -> tuple[VectorIndex, bool]:
    """Embed articles and phrasings, fit the decision model, save; returns (index, rebuilt?).

    Skips the work when an index for the same articles, phrasings, target and model is
    already on disk, so ``make run`` only pays when something changed; and a rebuild
    embeds only texts it has not embedded before (``embeddings.npz`` beside the index).
    """
    articles = load_articles(settings.articles, settings.languages)
    questions = collect_questions(articles, settings.nlu)
    embedder = embedder or settings.embedder()
    embedder.warm_up()
    digest = data_hash(settings, articles, questions)
    if not force:
        try:
            index = VectorIndex.load(
                settings.index_dir, model_id=embedder.model_id, data_hash=digest
            )
            load_decision(settings.index_dir, digest)
            return index, False
        except IndexMismatchError:
            pass
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    cache = _EmbeddingCache(settings.index_dir, embedder.model_id)
    rows, texts = row_texts(articles)
    text_vectors = cache.get(embedder, "passage", texts)
    q_texts = [q.text for q in questions]
    q_vectors = cache.get(embedder, "query", q_texts)
    q_rows, q_index = question_rows(questions)
    all_rows = rows + q_rows
    vectors = np.concatenate([text_vectors, q_vectors[q_index]]) if q_index else text_vectors
    article_ids = sorted(a.id for a in articles)
    position = {aid: i for i, aid in enumerate(article_ids)}
    by_id = {a.id: a for a in articles}
    model = fit_decision_model(
        questions=questions,
        question_vectors=q_vectors,
        article_ids=article_ids,
        article_intents=[by_id[a].intents for a in article_ids],
        row_vectors=vectors,
        row_article=np.array([position[r.article_id] for r in all_rows]),
        row_question=np.array([-1] * len(rows) + q_index),
        bm25=BM25(texts),
        wrong_answer_target=settings.wrong_answer_target,
        out_of_scope_offered=settings.out_of_scope_offered,
    )
    model.data_hash = digest
    index = VectorIndex.build(vectors, all_rows, embedder.model_id, digest)
    tmp = settings.index_dir / (DECISION_FILE + ".tmp")
    model.save(tmp)
    os.replace(tmp, settings.index_dir / DECISION_FILE)  # before the manifest (written last)
    index.save(settings.index_dir)
    cache.save({_cache_key("passage", t) for t in texts}
               | {_cache_key("query", t) for t in q_texts})
    logger.info("knowledge-base index built: %d rows, %d texts embedded, %d reused",
                len(all_rows), cache.embedded, len(texts) + len(q_texts) - cache.embedded)
    return index, True


def load_decision(folder: Path, digest: str) -> DecisionModel:
    """The decision model saved with the index, refused unless built from the same data."""
    path = folder / DECISION_FILE
    try:
        model = DecisionModel.load(path)
    except FileNotFoundError:
        raise IndexMismatchError(f"no decision model {path}; " + REBUILD_HINT) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexMismatchError(f"{path} is unreadable ({exc}); " + REBUILD_HINT) from None
    if model.data_hash != digest:
        raise IndexMismatchError(
            f"{path} was fitted on other articles or phrasings than the ones in data/kb "
            "and data/nlu now; " + REBUILD_HINT
        )
    return model


@dataclass(frozen=True)
class _Loaded:
    """One consistent generation of articles, index and models (swapped as a whole)."""

    articles: dict[str, Article]
    index: VectorIndex
    rows: list[Row]
    bm25: BM25
    decision: DecisionModel
    article_ids: tuple[str, ...]
    row_article: np.ndarray
    row_is_question: np.ndarray
    text_rows: np.ndarray
    stamp: tuple[int, int]


class KnowledgeBase:
    """Loads articles, model and index once; answers queries from any thread.

    Args:
        method: ``"learned"`` (the bot: question rows and the fitted decision model) or
            ``"hybrid"`` (the previous hand-weighted score over titles and passages,
            kept for side-by-side benchmarks).
    """

    def __init__(
        self, settings: KBSettings, embedder: Embedder | None = None, *,
        method: str = "learned",
    ) -> None:
        if method not in ("learned", "hybrid"):
            raise ValueError(f"method must be 'learned' or 'hybrid', got {method!r}")
        self.settings = settings
        self.method = method
        self._embedder = embedder or settings.embedder()
        self._lock = threading.Lock()
        self._ready = False
        self._state: _Loaded | None = None
        self._stamp: tuple[int, int] = (0, 0)
        self._failed_stamp: tuple[int, int] | None = None
        self._reload_lock = threading.Lock()

    def warm_up(self) -> None:
        """Load everything, verifying the index against the articles and the model."""
        with self._lock:
            if self._ready:
                return
            self._install(self._load())
            self._ready = True

    def _load(self) -> _Loaded:
        stamp = self._manifest_stamp()
        articles = load_articles(self.settings.articles, self.settings.languages)
        questions = collect_questions(articles, self.settings.nlu)
        self._embedder.warm_up()
        digest = data_hash(self.settings, articles, questions)
        index = VectorIndex.load(
            self.settings.index_dir, model_id=self._embedder.model_id, data_hash=digest
        )
        decision = load_decision(self.settings.index_dir, digest)
        rows, texts = row_texts(articles)
        q_rows, _ = question_rows(questions)
        if rows + q_rows != index.manifest.rows:
            raise IndexMismatchError("index rows differ from the articles' rows; "
                                     + REBUILD_HINT)  # pragma: no cover
        ids = tuple(sorted(a.id for a in articles))
        position = {aid: i for i, aid in enumerate(ids)}
        all_rows = index.manifest.rows
        return _Loaded(
            articles={a.id: a for a in articles}, index=index, rows=all_rows,
            bm25=BM25(texts), decision=decision, article_ids=ids,
            row_article=np.array([position[r.article_id] for r in all_rows], dtype=int),
            row_is_question=np.array([r.kind == "question" for r in all_rows], dtype=bool),
            text_rows=np.arange(len(rows)), stamp=stamp,
        )

    def _install(self, loaded: _Loaded) -> None:
        self._state = loaded
        self._stamp = loaded.stamp

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
                self._install(loaded)
            logger.info("knowledge-base index reloaded: %d vectors", len(loaded.rows))
            return True
        finally:
            self._reload_lock.release()

    @property
    def articles(self) -> dict[str, Article]:
        self.warm_up()
        assert self._state is not None
        return self._state.articles

    def get(self, article_id: str) -> Article | None:
        return self.articles.get(article_id)

    def search(
        self, text: str, *, intent: str | None = None, top_k: int = 3,
        language: str | None = None,
    ) -> list[Hit]:
        """The ``top_k`` best articles for ``text``, best first (empty for empty text).

        ``language`` picks the language's fitted ranker (the pooled one when it has
        none); ``intent`` (Rasa's prediction) only feeds the ``hybrid`` method.
        """
        return self.answer(text, language=language, intent=intent, top_k=top_k).hits

    def answer(
        self, text: str, *, language: str | None = None, intent: str | None = None,
        top_k: int = 3,
    ) -> Answer:
        """Ranked hits and what to do with them: answer, offer the titles, or none.

        Any text gets a decision: empty or whitespace gives ``none``; a 10 kB message is
        cut to its first ``MAX_QUERY_CHARS`` characters (a question is in its start);
        emoji and mixed scripts are embedded like any text.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.refresh()
        with self._lock:  # one consistent generation, even mid-swap
            state = self._state
        assert state is not None
        text = (text or "").strip()[:MAX_QUERY_CHARS]
        if not text:
            return Answer(Outcome.NONE, [], 0.0)
        query = self._embedder.embed_queries([text])[0]
        if self.method == "hybrid":
            hits = self._hybrid(state, text, query, intent)[:top_k]
            outcome = decide(hits, self.settings.answer_threshold,
                             self.settings.suggest_threshold)
            return Answer(outcome, hits, hits[0].score if hits else 0.0)
        n = state.index.manifest
        scores = np.zeros(len(n.rows), dtype=np.float32)
        for row_no, cosine in state.index.search(query, len(n.rows)):
            scores[row_no] = cosine
        model = state.decision
        n_art = len(state.article_ids)
        evidence = evidence_from_rows(
            scores, state.row_article, state.row_is_question, n_art,
            lexical_per_article(state.bm25, state.row_article[state.text_rows], n_art, text),
            model.article_intent(model.intent_probs(query)),
        )
        rank, _, p = model.decide(evidence, language)
        lm = model.model_for(language)
        order = np.argsort(-rank, kind="stable")[:top_k]
        hits = [
            Hit(state.articles[state.article_ids[i]], float(rank[i]),
                float(evidence.dense[i]), float(evidence.lexical[i]),
                float(evidence.qmatch[i]), float(evidence.intent[i]))
            for i in order
        ]
        if p >= lm.answer_at:
            outcome = Outcome.ANSWER
        elif p >= lm.offer_at:
            outcome = Outcome.SUGGEST
        else:
            outcome = Outcome.NONE
        return Answer(outcome, hits, p)

    def _hybrid(
        self, state: _Loaded, text: str, query: np.ndarray, intent: str | None
    ) -> list[Hit]:
        """The previous hand-weighted score over title and passage rows (see module doc)."""
        dense: dict[str, float] = {}
        for row_no, cosine in state.index.search(query, len(state.rows)):
            row = state.rows[row_no]
            if row.kind != "question":
                dense[row.article_id] = max(dense.get(row.article_id, -1.0), cosine)
        lexical: dict[str, float] = {}
        for row_no, bm in enumerate(state.bm25.scores(text)):
            if bm > 0:
                aid = state.rows[row_no].article_id
                lexical[aid] = max(lexical.get(aid, 0.0), bm)
        w = self.settings.lexical_weight
        hits = []
        for aid in set(dense) | set(lexical):
            article = state.articles[aid]
            d = max(dense.get(aid, 0.0), 0.0)
            bm = lexical.get(aid, 0.0)
            lex = bm / (bm + BM25_HALF)
            score = (1 - w) * d + w * lex
            if intent and intent in article.intents:
                score += INTENT_BONUS
            hits.append(Hit(article, float(min(score, 1.0)), float(d), float(lex)))
        hits.sort(key=lambda h: (-h.score, h.article.id))
        return hits

    def vector_for(self, texts: Sequence[str]) -> np.ndarray:
        """Query embeddings (used by benchmarks to time the embedding step alone)."""
        self.warm_up()
        return self._embedder.embed_queries(list(texts))
