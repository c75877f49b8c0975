"""What every benchmark shares: the machine stamp printed with each figure, child runs.

Figures taken on a shared two-core machine mean little without the CPU count, the date
and how busy the machine was, so every table carries :func:`stamp`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
ACTIONS_PYTHON = ROOT / ".venv" / "bin" / "python"


def today() -> str:
    """The local date, ISO formatted."""
    return dt.date.today().isoformat()


def stamp() -> str:
    """``2 CPUs, 2026-11-24, load 1.3`` — the context a timing needs to be read."""
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, {today()}, load {load:.1f} at start"


def machine() -> dict[str, object]:
    """The same context as a record, for JSON results."""
    return {
        "cpus": os.cpu_count(),
        "date": today(),
        "load_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for child processes: project on the path, offline, no telemetry."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        **(extra or {}),
    }


@dataclass(frozen=True)
class ChildRun:
    """Exit status, wall seconds and peak resident memory of one child process."""

    returncode: int
    seconds: float
    peak_rss_mib: float


def run_measured(
    cmd: Sequence[str],
    *,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> ChildRun:
    """Run ``cmd`` and return its wall time and its own peak RSS (``wait4`` rusage).

    ``wait4`` reports the rusage of exactly this child, unlike
    ``getrusage(RUSAGE_CHILDREN)``, which keeps the maximum over every child so far.
    """
    out = open(log, "wb") if log else None  # noqa: SIM115 - closed below
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=dict(env or child_env()), stdout=out, stderr=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if out:
            out.close()
    return ChildRun(proc.returncode, seconds, usage.ru_maxrss / 1024)
