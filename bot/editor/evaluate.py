"""``bot evaluate``: per-language NLU quality and KB recall, a report, and a quality gate.

1. Every example of data/nlu is split per (language, intent), stratified and seeded
   (``evaluation.test_fraction``, ``evaluation.seed``), or into k folds
   (``evaluation.folds``). The same split on the same data, so runs compare.
2. The Rasa worker trains config.yml's NLU pipeline on the training part (all languages
   together, as the bot is trained) and parses every held-out example.
3. Per language: intent accuracy, macro F1, the most frequent confusions, the fallback
   rate (share of messages the FallbackClassifier would not trust) and, from the
   labelled questions file, KB recall@1/@3 (:mod:`kb_index.evaluation`).
4. ``reports/evaluation/<UTC time>/`` gets report.json, report.md and confusion.png,
   compared with ``reports/evaluation/accepted.json``; ``--gate`` fails when a language's
   accuracy or macro F1 fell by more than ``evaluation.margin``; ``--accept`` promotes a
   report to be the new accepted one.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.editor import metrics
from bot.editor.nludata import Example, load_nlu
from bot.editor.problems import display_path
from bot.editor.validate import Project
from bot.editor.worker import run_worker
from bot.errors import SupportBotError
from bot.settings import Settings

Say = Callable[[str], None]
ACCEPTED = "accepted.json"
METRICS_GATED = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class EvaluationSettings:
    """The ``evaluation:`` section of supportbot.yml, validated."""

    test_fraction: float = 0.2
    seed: int = 42
    folds: int = 0
    margin: float = 0.02
    kb_questions: Path | None = None
    reports: Path = Path("reports/evaluation")

    KEYS = ("test_fraction", "seed", "folds", "margin", "kb_questions", "reports")

    @classmethod
    def from_settings(cls, settings: Settings) -> EvaluationSettings:
        section = settings.section("evaluation", required=False)
        for key in section.data:
            if key not in cls.KEYS:
                raise section.error(
                    str(key), "unknown key", f"use one of: {', '.join(cls.KEYS)}"
                )
        fraction = section.get("test_fraction", 0.2)
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, int | float)
            or not (0.0 < float(fraction) < 1.0)
        ):
            raise section.error(
                "test_fraction",
                f"must be between 0 and 1, got {fraction!r}",
                "0.2 holds out a fifth of each intent's examples",
            )
        seed = section.get("seed", 42)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise section.error("seed", f"must be a whole number, got {seed!r}")
        folds = section.get("folds", 0)
        if (
            isinstance(folds, bool)
            or not isinstance(folds, int)
            or folds < 0
            or folds == 1
        ):
            raise section.error(
                "folds", f"must be 0 (held-out split) or 2 or more, got {folds!r}"
            )
        margin = section.get("margin", 0.02)
        if (
            isinstance(margin, bool)
            or not isinstance(margin, int | float)
            or not (0.0 <= float(margin) < 1.0)
        ):
            raise section.error(
                "margin",
                f"must be a fraction between 0 and 1, got {margin!r}",
                "0.02 allows a drop of 2 points",
            )
        questions = (
            section.path("kb_questions") if section.get("kb_questions") else None
        )
        return cls(
            test_fraction=float(fraction),
            seed=seed,
            folds=folds,
            margin=float(margin),
            kb_questions=questions,
            reports=section.path("reports", "reports/evaluation"),
        )


# --- NLU -------------------------------------------------------------------------------


def nlu_training_yaml(examples: Sequence[Example]) -> str:
    """Rasa's NLU YAML for ``examples`` (one literal block per intent)."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for ex in examples:
        by_intent[ex.intent].append(ex.text)
    lines = ['version: "3.1"', "nlu:"]
    for intent in sorted(by_intent):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in by_intent[intent]]
    return "\n".join(lines) + "\n"


