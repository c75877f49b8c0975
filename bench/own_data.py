"""Intent model on our own data (data/nlu en/ar/sl): held-out, cross-lingual, unseen intents.

Three experiments, old head vs new head side by side in one run, on the same cached e5
vectors (bench/e5cache.py; the heads are those of bench/oos.py):

1. **held-out**: 20 % of each (language, intent) held out (seed 77, bench/banking77.py's
   split), one multilingual model trained on the rest; accuracy per language and what
   the bot answers (a fallback counts as wrong).
2. **cross-lingual**: trained on one language only, tested on the other two (all their
   examples): does the multilingual model carry an intent to a language with no data?
3. **leave-intents-out**: 3 intents removed from training (chosen with a seeded draw
   among intents that are not small talk, repeated over 3 draws); their messages must fall
   back (recall), the others' held-out messages must still be answered right.

Writes bench/results/own_data.md and own_data.json. Runs in the Rasa environment::

    .venv-rasa/bin/python bench/own_data.py
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.banking77 import PROJECT_LANGUAGES, load_project, split_project
from bench.common import RESULTS, machine, stamp
from bench.e5cache import embed
from bench.oos import NewHead, OldHead
from bot.nlu.intent_model import ModelSettings

Row = tuple[str, str, str]
#: Not drawn for leave-out: small talk and conversation control, which no bot lacks.
SMALL_TALK = {
    "greet",
    "goodbye",
    "affirm",
    "deny",
    "thanks",
    "bot_challenge",
    "out_of_scope",
    "csat_score",
    "not_helpful",
    "request_human",
}
#: What the bot does with a message it should not serve: fall back, or recognise it as
#: the editors' out_of_scope intent (utter_out_of_scope); both are right for unseen intents.
DECLINED = "out_of_scope"
DRAWS = 3


def heads(sparse: bool = False) -> dict[str, ModelSettings | None]:
    """old vs new; ``sparse`` adds new + char/word n-grams (slow: held-out only)."""
    base = ModelSettings()
    chosen: dict[str, ModelSettings | None] = {"old": None, "new": base}
    if sparse:
        chosen["new+char/word"] = replace(base, char_ngrams=(2, 5), word_ngrams=(1, 2))
    return chosen


def fit(settings: ModelSettings | None, x: np.ndarray, rows: list[Row]) -> Any:
    texts = [r[0] for r in rows]
    labels = [r[1] for r in rows]
    if settings is None:
        return OldHead(x, labels)
    head = NewHead.__new__(NewHead)
    from bot.nlu.intent_model import IntentModel

    head.model = IntentModel.train(x, texts, labels, [r[2] for r in rows], settings)
    return head


def outcomes(head: Any, x: np.ndarray, rows: list[Row]) -> tuple[np.ndarray, np.ndarray]:
    """(best intent right, message accepted) per row, thresholds per row's language."""
    best, accepted = predicted(head, x, rows)
    right = np.array([b == r[1] for b, r in zip(best, rows, strict=True)])
    return right, accepted


def predicted(head: Any, x: np.ndarray, rows: list[Row]) -> tuple[list[str], np.ndarray]:
    """(best intent, message accepted) per row, thresholds per row's language."""
    texts = [r[0] for r in rows]
    if isinstance(head, OldHead):
        scored = head.score(x, texts, [])
        accepted = scored.scores >= scored.threshold
        best = scored.best
    else:
        predictions = head.model.predict(x, texts, [r[2] for r in rows])
        best = [p.ranking[0][0] for p in predictions]
        accepted = np.array([p.in_scope for p in predictions])
    return best, accepted


def held_out(x: dict[Row, np.ndarray], rows: list[Row]) -> list[dict[str, Any]]:
    train, test = split_project(rows)
    out = []
    for name, settings in heads(sparse=True).items():
        print(f"[{stamp()}] held-out: {name}", flush=True)
        start = time.perf_counter()
        head = fit(settings, np.vstack([x[r] for r in train]), train)
        seconds = time.perf_counter() - start
        right, accepted = outcomes(head, np.vstack([x[r] for r in test]), test)
        record: dict[str, Any] = {"variant": name, "train_s": round(seconds, 1)}
        for lang in PROJECT_LANGUAGES:
            idx = [i for i, r in enumerate(test) if r[2] == lang]
            record[lang] = {
                "n": len(idx),
                "accuracy": float(right[idx].mean()),
                "answered_right": float((right & accepted)[idx].mean()),
                "fallback": float(1 - accepted[idx].mean()),
            }
        if name != "old":
            record["thresholds"] = head.model.calibration.thresholds
        out.append(record)
        print(f"  {record}", flush=True)
    return out


def cross_lingual(x: dict[Row, np.ndarray], rows: list[Row]) -> list[dict[str, Any]]:
    out = []
    for name, settings in heads().items():
        for source in PROJECT_LANGUAGES:
            print(f"[{stamp()}] cross-lingual: {name} from {source}", flush=True)
            train = [r for r in rows if r[2] == source]
            intents = {r[1] for r in train}
            head = fit(settings, np.vstack([x[r] for r in train]), train)
            record: dict[str, Any] = {"variant": name, "trained_on": source}
            for target in PROJECT_LANGUAGES:
                if target == source:
                    continue
                test = [r for r in rows if r[2] == target and r[1] in intents]
                right, accepted = outcomes(head, np.vstack([x[r] for r in test]), test)
                record[target] = {
                    "n": len(test),
                    "accuracy": float(right.mean()),
                    "answered_right": float((right & accepted).mean()),
                }
            out.append(record)
            print(f"  {record}", flush=True)
    return out


