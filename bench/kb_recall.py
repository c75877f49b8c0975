"""KB retrieval quality: recall@1 and recall@3 per language on labelled questions.

Compares dense only (multilingual e5), lexical only (BM25) and the hybrid the bot uses,
on bench/data/kb_questions.yml (paraphrased questions written apart from the articles),
and prints the score distribution of right vs wrong top hits, which is what the answer
and suggest thresholds in supportbot.yml are calibrated on.

    .venv/bin/python bench/kb_recall.py [--out bench/results/kb_recall.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import stamp  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from kb_index.evaluation import evaluate  # noqa: E402  (shared with `bot evaluate`)
from kb_index.retriever import KBSettings, KnowledgeBase, build_index  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results" / "kb_recall.md")
    )
    args = parser.parse_args()
    header = stamp()
    questions = yaml.safe_load((ROOT / "bench/data/kb_questions.yml").read_text())[
        "questions"
    ]
    base = KBSettings.from_settings(load_settings())
    build_index(base)
    embedder = base.embedder()
    rows = []
    dists = {}
    for label, weight in (
        ("dense (e5)", 0.0),
        ("lexical (BM25)", 1.0),
        ("hybrid (bot)", base.lexical_weight),
    ):
        kb = KnowledgeBase(replace(base, lexical_weight=weight), embedder=embedder)
        result = evaluate(kb, questions)
        cells = []
        for lang in sorted(result["per_lang"]):
            pairs = result["per_lang"][lang]
            r1 = sum(p[0] for p in pairs) / len(pairs)
            r3 = sum(p[1] for p in pairs) / len(pairs)
            cells.append(f"{r1:.0%} / {r3:.0%} (n={len(pairs)})")
        allp = [p for v in result["per_lang"].values() for p in v]
        all1 = sum(p[0] for p in allp) / len(allp)
        all3 = sum(p[1] for p in allp) / len(allp)
        cells.append(f"{all1:.0%} / {all3:.0%}")
        rows.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | {statistics.median(result['ms']):.1f} |"
        )
        dists[label] = result
    langs = sorted(dists["hybrid (bot)"]["per_lang"])
    lines = [
        "# KB retrieval, recall@1 / recall@3 per language",
        "",
        f"{header}; {len(questions)} labelled questions, model "
        f"{Path(base.model).name}.",
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
        "Hybrid top-1 score when right vs wrong (the thresholds in supportbot.yml):",
        f"right n={len(h['right'])}: p10 {q(h['right'], 0.1):.3f}, "
        f"median {q(h['right'], 0.5):.3f}; "
        f"wrong n={len(h['wrong'])}: median {q(h['wrong'], 0.5):.3f}, "
        f"p90 {q(h['wrong'], 0.9):.3f}; answer_threshold {base.answer_threshold}, "
        f"suggest_threshold {base.suggest_threshold}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