def plan_runs(
    examples: Sequence[Example], settings: EvaluationSettings
) -> list[tuple[list[Example], list[Example]]]:
    """(train, test) per run: one held-out split, or one run per fold."""

    def key(e: Example) -> tuple[str, str]:
        return (e.language, e.intent)

    if settings.folds >= 2:
        parts = metrics.stratified_folds(examples, key, settings.folds, settings.seed)
        return [
            ([e for j, p in enumerate(parts) if j != i for e in p], parts[i])
            for i in range(len(parts))
        ]
    return [
        metrics.stratified_split(examples, key, settings.test_fraction, settings.seed)
    ]


def predict_nlu(
    project: Project,
    runs: Sequence[tuple[list[Example], list[Example]]],
    *,
    epochs: int | None,
    say: Say,
) -> tuple[list[tuple[Example, dict[str, Any]]], float, list[dict[str, Any] | None]]:
    """Train and predict in the Rasa worker.

    Returns (example, prediction) pairs, train seconds, and each run's out-of-scope
    calibration as the trained model stored it (None without CalibratedIntentClassifier).
    """
    with tempfile.TemporaryDirectory(prefix="bot-evaluate-") as tmp:
        folder = Path(tmp)
        job_runs = []
        for number, (train, test) in enumerate(runs, 1):
            path = folder / f"train{number}.yml"
            path.write_text(nlu_training_yaml(train), encoding="utf-8")
            job_runs.append({"train": str(path), "test": [e.text for e in test]})
        out = folder / "predictions.json"
        job = {
            "config": str(project.config),
            "epochs": epochs,
            "runs": job_runs,
            "out": str(out),
        }
        (folder / "job.json").write_text(
            json.dumps(job, ensure_ascii=False), encoding="utf-8"
        )

        def on_event(event: dict[str, Any]) -> None:
            if event["event"] == "training":
                say(f"  training NLU model {event['run']}/{event['runs']} ...")
            elif event["event"] == "predicting":
                say(f"  classifying {event['texts']} held-out examples ...")

        run_worker(
            ["nlu-eval", str(folder / "job.json")],
            on_event=on_event,
            say=say,
            label="training",
            rasa_python=project.rasa_python,
            cwd=project.root,
            env={"RASA_CACHE_DIRECTORY": str(folder / "cache")},
        )
        result = json.loads(out.read_text(encoding="utf-8"))
    pairs = []
    seconds = 0.0
    for (_, test), run in zip(runs, result["runs"], strict=True):
        pairs += list(zip(test, run["predictions"], strict=True))
        seconds += run["train_seconds"]
    return pairs, seconds, [run.get("calibration") for run in result["runs"]]


def language_metrics(
    pairs: Sequence[tuple[Example, Mapping[str, Any]]],
) -> dict[str, Any]:
    """Per language: accuracy, macro F1, fallback rate, confusions, confusion matrix."""
    by_lang: dict[str, list[tuple[Example, Mapping[str, Any]]]] = defaultdict(list)
    for example, prediction in pairs:
        by_lang[example.language].append((example, prediction))
    out = {}
    for lang in sorted(by_lang):
        true = [e.intent for e, _ in by_lang[lang]]
        predicted = [p.get("intent") for _, p in by_lang[lang]]
        scores = metrics.classification_metrics(true, predicted)
        labels, matrix = metrics.confusion_matrix(true, predicted)
        out[lang] = {
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "fallback_rate": sum(bool(p.get("fallback")) for _, p in by_lang[lang])
            / len(by_lang[lang]),
            "examples_tested": scores["n"],
            "confusions": metrics.confusion_pairs(true, predicted),
            "per_intent": scores["per_intent"],
            "matrix": {"labels": labels, "matrix": matrix},
        }
    return out


# --- KB --------------------------------------------------------------------------------


def kb_recall(settings: Settings, questions_file: Path, say: Say) -> dict[str, Any]:
    """Recall@1/@3 per language with the bot's own retriever and index."""
    from kb_index.evaluation import (
        evaluate,
        load_questions,
        misses_by_language,
        recall_by_language,
    )
    from kb_index.retriever import KBSettings, KnowledgeBase

    questions = load_questions(questions_file)
    say(f"searching the knowledge base for {len(questions)} labelled questions ...")
    kb = KnowledgeBase(KBSettings.from_settings(settings))
    kb.warm_up()  # a stale index fails here, naming the command that rebuilds it
    result = evaluate(kb, questions)
    recall: dict[str, Any] = recall_by_language(result)
    for lang, misses in misses_by_language(result).items():
        recall.setdefault(lang, {})["misses"] = misses
    return recall


