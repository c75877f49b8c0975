"""KB retrieval quality: recall@1 and recall@3 per language on labelled customer questions.

Compares dense only (multilingual e5), lexical only (BM25) and the hybrid the bot uses, on
bench/data/kb_questions.yml (paraphrased questions written apart from the articles), and
prints the score distribution of right vs wrong top hits, which is what the answer and
suggest thresholds in supportbot.yml are calibrated on.

    .venv/bin/python bench/kb_recall.py [--out bench/results/kb_recall.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import load_settings  # noqa: E402
from kb_index.retriever import KBSettings, KnowledgeBase, build_index  # noqa: E402


def evaluate(kb: KnowledgeBase, questions: list[dict]) -> dict:
    per_lang: dict[str, list[tuple[int, int]]] = defaultdict(list)
    right_scores, wrong_scores, times = [], [], []
    for q in questions:
        start = time.perf_counter()
        hits = kb.search(q["text"], top_k=3)
        times.append((time.perf_counter() - start) * 1000)
        ids = [h.article.id for h in hits]
        per_lang[q["lang"]].append((int(ids[:1] == [q["article"]]), int(q["article"] in ids)))
        if hits:
            (right_scores if ids[0] == q["article"] else wrong_scores).append(hits[0].score)
    return {"per_lang": per_lang, "right": right_scores, "wrong": wrong_scores, "ms": times}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "kb_recall.md"))
    args = parser.parse_args()
    questions = yaml.safe_load((ROOT / "bench/data/kb_questions.yml").read_text())["questions"]
    base = KBSettings.from_settings(load_settings())
    build_index(base)
    embedder = base.embedder()
    rows = []
    dists = {}
    for label, weight in (("dense (e5)", 0.0), ("lexical (BM25)", 1.0), ("hybrid (bot)", base.lexical_weight)):
        kb = KnowledgeBase(replace(base, lexical_weight=weight), embedder=embedder)
        result = evaluate(kb, questions)
        cells = []
        for lang in sorted(result["per_lang"]):
            pairs = result["per_lang"][lang]
            r1 = sum(p[0] for p in pairs) / len(pairs)
            r3 = sum(p[1] for p in pairs) / len(pairs)
            cells.append(f"{r1:.0%} / {r3:.0%} (n={len(pairs)})")
        allp = [p for v in result["per_lang"].values() for p in v]
        cells.append(f"{sum(p[0] for p in allp) / len(allp):.0%} / {sum(p[1] for p in allp) / len(allp):.0%}")
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {statistics.median(result['ms']):.1f} |")
        dists[label] = result
    langs = sorted(dists["hybrid (bot)"]["per_lang"])
    lines = [
        f"KB retrieval, recall@1 / recall@3 per language ({os.cpu_count()} CPUs; "
        f"{len(questions)} labelled questions, model {Path(base.model).name})",
        "",
        "| method | " + " | ".join(langs) + " | all | median ms/query |",
        "|---|" + "---|" * (len(langs) + 2),
        *rows,
        "",
    ]
    h = dists["hybrid (bot)"]
    def q(xs: list[float], p: float) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    lines += [
        "Hybrid top-1 score when right vs wrong (for the thresholds in supportbot.yml):",
        f"right n={len(h['right'])}: p10 {q(h['right'], .1):.3f}, median {q(h['right'], .5):.3f}; "
        f"wrong n={len(h['wrong'])}: median {q(h['wrong'], .5):.3f}, p90 {q(h['wrong'], .9):.3f}; "
        f"answer_threshold {base.answer_threshold}, suggest_threshold {base.suggest_threshold}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
