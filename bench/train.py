"""Training cost of the shipped bot: from scratch, unchanged, after a one-example edit.

Works on a copy of config.yml, domain.yml and data/ in a temporary folder with its own
Rasa cache, so the real models/ and .rasa/cache are never touched (no need for
models/rasa/.train.lock). Steps, each `rasa train` (NLU + dialogue) in a fresh process:

1. from scratch (empty cache);
2. again with nothing changed (Rasa's fingerprints skip all work);
3. after adding one English example to data/nlu/en/orders.yml (what an editor does
   most): Rasa's cache reuses the dialogue policies and retrains only the NLU graph
   after the changed data.

Then the KB index build from scratch (embedding every article) into a temporary index
folder. Wall time and the child's peak RSS (``wait4``) for each.

    .venv/bin/python bench/train.py [--out bench/results/train.md]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    ACTIONS_PYTHON,
    RASA_PYTHON,
    RESULTS,
    ROOT,
    ChildRun,
    child_env,
    run_measured,
    stamp,
)

EDITED_FILE = Path("data/nlu/en/orders.yml")
NEW_EXAMPLE = "has my parcel left your warehouse yet"


def add_example(path: Path, example: str) -> str:
    """Insert ``example`` first in the file's first intent; returns that intent."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    intent = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("- intent:"):
            intent = stripped.split(":", 1)[1].strip()
        if (
            intent
            and stripped.startswith("- ")
            and not stripped.startswith("- intent:")
        ):
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(i, f"{indent}- {example}\n")
            path.write_text("".join(lines), encoding="utf-8")
            return intent
    raise ValueError(f"{path}: no intent with examples to extend")


def copy_project(dest: Path) -> None:
    for name in ("config.yml", "domain.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("data/nlu", "data/rules", "data/stories"):
        shutil.copytree(ROOT / folder, dest / folder)


def rasa_train(work: Path, log: Path) -> ChildRun:
    cmd = [
        str(RASA_PYTHON),
        "-m",
        "rasa",
        "train",
        "--domain",
        "domain.yml",
        "--data",
        "data/nlu",
        "data/rules",
        "data/stories",
        "--config",
        "config.yml",
        "--out",
        "models",
        "--fixed-model-name",
        "support",
    ]
    env = child_env({"RASA_CACHE_DIRECTORY": str(work / ".rasa" / "cache")})
    run = run_measured(cmd, cwd=work, env=env, log=log)
    if run.returncode:
        raise RuntimeError(f"rasa train failed (exit {run.returncode}); see {log}")
    return run


def kb_build(work: Path, log: Path) -> ChildRun:
    settings = yaml.safe_load((ROOT / "supportbot.yml").read_text(encoding="utf-8"))
    kb = settings["knowledge_base"]
    kb["articles"] = str((ROOT / kb["articles"]).resolve())
    kb["model"] = str((ROOT / kb["model"]).resolve())
    kb["index_dir"] = str(work / "kb_index")
    path = work / "supportbot.yml"
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    run = run_measured(
        [
            str(ACTIONS_PYTHON),
            "-m",
            "kb_index",
            "--config",
            str(path),
            "build",
            "--force",
        ],
        env=child_env(),
        log=log,
    )
    if run.returncode:
        raise RuntimeError(f"KB index build failed (exit {run.returncode}); see {log}")
    return run


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(RESULTS / "train.md"))
    args = parser.parse_args()
    header = stamp()
    logs = RESULTS / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp_name:
        work = Path(tmp_name)
        copy_project(work)
        scratch = rasa_train(work, logs / "train-scratch.log")
        rows.append(("`rasa train`, from scratch (NLU + dialogue)", scratch))
        same = rasa_train(work, logs / "train-unchanged.log")
        rows.append(("`rasa train`, nothing changed", same))
        intent = add_example(work / EDITED_FILE, NEW_EXAMPLE)
        edited = rasa_train(work, logs / "train-one-example.log")
        rows.append(
            (
                f"`rasa train`, one example added ({EDITED_FILE}, intent {intent})",
                edited,
            )
        )
        rows.append(
            (
                "KB index build --force (embed every article)",
                kb_build(work, logs / "kb-build.log"),
            )
        )
    lines = [
        "# Training cost of the shipped bot",
        "",
        f"{header}. On a copy of config.yml, domain.yml and data/ with an empty Rasa "
        "cache; each step in a fresh process. Peak RSS: that process (`wait4`).",
        "",
        "| step | wall s | peak RSS MiB |",
        "|---|---|---|",
        *[
            f"| {label} | {run.seconds:.0f} | {run.peak_rss_mib:.0f} |"
            for label, run in rows
        ],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
