"""Start :mod:`bot.editor.rasa_worker` in the Rasa environment and follow its progress.

The worker prints one JSON object per line; everything else it prints (Rasa's log,
TensorFlow's noise) is kept for the error message. While it works, a line every
``heartbeat`` seconds tells the editor it is still going and for how long.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import SupportBotError
from bot.settings import PROJECT_ROOT

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


class WorkerError(SupportBotError):
    """The Rasa-side worker failed; the message carries the end of its output."""


@dataclass
class WorkerResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def last(self, event: str) -> dict[str, Any] | None:
        for item in reversed(self.events):
            if item.get("event") == event:
                return item
        return None


def run_worker(
    args: Sequence[str],
    *,
    on_event: Callable[[dict[str, Any]], None] = lambda e: None,
    say: Callable[[str], None] = print,
    label: str = "working",
    heartbeat: float = 15.0,
    rasa_python: Path = RASA_PYTHON,
    cwd: Path = PROJECT_ROOT,
    env: dict[str, str] | None = None,
) -> WorkerResult:
    """Run the worker to completion; WorkerError (with its output's tail) on failure."""
    if not rasa_python.exists():
        raise WorkerError(
            f"{rasa_python}: the Rasa environment is missing; run `make setup`"
        )
    full_env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONWARNINGS": "ignore",
        **(env or {}),
    }
    result = WorkerResult()
    tail: deque[str] = deque(maxlen=25)
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(rasa_python), "-m", "bot.editor.rasa_worker", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    done = threading.Event()

    def tick() -> None:
        while not done.wait(heartbeat):
            say(f"  ... still {label} ({time.monotonic() - start:.0f} s)")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            event = _event(line)
            if event is None:
                if line.strip():
                    tail.append(line)
                continue
            result.events.append(event)
            on_event(event)
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        done.set()
    result.seconds = time.monotonic() - start
    if code != 0:
        raise WorkerError(
            f"the Rasa worker ({' '.join(args[:1])}) failed with exit code {code}; its "
            "last output:\n" + "\n".join(tail)
        )
    return result


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith('{"event"'):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