def kb_misses_markdown(report: Mapping[str, Any]) -> list[str]:
    """Report lines: per language, the KB questions whose right article was not first.

    Editors read which article won instead; ``bot review --attach`` turns such a
    question into a front-matter question of the right article.
    """
    lines = ["## Knowledge-base questions whose right article was not first", ""]
    found = False
    for lang, v in sorted(report.get("languages", {}).items()):
        misses = (v.get("kb") or {}).get("misses") or []
        if not misses:
            continue
        found = True
        lines += [f"### {lang} ({len(misses)})", "", "| question | right article | won |",
                  "|---|---|---|"]
        lines += [f"| {m['text']} | {m['article']} | {m['winner'] or '–'} |" for m in misses]
        lines.append("")
    if not found:
        lines += ["None: every labelled question found its article first.", ""]
    return lines


# --- the report ------------------------------------------------------------------------


def evaluate_project(
    project: Project,
    settings: Settings,
    evaluation: EvaluationSettings,
    *,
    epochs: int | None = None,
    with_kb: bool = True,
    say: Say = print,
) -> dict[str, Any]:
    """Run the whole evaluation and return the report (not yet written)."""
    nlu = load_nlu(project.nlu_dir)
    if nlu.problems:
        raise SupportBotError(
            f"{nlu.problems[0].render()}\n(run `python -m bot validate` first)"
        )
    examples = [e for e in nlu.examples if e.language in project.languages]
    if not examples:
        raise SupportBotError(
            f"{display_path(project.nlu_dir)}: no NLU examples to evaluate"
        )
    runs = plan_runs(examples, evaluation)
    tested = sum(len(test) for _, test in runs)
    how = (
        f"{evaluation.folds}-fold cross-validation"
        if evaluation.folds >= 2
        else f"held-out split: {tested} of {len(examples)} examples "
        f"({evaluation.test_fraction:.0%} per intent and language, seed {evaluation.seed})"
    )
    say(f"NLU: {how}")
    pairs, train_seconds, calibrations = predict_nlu(project, runs, epochs=epochs, say=say)
    languages = language_metrics(pairs)
    kb: dict[str, Any] = {}
    if with_kb and evaluation.kb_questions is not None:
        kb = kb_recall(settings, evaluation.kb_questions, say)
    for lang, values in kb.items():
        languages.setdefault(lang, {})["kb"] = values
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": {
            "folds": evaluation.folds,
            "test_fraction": evaluation.test_fraction,
            "seed": evaluation.seed,
            "epochs_override": epochs,
            "examples": len(examples),
            "tested": tested,
            "intents": len({e.intent for e in examples}),
        },
        "train_seconds": round(train_seconds, 1),
        "languages": languages,
        "calibration": intent_calibration(pairs, calibrations),
    }


def intent_calibration(
    pairs: Sequence[tuple[Example, Mapping[str, Any]]],
    calibrations: Sequence[Mapping[str, Any] | None],
) -> dict[str, Any]:
    """The out-of-scope thresholds per language and their rates, fitted vs measured.

    *fitted*: what the model measured on its own held-out training folds when it set
    the threshold (the last run's model); *measured*: the share of this evaluation's
    held-out in-scope examples that fell back. {} for a pipeline without
    CalibratedIntentClassifier.
    """
    stored = [c for c in calibrations if c]
    if not stored:
        return {}
    last = stored[-1]
    fell: dict[str, list[bool]] = defaultdict(list)
    for example, prediction in pairs:
        fell[example.language].append(bool(prediction.get("fallback")))
    languages = {}
    for lang in sorted(set(last.get("thresholds", {})) | set(fell)):
        key = lang if lang in last.get("thresholds", {}) else "*"
        fitted = last.get("measured", {}).get(key, {})
        languages[lang] = {
            "threshold": last.get("thresholds", {}).get(key),
            "pooled": key != lang,
            "fitted_false_fallback_rate": fitted.get("false_fallback_rate"),
            "held_out_fallback_rate": (
                sum(fell[lang]) / len(fell[lang]) if fell.get(lang) else None
            ),
        }
    return {"target": last.get("target"), "languages": languages}