def leave_out(x: dict[Row, np.ndarray], rows: list[Row]) -> list[dict[str, Any]]:
    train, test = split_project(rows)
    candidates = sorted({r[1] for r in rows} - SMALL_TALK)
    out = []
    for name, settings in heads().items():
        unseen_recall, kept_right, kept_accuracy, draws = [], [], [], []
        for draw in range(DRAWS):
            left = sorted(random.Random(draw).sample(candidates, 3))
            fit_rows = [r for r in train if r[1] not in left]
            print(f"[{stamp()}] leave-out: {name} without {left}", flush=True)
            head = fit(settings, np.vstack([x[r] for r in fit_rows]), fit_rows)
            unseen = [r for r in rows if r[1] in left]
            best, accepted = predicted(head, np.vstack([x[r] for r in unseen]), unseen)
            declined = ~accepted | np.array([b == DECLINED for b in best])
            unseen_recall.append(float(declined.mean()))
            kept = [r for r in test if r[1] not in left]
            right, ok = outcomes(head, np.vstack([x[r] for r in kept]), kept)
            kept_right.append(float((right & ok).mean()))
            kept_accuracy.append(float(right.mean()))
            draws.append(left)
        record = {
            "variant": name,
            "left_out": draws,
            "unseen_fall_back": float(np.mean(unseen_recall)),
            "others_answered_right": float(np.mean(kept_right)),
            "others_accuracy": float(np.mean(kept_accuracy)),
        }
        out.append(record)
        print(f"  {record}", flush=True)
    return out


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def report(record: dict[str, Any]) -> str:
    m = record["machine"]
    lines = [
        "# Intent model on our own data (data/nlu en/ar/sl), old vs new head, one run",
        "",
        f"`bench/own_data.py`, {m['cpus']} CPUs, {m['date']}, load {m['load_at_start']:.1f} "
        f"at start; {record['examples']} examples, {record['intents']} intents. *old*: "
        "LogisticRegressionClassifier + FallbackClassifier 0.45 (emulated); *new*: "
        "bot.nlu.intent_model with per-language thresholds (target 5 % false fallbacks). "
        "*answered right*: the bot's answer is the right intent (a fallback is wrong). "
        "About 127 test messages per language: one message is 0.8 points.",
        "",
        "## Held out: 20 % per language and intent (seed 77)",
        "",
        "| variant | "
        + " | ".join(f"{lang} accuracy / answered right / fallback" for lang in PROJECT_LANGUAGES)
        + " | train s |",
        "|---|" + "---|" * (len(PROJECT_LANGUAGES) + 1),
    ]
    for r in record["held_out"]:
        cells = [
            f"**{pct(r[lang]['accuracy'])}** / {pct(r[lang]['answered_right'])} / "
            f"{pct(r[lang]['fallback'])} (n={r[lang]['n']})"
            for lang in PROJECT_LANGUAGES
        ]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + f" | {r['train_s']:.0f} |")
    lines += [
        "",
        "## Cross-lingual: trained on one language, tested on the other two",
        "",
        "| variant | trained on | tested on: accuracy / answered right |",
        "|---|---|---|",
    ]
    for r in record["cross_lingual"]:
        cells = [
            f"{lang} **{pct(r[lang]['accuracy'])}** / {pct(r[lang]['answered_right'])}"
            f" (n={r[lang]['n']})"
            for lang in PROJECT_LANGUAGES
            if lang in r
        ]
        lines.append(f"| {r['variant']} | {r['trained_on']} | " + "; ".join(cells) + " |")
    lines += [
        "",
        f"## Leave 3 intents out ({DRAWS} seeded draws among non-small-talk intents, mean)",
        "",
        "| variant | unseen intents' messages that fall back (or out_of_scope) | others: "
        "accuracy / "
        "answered right |",
        "|---|---|---|",
    ]
    for r in record["leave_out"]:
        lines.append(
            f"| {r['variant']} | **{pct(r['unseen_fall_back'])}** | "
            f"{pct(r['others_accuracy'])} / {pct(r['others_answered_right'])} |"
        )
    draws = record["leave_out"][0]["left_out"] if record["leave_out"] else []
    lines += ["", "Intents left out: " + "; ".join(", ".join(d) for d in draws)]
    return "\n".join(lines) + "\n"


def main() -> int:
    context = machine()
    rows = sorted(set(load_project()))
    vectors = embed([r[0] for r in rows], "own data")
    x = {r: v for r, v in zip(rows, vectors, strict=True)}
    record: dict[str, Any] = {
        "machine": context,
        "examples": len(rows),
        "intents": len({r[1] for r in rows}),
        "held_out": [],
        "cross_lingual": [],
        "leave_out": [],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for part, run in (
        ("cross_lingual", cross_lingual),
        ("leave_out", leave_out),
        ("held_out", held_out),
    ):
        record[part] = run(x, rows)
        # written after each part: a long run stopped early keeps what it measured
        (RESULTS / "own_data.json").write_text(json.dumps(record, indent=1, ensure_ascii=False))
        (RESULTS / "own_data.md").write_text(report(record), encoding="utf-8")
    print((RESULTS / "own_data.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
