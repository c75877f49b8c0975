"""Out-of-scope detection on BANKING77-OOS, and BANKING77 full accuracy, old vs new head.

BANKING77-OOS (Zhang et al. 2021; /work/shared/data/banking77-oos, ``$BANKING77_OOS_DIR``):
train on ``train/`` only (50 intents, **no** out-of-scope examples); the threshold is
fitted automatically at train time (held-out folds of train/, target 5 % false
fallbacks); scored on ``test/`` (in-scope accuracy, false-fallback rate), ``id-oos/test``
(banking questions of the 27 left-out intents) and ``ood-oos/valid`` (general questions).
``valid/`` and ``id-oos/valid`` are used only by ``--tune`` (choosing ``c`` and the
score), never for a reported figure. Every split is embedded as released (lower-cased).

Variants, all in one run on the same cached e5 vectors (bench/e5cache.py):

- ``old``: the pipeline shipped before: Rasa's LogisticRegressionClassifier on e5
  vectors (sklearn defaults it uses: C=1, class_weight balanced) + FallbackClassifier
  threshold 0.45 on the top probability; emulated with sklearn outside Rasa.
- ``new-*``: :class:`bot.nlu.intent_model.IntentModel`, the model inside
  bot.nlu.intent_classifier.CalibratedIntentClassifier (the same code), with each
  out-of-scope score.

Also BANKING77 full (10,003 / 3,080): accuracy, train time (fit + calibration folds;
embedding time is separate, it is the featurizer's), parse latency of the head per
message, and peak RSS of this process. Writes bench/results/oos.md, oos.json and
oos.png (trade-off curves). Runs in the Rasa environment::

    .venv-rasa/bin/python bench/oos.py
    .venv-rasa/bin/python bench/oos.py --tune    # c and score on valid/ (not reported)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, stamp
from bench.e5cache import embed
from bot.nlu.intent_model import IntentModel, ModelSettings, normalise

OOS_DIR = Path(os.environ.get("BANKING77_OOS_DIR", "/work/shared/data/banking77-oos"))
B77_DIR = Path(os.environ.get("BANKING77_DIR", "/work/shared/data/banking77"))
OLD_THRESHOLD = 0.45
TARGET = 0.05


def _clean(text: str) -> str:
    return " ".join(text.split())


def read_split(name: str) -> tuple[list[str], list[str]]:
    folder = OOS_DIR / name
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} not found; set BANKING77_OOS_DIR")
    texts = [_clean(t) for t in (folder / "seq.in").read_text("utf-8").splitlines()]
    labels = (folder / "label").read_text("utf-8").splitlines()
    return texts, labels


def read_b77(split: str) -> tuple[list[str], list[str]]:
    with (B77_DIR / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [_clean(r["text"]) for r in rows], [r["category"] for r in rows]


@dataclass
class Scored:
    """One variant on one evaluation: best intent, OOS score, threshold."""

    best: list[str]
    scores: np.ndarray
    threshold: float


class OldHead:
    """LogisticRegressionClassifier (C=1, balanced) + FallbackClassifier 0.45."""

    def __init__(self, x: np.ndarray, y: list[str]) -> None:
        from sklearn.linear_model import LogisticRegression

        # Rasa scales e5 by sqrt(384) ("unit") before its classifier; so do we.
        self.clf = LogisticRegression(max_iter=1000, class_weight="balanced")
        self.clf.fit(normalise(x) * np.sqrt(x.shape[1]), y)

    def score(self, x: np.ndarray, texts: list[str], langs: list[str]) -> Scored:
        probs = self.clf.predict_proba(normalise(x) * np.sqrt(x.shape[1]))
        best = [str(self.clf.classes_[i]) for i in probs.argmax(axis=1)]
        return Scored(best, probs.max(axis=1), OLD_THRESHOLD)


class NewHead:
    def __init__(
        self, x: np.ndarray, texts: list[str], y: list[str], settings: ModelSettings
    ) -> None:
        self.model = IntentModel.train(x, texts, y, ["en"] * len(y), settings)

    def score(self, x: np.ndarray, texts: list[str], langs: list[str]) -> Scored:
        probs, scores = self.model.scores(x, texts)
        best = [self.model.head.labels[i] for i in probs.argmax(axis=1)]
        return Scored(best, scores, self.model.calibration.threshold("en"))


def variants() -> dict[str, ModelSettings | None]:
    base = ModelSettings(target_fallback_rate=TARGET)
    return {
        "old": None,
        "new-probability": replace(base, score="probability"),
        "new-nearest": base,
        "new-blend": replace(base, score="blend"),
    }


def train(
    name: str, settings: ModelSettings | None, x: np.ndarray, texts: list[str], y: list[str]
) -> tuple[Any, float]:
    start = time.perf_counter()
    head = OldHead(x, y) if settings is None else NewHead(x, texts, y, settings)
    return head, time.perf_counter() - start


def oos_table(
    vectors: dict[str, np.ndarray],
    data: dict[str, tuple[list[str], list[str]]],
    curves: dict[str, Any],
) -> list[dict[str, Any]]:
    rows = []
    tr_texts, tr_y = data["train"]
    te_texts, te_y = data["test"]
    for name, settings in variants().items():
        print(f"[{stamp()}] OOS: {name}", flush=True)
        head, seconds = train(name, settings, vectors["train"], tr_texts, tr_y)
        ins = head.score(vectors["test"], te_texts, ["en"] * len(te_y))
        idd = head.score(vectors["id-oos/test"], data["id-oos/test"][0], [])
        ood = head.score(vectors["ood-oos/valid"], data["ood-oos/valid"][0], [])
        t = ins.threshold
        accepted = ins.scores >= t
        right = np.array([b == g for b, g in zip(ins.best, te_y, strict=True)])
        rows.append(
            {
                "variant": name,
                "threshold": round(float(t), 4),
                "accuracy": float(right.mean()),
                "false_fallback": float(1 - accepted.mean()),
                "answered_correctly": float((right & accepted).mean()),
                "id_oos_recall": float((idd.scores < t).mean()),
                "ood_oos_recall": float((ood.scores < t).mean()),
                "train_s": round(seconds, 1),
            }
        )
        # trade-off curve: every threshold, false fallbacks vs OOS recall
        grid = np.unique(np.quantile(ins.scores, np.linspace(0, 0.5, 101)))
        curves[name] = {
            "false_fallback": [float((ins.scores < g).mean()) for g in grid],
            "id": [float((idd.scores < g).mean()) for g in grid],
            "ood": [float((ood.scores < g).mean()) for g in grid],
            "chosen": [
                rows[-1]["false_fallback"],
                rows[-1]["id_oos_recall"],
                rows[-1]["ood_oos_recall"],
            ],
        }
        print(f"  {rows[-1]}", flush=True)
    return rows


def b77_table() -> list[dict[str, Any]]:
    tr_texts, tr_y = read_b77("train")
    te_texts, te_y = read_b77("test")
    x_tr, x_te = embed(tr_texts, "BANKING77 train"), embed(te_texts, "BANKING77 test")
    rows = []
    for name in ("old", "new-nearest"):
        settings = variants()[name]
        print(f"[{stamp()}] BANKING77: {name}", flush=True)
        head, seconds = train(name, settings, x_tr, tr_texts, tr_y)
        start = time.perf_counter()
        per_message = []
        for i in range(0, 300):  # latency: one message at a time, as the server parses
            t0 = time.perf_counter()
            head.score(x_te[i : i + 1], te_texts[i : i + 1], ["en"])
            per_message.append(time.perf_counter() - t0)
        scored = head.score(x_te, te_texts, ["en"] * len(te_y))
        right = np.array([b == g for b, g in zip(scored.best, te_y, strict=True)])
        accepted = scored.scores >= scored.threshold
        rows.append(
            {
                "variant": name,
                "accuracy": float(right.mean()),
                "answered_correctly": float((right & accepted).mean()),
                "fallback": float(1 - accepted.mean()),
                "train_s": round(seconds, 1),
                "head_ms_p50": round(1000 * float(np.percentile(per_message, 50)), 2),
                "head_ms_p95": round(1000 * float(np.percentile(per_message, 95)), 2),
                "eval_s": round(time.perf_counter() - start, 1),
            }
        )
        print(f"  {rows[-1]}", flush=True)
    return rows


def tune(vectors: dict[str, np.ndarray], data: dict[str, tuple[list[str], list[str]]]) -> None:
    """c and score chosen on valid/ + id-oos/valid (never on a reported split)."""
    tr_texts, tr_y = data["train"]
    va_texts, va_y = data["valid"]
    for c in (ModelSettings().c,):
        for score in ("probability", "nearest", "blend"):
            settings = ModelSettings(c=c, score=score)
            head = NewHead(vectors["train"], tr_texts, tr_y, settings)
            ins = head.score(vectors["valid"], va_texts, [])
            idd = head.score(vectors["id-oos/valid"], data["id-oos/valid"][0], [])
            acc = np.mean([b == g for b, g in zip(ins.best, va_y, strict=True)])
            print(
                f"c={c:g} score={score}: valid accuracy {acc:.4f}, false fallback "
                f"{(ins.scores < ins.threshold).mean():.3f}, id-oos/valid recall "
                f"{(idd.scores < ins.threshold).mean():.3f}",
                flush=True,
            )


def plot(curves: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, title in (
        (axes[0], "id", "id-oos/test (banking, unserved)"),
        (axes[1], "ood", "ood-oos/valid (general)"),
    ):
        for name, curve in curves.items():
            ax.plot(np.array(curve["false_fallback"]) * 100, np.array(curve[key]) * 100, label=name)
            ff, idr, oodr = curve["chosen"]
            ax.scatter([ff * 100], [(idr if key == "id" else oodr) * 100], s=25)
        ax.axvline(5, color="grey", linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("in-scope messages that fall back (%)")
        ax.set_xlim(0, 30)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("out-of-scope messages caught (%)")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle("BANKING77-OOS: trained on train/ only; dots = calibrated thresholds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(record: dict[str, Any]) -> str:
    m = record["machine"]
    lines = [
        "# Intent model: BANKING77 and BANKING77-OOS (old vs new head, one run)",
        "",
        f"`bench/oos.py`, {m['cpus']} CPUs, {m['date']}, load {m['load_at_start']:.1f} at "
        "start (a machine shared with other jobs: times are upper bounds). Same cached e5 "
        "vectors for every variant; *old* emulates LogisticRegressionClassifier + "
        "FallbackClassifier 0.45 with sklearn; *new-\\** is bot.nlu.intent_model (the "
        "code inside CalibratedIntentClassifier). Thresholds of *new* are fitted at train "
        "time on 4 held-out folds of the training set (target 5 % false fallbacks). "
        "Every split embedded as released (lower-cased).",
        "",
        "## BANKING77-OOS (train on train/ only: 50 intents, 5,905 examples, no OOS)",
        "",
        "| variant | threshold | in-scope accuracy | false fallbacks (test) | answered right "
        "| OOS recall id-oos/test | OOS recall ood-oos/valid | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in record["oos"]:
        lines.append(
            f"| {r['variant']} | {r['threshold']:.3f} | {pct(r['accuracy'])} | "
            f"{pct(r['false_fallback'])} | {pct(r['answered_correctly'])} | "
            f"{pct(r['id_oos_recall'])} | {pct(r['ood_oos_recall'])} | {r['train_s']:.0f} |"
        )
    lines += ["", "Trade-off curves: `bench/results/oos.png`.", ""]
    if record.get("b77"):
        lines += [
            "## BANKING77 full (10,003 train / 3,080 test)",
            "",
            "| variant | accuracy | answered right | fallback | train s (fit + calibration) "
            "| head ms/msg p50 / p95 |",
            "|---|---|---|---|---|---|",
        ]
        for r in record["b77"]:
            lines.append(
                f"| {r['variant']} | **{pct(r['accuracy'])}** | {pct(r['answered_correctly'])}"
                f" | {pct(r['fallback'])} | {r['train_s']:.0f} | {r['head_ms_p50']:.2f} / "
                f"{r['head_ms_p95']:.2f} |"
            )
        lines += [
            "",
            f"Peak RSS of the benchmark process: {record['peak_rss_mib']} MiB. Parse latency "
            "of a whole message adds the e5 featurizer (~8-10 ms on an idle core, "
            "bench/results/latency.md).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", action="store_true", help="choose c/score on valid/")
    parser.add_argument("--skip-b77", action="store_true", help="only BANKING77-OOS")
    args = parser.parse_args(argv)
    context = machine()
    splits = ["train", "valid", "test", "id-oos/valid", "id-oos/test", "ood-oos/valid"]
    data = {s: read_split(s) for s in splits}
    vectors = {s: embed(data[s][0], s) for s in splits}
    if args.tune:
        tune(vectors, data)
        return 0
    curves: dict[str, Any] = {}
    record: dict[str, Any] = {"machine": context, "oos": oos_table(vectors, data, curves)}
    if not args.skip_b77:
        record["b77"] = b77_table()
    record["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(curves, RESULTS / "oos.png")
    (RESULTS / "oos.json").write_text(json.dumps({**record, "curves": curves}, indent=1))
    (RESULTS / "oos.md").write_text(report(record), encoding="utf-8")
    print((RESULTS / "oos.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
