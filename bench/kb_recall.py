"""KB answers on held-out customer questions: the learned decision beside the old hybrid.

Runs, in one process and on the same index, every question of
``bench/data/kb_customer_questions.yml`` (written as customers write, before any result
was seen, in en/ar/sl and in de, hr, it, tr, ru which have no native data; never indexed
or fitted on) through

* ``old hybrid``: the previous hand-weighted dense + BM25 score over titles and passages
  with the thresholds of supportbot.yml (Rasa's intent is not available here, so the
  old intent bonus is not applied: this is the raw search the old bot answered from);
* ``learned``: question rows + the decision model fitted at index time (the bot now).

Per language: recall@1, recall@3, share answered directly, share **wrong article answered
directly**, and search p95 (embedding included). The question's language is given to
the search, as the bot's language detector would.

    .venv/bin/python bench/kb_recall.py [--questions FILE] [--out bench/results/kb_recall.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import stamp  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from kb_index.retriever import KBSettings, KnowledgeBase, Outcome, build_index  # noqa: E402

QUESTIONS = ROOT / "bench" / "data" / "kb_customer_questions.yml"
NATIVE = ("en", "ar", "sl")


def run(kb: KnowledgeBase, questions: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """Per language (and ``all``): recall@1/@3, answered, wrong answered, p95 ms."""
    rows: dict[str, list[tuple[int, int, int, int, float]]] = defaultdict(list)
    for q in questions:
        start = time.perf_counter()
        answer = kb.answer(q["text"], language=q["lang"], top_k=3)
        ms = (time.perf_counter() - start) * 1000
        ids = [h.article.id for h in answer.hits]
        answered = answer.outcome is Outcome.ANSWER
        first = ids[:1] == [q["article"]]
        rows[q["lang"]].append(
            (int(first), int(q["article"] in ids), int(answered), int(answered and not first),
             ms)
        )
    out = {}
    for lang, items in [*rows.items(), ("all", [x for v in rows.values() for x in v])]:
        a = np.array(items)
        out[lang] = {
            "n": len(items),
            "r1": float(a[:, 0].mean()),
            "r3": float(a[:, 1].mean()),
            "answered": float(a[:, 2].mean()),
            "wrong": float(a[:, 3].mean()),
            "p95": float(np.percentile(a[:, 4], 95)),
        }
    return out


def misses(kb: KnowledgeBase, questions: list[dict[str, str]]) -> list[str]:
    """Markdown lines for the questions whose right article was not first."""
    lines = []
    for q in questions:
        answer = kb.answer(q["text"], language=q["lang"], top_k=3)
        top = answer.hits[0].article.id if answer.hits else "-"
        if top != q["article"]:
            lines.append(
                f"| {q['lang']} | {q['text']} | {q['article']} | {top} | "
                f"{answer.outcome.value} ({answer.confidence:.2f}) |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "kb_recall.md"))
    args = parser.parse_args()
    header = stamp()
    questions = yaml.safe_load(Path(args.questions).read_text(encoding="utf-8"))["questions"]
    settings = KBSettings.from_settings(load_settings())
    build_index(settings)
    embedder = settings.embedder()
    results = {}
    for label, method in (("old hybrid", "hybrid"), ("learned (bot)", "learned")):
        kb = KnowledgeBase(settings, embedder=embedder, method=method)
        kb.warm_up()
        kb.answer("warm up", language="en")
        results[label] = run(kb, questions)
    langs = [x for x in (*NATIVE, "de", "hr", "it", "tr", "ru", "all")
             if x in results["learned (bot)"]]
    lines = [
        "# KB answers on held-out customer questions",
        "",
        f"{header}; {len(questions)} questions from {Path(args.questions).name} "
        "(never indexed or fitted on), model "
        f"{Path(settings.model).name}; wrong-answer target "
        f"{settings.wrong_answer_target:.0%}.",
        "",
        "Cells: recall@1 / recall@3 · answered directly · **wrong article answered "
        "directly**. Goals (issue 12): en/ar/sl recall@1 >= 92 %, recall@3 >= 98 %; "
        "other languages recall@1 >= 85 %; wrong answered <= 2 %; search p95 <= 25 ms.",
        "",
        "| method | " + " | ".join(f"{x} (n={results['learned (bot)'][x]['n']})"
                                  for x in langs) + " | search p95 ms |",
        "|---|" + "---|" * (len(langs) + 1),
    ]
    for label, res in results.items():
        cells = [
            f"{res[x]['r1']:.0%} / {res[x]['r3']:.0%} · {res[x]['answered']:.0%} · "
            f"**{res[x]['wrong']:.0%}**"
            for x in langs
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {res['all']['p95']:.1f} |")
    lines += [
        "",
        "Search p95 includes embedding the query. It was taken on a shared 2-CPU machine "
        "(load at start in the header): read it against the old hybrid in the same run, "
        "not against the 25 ms goal; the previous run of the hybrid at load 2.3 took "
        "16.7 ms median per query.",
    ]
    kb = KnowledgeBase(settings, embedder=embedder)
    lines += [
        "",
        "Questions whose right article was not first (learned):",
        "",
        "| lang | question | right | first | decision (P right) |",
        "|---|---|---|---|---|",
        *misses(kb, questions),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
