"""The learned, calibrated KB decision: rank the articles, then answer / offer titles / none.

Hand-set weights and thresholds cannot separate right from wrong top hits (a wrong top hit's
median hybrid score sat above the right hits' 10th percentile), so the evidence is
combined by small models fitted at index time on *held-out folds of the editors' own
data*, per language:

1. **Intent model** — multinomial logistic regression over the e5 query vector, classes =
   NLU intents plus ``article:<id>`` for front-matter questions: the same recipe as the
   NLU pipeline (e5 features + logistic regression), fitted on the same examples, so its
   out-of-fold predictions at fit time have the distribution it has at run time. (Rasa's
   own prediction is not used: the action server cannot reproduce it at fit time, and a
   feature seen differently at fit and run time breaks the calibration.)
2. **Ranker** — logistic regression over each article's evidence: ``dense`` (best cosine
   to its title/passage rows), ``qmatch`` (best cosine to its customer phrasings),
   ``lexical`` (BM25, squashed to 0..1), ``intent`` (the intent model's probability of the
   article's intents) and each one's gap to the best other article.
3. **Decision** — logistic regression over the top article's evidence, the ranker margin
   to the second article and the intent model's confidence: P(the top article is right).
   Answer directly at ``p >= answer_at``, where ``answer_at`` is the lowest cut-off at which
   at most ``wrong_answer_target`` of the held-out questions (out-of-scope messages
   counted as wrong) get a wrong article directly; offer titles at ``p >= offer_at``, the
   cut-off that lets through only ``out_of_scope_offered`` of the out-of-scope examples;
   below it, say so and offer a human.

Out-of-fold features: the phrasings are split into ``FOLDS`` stratified folds; a fold's
phrasings are searched with their own question rows masked and an intent model fitted on
the other folds, exactly as a new customer's question meets the index. Languages with
too few phrasings (and every language without native data) use the model pooled over
all languages with the strictest answer cut-off of the native languages.

Everything is plain numpy at run time; scikit-learn is only used to fit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb_index.lexical import BM25
from kb_index.questions import OUT_OF_SCOPE, Question, article_label

__all__ = [
    "ARTICLE_FEATURES",
    "DECISION_FEATURES",
    "POOLED",
    "DecisionModel",
    "Evidence",
    "LanguageModel",
    "Logistic",
    "fit_decision_model",
    "select_answer_cutoff",
]

#: Per-article evidence the ranker weighs.
ARTICLE_FEATURES = (
    "dense", "qmatch", "lexical", "intent", "dense_gap", "qmatch_gap", "intent_gap",
    "lexical_gap", "qmatch3", "qmatch3_gap",
)
#: ``qmatch3`` averages an article's this many nearest phrasings: one lucky neighbour
#: counts less than several agreeing ones.
NEIGHBOURS = 3
#: Evidence about the top article the decision weighs.
DECISION_FEATURES = (
    "rank_score", "rank_margin", "dense", "qmatch", "lexical", "intent", "intent_conf",
    "out_of_scope",
)
#: Key of the model pooled over all languages (used for languages without their own).
POOLED = "*"
#: Held-out folds for the out-of-fold features.
FOLDS = 5
#: A language needs this many in-scope phrasings for a model of its own.
MIN_LANGUAGE_QUESTIONS = 60
#: Fewer in-scope phrasings than this: no fit, :func:`prior_model` (offers, never answers).
MIN_FIT_QUESTIONS = 20
#: BM25 score at which the lexical evidence counts half (as in the old hybrid).
BM25_HALF = 6.0
SEED = 12
FILE = "decision.json"
FORMAT = 1


@dataclass(frozen=True)
class Logistic:
    """A fitted binary logistic regression, applied with numpy (features standardised)."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def prob(self, x: np.ndarray) -> np.ndarray:
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(
            self.weights
        ) + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float = 1.0) -> Logistic:
        from sklearn.linear_model import LogisticRegression

        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        if len(set(y.tolist())) < 2:  # one class only: a constant model, honestly
            p = float(np.clip(y.mean() if len(y) else 0.5, 1e-3, 1 - 1e-3))
            return cls(tuple(0.0 for _ in mean), math.log(p / (1 - p)),
                       tuple(mean.tolist()), tuple(scale.tolist()))
        lr = LogisticRegression(C=c, max_iter=2000)
        lr.fit((x - mean) / scale, y)
        return cls(tuple(lr.coef_[0].tolist()), float(lr.intercept_[0]),
                   tuple(mean.tolist()), tuple(scale.tolist()))


