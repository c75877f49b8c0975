"""Training cost: wall time and peak memory of `rasa train` and of the KB index build.

    .venv/bin/python bench/train.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child command (each run in a fresh process)."""
    probe = [sys.executable, "-c",
             "import resource,subprocess,sys,time;t=time.perf_counter();"
             "r=subprocess.run(sys.argv[1:]);"
             "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
             "sys.exit(r.returncode)", *cmd]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    seconds, kib = out.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024


def main() -> int:
    rasa = str(ROOT / ".venv-rasa/bin/python")
    act = str(ROOT / ".venv/bin/python")
    with tempfile.TemporaryDirectory() as out:
        train_s, train_mb = timed([
            rasa, "-m", "rasa", "train", "--force", "--domain", "domain.yml", "--data",
            "data/nlu", "data/rules", "data/stories", "--config", "config.yml", "--out", out,
        ])
    kb_s, kb_mb = timed([act, "-m", "kb_index", "build", "--force"])
    lines = [
        f"Training cost ({os.cpu_count()} CPUs)",
        "",
        "| step | wall s | peak RSS MiB |",
        "|---|---|---|",
        f"| rasa train --force (NLU + dialogue) | {train_s:.0f} | {train_mb:.0f} |",
        f"| KB index build --force (embed all articles) | {kb_s:.1f} | {kb_mb:.0f} |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench/results/train.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
