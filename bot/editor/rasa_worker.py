"""The editors' commands' Rasa side, run with the Rasa environment's Python (3.10).

``bot train`` / ``bot evaluate`` run in the action environment, which has no Rasa; they
start this module as a subprocess (``.venv-rasa/bin/python -m bot.editor.rasa_worker``)
and read one JSON object per line from its stdout. Rasa's own log goes to stderr.

``train``     Rasa's dry run lists the graph nodes whose fingerprint changed (what will
              be retrained); then Rasa trains, reusing its cache for everything else.
``nlu-eval``  for each run of a job file: train the NLU pipeline of config.yml on a
              training file (Rasa's ``train_nlu``), parse every test text with the
              trained model, write the predictions.
``chart``     draw confusion matrices to a PNG (matplotlib lives in this environment).

Only this module imports Rasa; keep it free of imports from the action environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FALLBACK_INTENT = "nlu_fallback"


def emit(event: str, **data: Any) -> None:
    """One progress or result line for the parent process."""
    print(json.dumps({"event": event, **data}, ensure_ascii=False), flush=True)


def _component(node: str) -> str:
    return re.sub(r"\d+$", "", node.removeprefix("train_"))


def cmd_train(args: argparse.Namespace) -> int:
    import yaml
    from rasa.model_training import train

    policies = {
        p.get("name")
        for p in (yaml.safe_load(Path(args.config).read_text()) or {}).get(
            "policies", []
        )
        or []
        if isinstance(p, dict)
    }
    common = {
        "domain": args.domain,
        "config": args.config,
        "training_files": args.data,
        "output": args.out,
        "fixed_model_name": args.fixed_model_name,
    }
    plan = train(**common, dry_run=True, force_training=args.force)
    retrain: set[str] = set()
    reuse: set[str] = set()
    for node, status in (plan.dry_run_results or {}).items():
        if not node.startswith("train_"):
            continue
        hit = bool(getattr(status, "is_hit", False)) and not args.force
        (reuse if hit else retrain).add(_component(node))
    reuse -= retrain

    def split(names: set[str]) -> dict[str, list[str]]:
        return {
            "nlu": sorted(n for n in names if n not in policies),
            "dialogue": sorted(n for n in names if n in policies),
        }

    emit("plan", retrain=split(retrain), reuse=split(reuse))
    start = time.perf_counter()
    result = train(**common, force_training=args.force)
    took = time.perf_counter() - start
    if result.code != 0 or not result.model:
        emit("failed", code=result.code)
        return 1
    emit("trained", model=str(result.model), seconds=round(took, 1))
    return 0


def _config_with_epochs(config: Path, epochs: int | None, folder: Path) -> Path:
    """config.yml with DIET's epochs overridden (tests train for a few epochs only)."""
    if epochs is None:
        return config
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for component in data.get("pipeline", []):
        if component.get("name") == "DIETClassifier":
            component["epochs"] = epochs
    out = folder / "config.yml"
    out.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return out


async def _predict(model: str, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    out = []
    for text in texts:
        parsed = await agent.parse_message(text)
        ranking = [
            r
            for r in parsed.get("intent_ranking") or []
            if r.get("name") != FALLBACK_INTENT
        ]
        top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        out.append(
            {
                "intent": top.get("name"),
                "confidence": float(top.get("confidence") or 0.0),
                "fallback": (parsed.get("intent") or {}).get("name") == FALLBACK_INTENT,
                "calibration": parsed.get("intent_calibration"),
            }
        )
    return out


def model_calibration(model: str) -> dict[str, Any] | None:
    """The out-of-scope thresholds CalibratedIntentClassifier stored in ``model``, if any."""
    import tarfile

    with tarfile.open(model) as archive:
        for member in archive.getmembers():
            if member.name.endswith("intent_model.json"):
                handle = archive.extractfile(member)
                if handle is not None:
                    calibration: dict[str, Any] = json.load(handle)["calibration"]
                    return calibration
    return None


def cmd_nlu_eval(args: argparse.Namespace) -> int:
    from rasa.model_training import train_nlu

    job = json.loads(Path(args.job).read_text(encoding="utf-8"))
    results = []
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        folder = Path(tmp)
        config = _config_with_epochs(Path(job["config"]), job.get("epochs"), folder)
        for number, run in enumerate(job["runs"], 1):
            emit("training", run=number, runs=len(job["runs"]))
            start = time.perf_counter()
            model = train_nlu(
                str(config),
                run["train"],
                str(folder / f"run{number}"),
                fixed_model_name=f"eval{number}",
            )
            if not model:
                emit("failed", run=number)
                return 1
            trained = time.perf_counter() - start
            emit("predicting", run=number, texts=len(run["test"]))
            predictions = asyncio.run(_predict(model, run["test"]))
            results.append(
                {
                    "predictions": predictions,
                    "train_seconds": round(trained, 1),
                    "calibration": model_calibration(model),
                }
            )
    Path(job["out"]).write_text(json.dumps({"runs": results}, ensure_ascii=False))
    emit("done", out=job["out"])
    return 0


def cmd_chart(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(Path(args.input).read_text(encoding="utf-8"))
    panels = data["languages"]
    n = max(1, len(panels))
    size = max(5.0, 0.28 * max(len(p["labels"]) for p in panels) + 2) if panels else 5.0
    fig, axes = plt.subplots(1, n, figsize=(size * n, size), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=False):
        labels, matrix = panel["labels"], panel["matrix"]
        image = ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)))
        ax.set_yticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("predicted intent")
        ax.set_ylabel("true intent")
        ax.set_title(f"{panel['language']}: accuracy {panel['accuracy']:.1%}")
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                if value and i != j:
                    ax.text(
                        j,
                        i,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="crimson",
                    )
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(args.output, dpi=80)
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    parser = argparse.ArgumentParser(prog="python -m bot.editor.rasa_worker")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--domain", required=True)
    t.add_argument("--config", required=True)
    t.add_argument("--data", nargs="+", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--fixed-model-name", default="support")
    t.add_argument("--force", action="store_true")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("nlu-eval")
    e.add_argument("job")
    e.set_defaults(func=cmd_nlu_eval)
    c = sub.add_parser("chart")
    c.add_argument("input")
    c.add_argument("output")
    c.set_defaults(func=cmd_chart)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