@dataclass(frozen=True)
class LanguageModel:
    """Ranker, decision and the two cut-offs of one language (or the pooled model)."""

    ranker: Logistic
    decision: Logistic
    answer_at: float
    offer_at: float
    fitted_on: int
    #: Held-out (out-of-fold) figures at the chosen cut-offs, for reports.
    held_out: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """What the retriever found for one query, per article (arrays of article length)."""

    dense: np.ndarray
    qmatch: np.ndarray
    qmatch3: np.ndarray
    lexical: np.ndarray
    intent: np.ndarray
    intent_conf: float
    out_of_scope: float

    def article_features(self) -> np.ndarray:
        cols = [self.dense, self.qmatch, self.lexical, self.intent]
        gaps = [_gap(c) for c in (self.dense, self.qmatch, self.intent, self.lexical)]
        return np.stack([*cols, *gaps, self.qmatch3, _gap(self.qmatch3)], axis=1)

    def decision_features(self, rank: np.ndarray) -> tuple[int, np.ndarray]:
        order = np.argsort(-rank, kind="stable")
        top = int(order[0])
        second = float(rank[order[1]]) if len(order) > 1 else 0.0
        x = np.array([
            rank[top], rank[top] - second, self.dense[top], self.qmatch[top],
            self.lexical[top], self.intent[top], self.intent_conf, self.out_of_scope,
        ])
        return top, x


def _gap(values: np.ndarray) -> np.ndarray:
    """Each value minus the best *other* value (positive only for the leader)."""
    if len(values) < 2:
        return np.zeros_like(values)
    order = np.argsort(-values)
    best, second = values[order[0]], values[order[1]]
    others = np.where(np.arange(len(values)) == order[0], second, best)
    return values - others


@dataclass
class DecisionModel:
    """Everything the retriever needs to turn evidence into a ranked decision."""

    article_ids: tuple[str, ...]
    labels: tuple[str, ...]
    intent_w: np.ndarray  # (dimension, labels)
    intent_b: np.ndarray  # (labels,)
    article_labels: tuple[tuple[int, ...], ...]  # per article: its label indices
    languages: dict[str, LanguageModel]
    wrong_answer_target: float
    data_hash: str = ""

    # --- run time ---------------------------------------------------------------------

    def intent_probs(self, vectors: np.ndarray) -> np.ndarray:
        return _softmax(np.atleast_2d(vectors) @ self.intent_w + self.intent_b)

    def article_intent(self, probs: np.ndarray) -> tuple[np.ndarray, float, float]:
        """Per-article intent probability, the top class's probability, P(out of scope)."""
        per_article = np.array([
            max((float(probs[i]) for i in idx), default=0.0) for idx in self.article_labels
        ])
        oos = self.labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in self.labels else -1
        return per_article, float(probs.max()), float(probs[oos]) if oos >= 0 else 0.0

    def model_for(self, language: str | None) -> LanguageModel:
        return self.languages.get(language or "", self.languages[POOLED])

    def decide(self, evidence: Evidence, language: str | None) -> tuple[np.ndarray, int, float]:
        """(ranker score per article, top article index, P(top is right))."""
        model = self.model_for(language)
        rank = model.ranker.prob(evidence.article_features())
        top, x = evidence.decision_features(rank)
        return rank, top, float(model.decision.prob(x[None, :])[0])

    # --- persistence --------------------------------------------------------------------

    def save(self, path: Path) -> None:
        data = {
            "format": FORMAT,
            "data_hash": self.data_hash,
            "article_ids": list(self.article_ids),
            "labels": list(self.labels),
            "intent_w": self.intent_w.round(6).tolist(),
            "intent_b": self.intent_b.round(6).tolist(),
            "article_labels": [list(x) for x in self.article_labels],
            "wrong_answer_target": self.wrong_answer_target,
            "languages": {
                lang: {
                    "ranker": _logistic_json(m.ranker),
                    "decision": _logistic_json(m.decision),
                    "answer_at": m.answer_at,
                    "offer_at": m.offer_at,
                    "fitted_on": m.fitted_on,
                    "held_out": m.held_out,
                }
                for lang, m in self.languages.items()
            },
        }
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> DecisionModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this version reads {FORMAT}")
        return cls(
            article_ids=tuple(data["article_ids"]),
            labels=tuple(data["labels"]),
            intent_w=np.asarray(data["intent_w"], dtype=np.float32),
            intent_b=np.asarray(data["intent_b"], dtype=np.float32),
            article_labels=tuple(tuple(x) for x in data["article_labels"]),
            wrong_answer_target=float(data["wrong_answer_target"]),
            data_hash=str(data["data_hash"]),
            languages={
                lang: LanguageModel(
                    ranker=Logistic(**_tuples(m["ranker"])),
                    decision=Logistic(**_tuples(m["decision"])),
                    answer_at=float(m["answer_at"]),
                    offer_at=float(m["offer_at"]),
                    fitted_on=int(m["fitted_on"]),
                    held_out=dict(m.get("held_out", {})),
                )
                for lang, m in data["languages"].items()
            },
        )