def render_calibration(calibration: Mapping[str, Any]) -> list[str]:
    """The report's out-of-scope section (empty without a calibrated classifier)."""
    if not calibration:
        return []

    def rate(value: float | None) -> str:
        return "–" if value is None else f"{value:.1%}"

    lines = [
        f"## Out-of-scope thresholds (target: at most {rate(calibration.get('target'))} "
        "of in-scope messages fall back)",
        "",
        "| language | threshold | false fallbacks when fitted | fallbacks on this "
        "held-out set |",
        "|---|---|---|---|",
    ]
    for lang, v in sorted(calibration["languages"].items()):
        if lang == "*":
            continue
        threshold = "–" if v["threshold"] is None else f"{v['threshold']:.3f}"
        if v["pooled"]:
            threshold += " (all languages)"
        lines.append(
            f"| {lang} | {threshold} | {rate(v['fitted_false_fallback_rate'])} | "
            f"{rate(v['held_out_fallback_rate'])} |"
        )
    return [*lines, ""]


def compare(
    report: Mapping[str, Any], accepted: Mapping[str, Any] | None, margin: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows of old/new/delta per language and metric, regressions beyond ``margin``)."""
    rows: list[dict[str, Any]] = []
    regressions: list[str] = []
    if not accepted:
        return rows, regressions
    new_langs = report.get("languages", {})
    for lang, old in sorted(accepted.get("languages", {}).items()):
        new = new_langs.get(lang)
        for metric in METRICS_GATED:
            if metric not in old:
                continue
            if new is None or metric not in new:
                regressions.append(
                    f"{lang}: {metric} missing (the accepted report had "
                    f"{old[metric]:.1%}); was the language removed?"
                )
                continue
            delta = new[metric] - old[metric]
            rows.append(
                {
                    "language": lang,
                    "metric": metric,
                    "accepted": old[metric],
                    "new": new[metric],
                    "delta": delta,
                }
            )
            if delta < -margin - 1e-12:
                regressions.append(
                    f"{lang}: {metric} fell from {old[metric]:.1%} to {new[metric]:.1%} "
                    f"({delta * 100:+.1f} points, allowed -{margin * 100:.1f})"
                )
    return rows, regressions


def render_markdown(
    report: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    regressions: Sequence[str],
    accepted_name: str | None,
) -> str:
    m = report["method"]
    how = (
        f"{m['folds']}-fold cross-validation"
        if m["folds"] >= 2
        else f"held-out {m['test_fraction']:.0%} per intent and language, seed {m['seed']}"
    )
    lines = [
        f"# NLU and KB evaluation, {report['created']}",
        "",
        f"{m['examples']} examples, {m['intents']} intents; {how}; {m['tested']} tested"
        + (
            f"; DIET epochs overridden to {m['epochs_override']}"
            if m.get("epochs_override")
            else ""
        )
        + ".",
        "",
        "| language | accuracy | macro F1 | fallback rate | KB recall@1 | KB recall@3 |",
        "|---|---|---|---|---|---|",
    ]
    delta = {(r["language"], r["metric"]): r["delta"] for r in rows}

    def cell(lang: str, metric: str, value: float | None) -> str:
        if value is None:
            return "–"
        d = delta.get((lang, metric))
        return f"{value:.1%}" + (f" ({d * 100:+.1f})" if d is not None else "")

    for lang, v in sorted(report["languages"].items()):
        kb = v.get("kb", {})
        lines.append(
            f"| {lang} | {cell(lang, 'accuracy', v.get('accuracy'))} | "
            f"{cell(lang, 'macro_f1', v.get('macro_f1'))} | "
            f"{cell(lang, 'fallback_rate', v.get('fallback_rate'))} | "
            f"{cell(lang, 'kb1', kb.get('recall@1'))} | {cell(lang, 'kb3', kb.get('recall@3'))} |"
        )
    lines.append("")
    lines.append(
        f"Compared with: {accepted_name or 'no accepted report yet'} "
        "(points of change in brackets)."
    )
    lines.append("")
    if regressions:
        lines += (
            ["**Quality gate: FAILED**", ""] + [f"- {r}" for r in regressions] + [""]
        )
    elif accepted_name:
        lines += ["Quality gate: passed.", ""]
    lines += kb_misses_markdown(report)
    lines += ["## Most frequent confusions (true → predicted)", ""]
    for lang, v in sorted(report["languages"].items()):
        pairs = v.get("confusions") or []
        text = ", ".join(
            f"{p['true']} → {p['predicted']} ({p['count']})" for p in pairs
        )
        lines.append(f"- **{lang}**: {text or 'none'}")
    lines += ["", "![confusion matrices](confusion.png)", ""]
    lines += render_calibration(report.get("calibration") or {})
    return "\n".join(lines)


def new_report_folder(reports: Path, now: datetime) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    base = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = reports / base
    n = 1
    while folder.exists():
        n += 1
        folder = reports / f"{base}-{n}"
    folder.mkdir()
    return folder


def write_report(
    report: dict[str, Any],
    evaluation: EvaluationSettings,
    project: Project,
    *,
    say: Say = print,
) -> tuple[Path, list[str]]:
    """Write report.json/.md/confusion.png; returns (folder, regressions)."""
    accepted_path = evaluation.reports / ACCEPTED
    accepted = (
        json.loads(accepted_path.read_text(encoding="utf-8"))
        if accepted_path.exists()
        else None
    )
    rows, regressions = compare(report, accepted, evaluation.margin)
    report["comparison"] = {
        "accepted": accepted.get("created") if accepted else None,
        "margin": evaluation.margin,
        "rows": rows,
        "regressions": regressions,
    }
    folder = new_report_folder(evaluation.reports, datetime.now(timezone.utc))
    (folder / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    name = f"accepted report of {accepted['created']}" if accepted else None
    (folder / "report.md").write_text(
        render_markdown(report, rows, regressions, name), encoding="utf-8"
    )
    chart = {
        "languages": [
            {"language": lang, "accuracy": v["accuracy"], **v["matrix"]}
            for lang, v in sorted(report["languages"].items())
            if "matrix" in v
        ]
    }
    chart_in = folder / ".chart.json"
    chart_in.write_text(json.dumps(chart, ensure_ascii=False), encoding="utf-8")
    try:
        run_worker(
            ["chart", str(chart_in), str(folder / "confusion.png")],
            say=say,
            label="drawing the chart",
            rasa_python=project.rasa_python,
            cwd=project.root,
        )
    finally:
        chart_in.unlink(missing_ok=True)
    return folder, regressions


def accept(evaluation: EvaluationSettings, report_dir: Path | None) -> Path:
    """Promote ``report_dir``'s (default: the newest) report.json to accepted.json."""
    if report_dir is None:
        candidates = sorted(
            (p for p in evaluation.reports.glob("*/report.json")),
            key=lambda p: p.parent.name,
        )
        if not candidates:
            raise SupportBotError(
                f"{display_path(evaluation.reports)}: no evaluation report to accept; "
                "run `python -m bot evaluate` first"
            )
        source = candidates[-1]
    else:
        source = report_dir / "report.json"
        if not source.exists():
            raise SupportBotError(f"{display_path(source)}: no such report")
    target = evaluation.reports / ACCEPTED
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    return source


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    out = []
    for lang, v in sorted(report["languages"].items()):
        parts = []
        if "accuracy" in v:
            parts.append(
                f"accuracy {v['accuracy']:.1%}, macro F1 {v['macro_f1']:.1%}, "
                f"fallback {v['fallback_rate']:.1%}"
            )
        if "kb" in v:
            parts.append(
                f"KB recall@1 {v['kb']['recall@1']:.0%} @3 {v['kb']['recall@3']:.0%}"
            )
        out.append(f"  {lang}: " + "; ".join(parts))
    return out