def _logistic_json(m: Logistic) -> dict[str, Any]:
    return {"weights": list(m.weights), "bias": m.bias, "mean": list(m.mean),
            "scale": list(m.scale)}


def _tuples(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out[0] if out.shape[0] == 1 else out


# --- evidence from row scores (shared by fit and run time) -------------------------------


def evidence_from_rows(
    row_scores: np.ndarray,
    row_article: np.ndarray,
    row_is_question: np.ndarray,
    n_articles: int,
    lexical: np.ndarray,
    intent: tuple[np.ndarray, float, float],
    mask: np.ndarray | None = None,
) -> Evidence:
    """Best cosine per article over its text rows and over its question rows."""
    dense = np.zeros(n_articles)
    qmatch = np.zeros(n_articles)
    scores = np.clip(row_scores, 0.0, 1.0)
    text = ~row_is_question
    quest = row_is_question if mask is None else (row_is_question & ~mask)
    np.maximum.at(dense, row_article[text], scores[text])
    np.maximum.at(qmatch, row_article[quest], scores[quest])
    q_scores, q_articles = scores[quest], row_article[quest]
    order = np.argsort(-q_scores)[: NEIGHBOURS * 40]
    qmatch3 = np.zeros(n_articles)
    taken = np.zeros(n_articles, dtype=int)
    for a, v in zip(q_articles[order].tolist(), q_scores[order].tolist(), strict=True):
        if taken[a] < NEIGHBOURS:
            qmatch3[a] += v
            taken[a] += 1
    per_article, conf, oos = intent
    return Evidence(dense, qmatch, qmatch3 / NEIGHBOURS, lexical, per_article, conf, oos)


def lexical_per_article(bm25: BM25, text_row_article: np.ndarray, n_articles: int,
                        query: str) -> np.ndarray:
    """BM25 over the title/passage rows, best row per article, squashed onto 0..1."""
    out = np.zeros(n_articles)
    raw = np.asarray(bm25.scores(query))
    if raw.size:
        np.maximum.at(out, text_row_article, raw)
    return out / (out + BM25_HALF)


# --- fitting -------------------------------------------------------------------------------


def select_answer_cutoff(
    p: np.ndarray, wrong: np.ndarray, target: float, n_questions: int | None = None
) -> float:
    """The lowest cut-off at which answering ``p >= cut`` answers wrongly at most ``target``.

    ``wrong`` marks the items whose top article is wrong (out-of-scope ones included);
    the rate is over ``n_questions`` (default: all items). Returns a cut-off above every
    ``p`` (never answer) when no cut-off reaches the target.
    """
    n = n_questions if n_questions is not None else len(p)
    if n == 0:
        return 1.01
    best = 1.01
    for cut in sorted(set(np.round(p, 6).tolist()), reverse=True):
        if int(((p >= cut) & wrong).sum()) / n <= target:
            best = cut
        else:
            break
    return float(best)


def _offer_cutoff(p_oos: np.ndarray, share: float, answer_at: float) -> float:
    if not len(p_oos):
        return min(0.2, answer_at)
    return float(min(np.quantile(p_oos, 1.0 - share), answer_at))


def fit_decision_model(
    *,
    questions: Sequence[Question],
    question_vectors: np.ndarray,
    article_ids: Sequence[str],
    article_intents: Sequence[Sequence[str]],
    row_vectors: np.ndarray,
    row_article: np.ndarray,
    row_question: np.ndarray,
    bm25: BM25,
    wrong_answer_target: float,
    out_of_scope_offered: float,
    folds: int = FOLDS,
) -> DecisionModel:
    """Fit intent model, rankers and decisions on out-of-fold evidence (module docstring).

    Args:
        questions: Every phrasing (:func:`kb_index.questions.collect_questions`).
        question_vectors: Their query embeddings, row for row.
        article_ids: The articles, in index order.
        article_intents: Each article's ``intents``.
        row_vectors: Every index row's vector (text rows and question rows).
        row_article: Article index of each row.
        row_question: Index into ``questions`` of each question row, -1 for text rows.
        bm25: BM25 over the text rows, which are the first rows of the index.
        wrong_answer_target: Highest share of held-out questions that may get a wrong
            article answered directly (sets each language's ``answer_at``).
        out_of_scope_offered: Share of out-of-scope examples that may still be offered
            titles (sets ``offer_at``).
        folds: Number of held-out folds.
    """
    from sklearn.linear_model import LogisticRegression

    labels = sorted({q.label for q in questions} | {article_label(a) for a in article_ids})
    label_index = {lab: i for i, lab in enumerate(labels)}
    article_labels = tuple(
        tuple(sorted({label_index[x] for x in (*intents, article_label(aid))
                      if x in label_index}))
        for aid, intents in zip(article_ids, article_intents, strict=True)
    )
    y = np.array([label_index[q.label] for q in questions], dtype=int)
    if sum(1 for q in questions if q.articles) < MIN_FIT_QUESTIONS:
        return prior_model(article_ids, labels, article_labels,
                           row_vectors.shape[1], wrong_answer_target)
    n_art = len(article_ids)
    row_is_question = row_question >= 0
    text_rows = np.flatnonzero(~row_is_question)
    text_row_article = row_article[text_rows]

    def fit_intent(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros((question_vectors.shape[1], len(labels)), dtype=np.float32)
        if len(set(y[idx].tolist())) < 2:  # nothing to tell apart: uniform probabilities
            return w, np.zeros(len(labels), dtype=np.float32)
        lr = LogisticRegression(C=10.0, max_iter=300)
        lr.fit(question_vectors[idx], y[idx])
        b = np.full(len(labels), -30.0, dtype=np.float32)  # classes unseen in this fold
        w[:, lr.classes_] = lr.coef_.T
        b[lr.classes_] = lr.intercept_
        return w, b

    def probs_for(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    fold_of = _stratified_folds(y, folds)
    scored = [
        i for i, q in enumerate(questions) if q.articles or q.label == OUT_OF_SCOPE
    ]
    sims = question_vectors[scored] @ row_vectors.T
    art_x: list[np.ndarray] = []
    art_y: list[np.ndarray] = []
    item_lang: list[str] = []
    item_ev: list[Evidence] = []
    item_right: list[frozenset[int]] = []
    aid_index = {a: i for i, a in enumerate(article_ids)}
    oof_probs = np.zeros((len(questions), len(labels)))
    for f in range(folds):
        train, test = np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)
        if len(test):
            oof_probs[test] = probs_for(*fit_intent(train), question_vectors[test])
    probe = _IntentView(labels, article_labels)
    in_fold = fold_of[row_question.clip(min=0)]
    for k, qi in enumerate(scored):
        q = questions[qi]
        mask = row_is_question & (in_fold == fold_of[qi])
        ev = evidence_from_rows(
            sims[k], row_article, row_is_question, n_art,
            lexical_per_article(bm25, text_row_article, n_art, q.text),
            probe.article_intent(oof_probs[qi]),
            mask=mask,
        )
        right = frozenset(aid_index[a] for a in q.articles if a in aid_index)
        if len(right) > 1:
            # An example of an intent several articles share ("return_refund": returns,
            # refund timing, exchanges) says nothing about which one is right: it
            # serves as a question row and trains the intent model, not the ranking.
            continue
        item_lang.append(q.language)
        item_ev.append(ev)
        item_right.append(right)
        if right:
            art_x.append(ev.article_features())
            art_y.append(np.isin(np.arange(n_art), list(right)).astype(int))

    langs = np.array(item_lang)
    in_scope = np.array([bool(r) for r in item_right])
    native = sorted(
        lang for lang in set(item_lang)
        if int(((langs == lang) & in_scope).sum()) >= MIN_LANGUAGE_QUESTIONS
    )
    art_lang = langs[in_scope]
    models: dict[str, LanguageModel] = {}
    for lang in [*native, POOLED]:
        pick = np.ones(len(langs), bool) if lang == POOLED else langs == lang
        pick_art = np.ones(len(art_lang), bool) if lang == POOLED else art_lang == lang
        ranker = Logistic.fit(
            np.concatenate([x for x, s in zip(art_x, pick_art, strict=True) if s]),
            np.concatenate([t for t, s in zip(art_y, pick_art, strict=True) if s]),
        )
        dx, dy, wrong = [], [], []
        for ev, right, keep in zip(item_ev, item_right, pick, strict=True):
            if not keep:
                continue
            rank = ranker.prob(ev.article_features())
            top, x = ev.decision_features(rank)
            dx.append(x)
            dy.append(int(top in right))
            wrong.append(top not in right)
        xd, yd, wr = np.array(dx), np.array(dy), np.array(wrong)
        decision = Logistic.fit(xd, yd)
        p = decision.prob(xd)
        oos = np.array([not r for r, k in zip(item_right, pick, strict=True) if k])
        n_in = int((~oos).sum())
        answer_at = select_answer_cutoff(p, wr, wrong_answer_target, n_in)
        offer_at = _offer_cutoff(p[oos], out_of_scope_offered, answer_at)
        answered = p >= answer_at
        models[lang] = LanguageModel(
            ranker, decision, answer_at, offer_at, fitted_on=n_in,
            held_out={
                "recall@1": float(yd[~oos].mean()) if n_in else 0.0,
                "answered": float(answered[~oos].mean()) if n_in else 0.0,
                "wrong_answered": float((answered & wr).sum() / max(n_in, 1)),
                "out_of_scope_offered": float((p[oos] >= offer_at).mean())
                if oos.any() else 0.0,
            },
        )
    strictest = max((models[lang].answer_at for lang in native), default=None)
    if strictest is not None and strictest > models[POOLED].answer_at:
        pooled = models[POOLED]
        models[POOLED] = LanguageModel(
            pooled.ranker, pooled.decision, strictest, min(pooled.offer_at, strictest),
            pooled.fitted_on, pooled.held_out,
        )
    w, b = fit_intent(np.arange(len(questions)))
    return DecisionModel(
        article_ids=tuple(article_ids),
        labels=tuple(labels),
        intent_w=w,
        intent_b=b,
        article_labels=article_labels,
        languages=models,
        wrong_answer_target=wrong_answer_target,
    )


def _stratified_folds(y: np.ndarray, folds: int) -> np.ndarray:
    """Fold number per item: each label's items dealt round-robin from a seeded shuffle.

    Unlike scikit-learn's StratifiedKFold this accepts labels with fewer items than
    folds (an article with one front-matter question), which then sit in fewer folds.
    """
    rng = np.random.default_rng(SEED)
    fold_of = np.zeros(len(y), dtype=int)
    start = 0
    for label in sorted(set(y.tolist())):
        idx = rng.permutation(np.flatnonzero(y == label))
        fold_of[idx] = (start + np.arange(len(idx))) % folds
        start += len(idx)
    return fold_of


def prior_model(article_ids: Sequence[str], labels: Sequence[str],
                article_labels: tuple[tuple[int, ...], ...], dimension: int,
                wrong_answer_target: float) -> DecisionModel:
    """The model for a knowledge base without enough editors' phrasings to fit one.

    It ranks by the article texts' cosine and BM25, as the previous hybrid did (a few
    phrasings on some articles would otherwise outrank articles that have none), and
    never answers directly (nothing calibrates a direct answer), so the customer is
    offered titles: honest, and never a confident wrong article.
    """
    n = len(ARTICLE_FEATURES)
    weights = [0.0] * n
    weights[ARTICLE_FEATURES.index("dense")] = 8.0
    weights[ARTICLE_FEATURES.index("lexical")] = 3.0
    ranker = Logistic(tuple(weights), -10.0, (0.0,) * n, (1.0,) * n)
    m = len(DECISION_FEATURES)
    decision = Logistic((0.0,) * m, 0.0, (0.0,) * m, (1.0,) * m)
    return DecisionModel(
        article_ids=tuple(article_ids), labels=tuple(labels),
        intent_w=np.zeros((dimension, len(labels)), dtype=np.float32),
        intent_b=np.zeros(len(labels), dtype=np.float32),
        article_labels=article_labels,
        languages={POOLED: LanguageModel(ranker, decision, 1.01, 0.0, 0)},
        wrong_answer_target=wrong_answer_target,
    )


class _IntentView:
    """``DecisionModel.article_intent`` before the model exists (used while fitting)."""

    def __init__(self, labels: Sequence[str], article_labels: tuple[tuple[int, ...], ...]):
        self.labels = tuple(labels)
        self.article_labels = article_labels

    def article_intent(self, probs: np.ndarray) -> tuple[np.ndarray, float, float]:
        return DecisionModel.article_intent(self, probs)  # type: ignore[arg-type]
