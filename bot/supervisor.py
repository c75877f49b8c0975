"""Restart policy and log files for bot.run's supervisor.

The policy is pure (``now`` is passed in) so that backoff and the crash-loop decision are
tested without waiting; bot.run applies it to real processes. A part that dies is
restarted after an exponentially growing delay, and the delay starts again from the
beginning once the part has stayed up for a while: a part that crashes once a day is
restarted at once every time, one that crashes on every start waits longer each time.
Only a crash loop (too many restarts of one part within a window) stops the whole bot,
because restarting cannot fix what fails on every start (a broken model, a port taken).

Logs go through :class:`RotatingLog`: a child's output is appended, never truncated (the
lines before a crash are the evidence), and rotated by size so a noisy part cannot fill
the disk.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Files and folders the bot creates hold conversations, tokens and crash logs:
#: readable by the bot's user only.
FILE_MODE = 0o600
DIR_MODE = 0o700
CHILD_UMASK = 0o077


@dataclass(frozen=True)
class RestartPolicy:
    """When to restart a part that died, and when to give up on it."""

    #: Delay before the first restart; each further one doubles it (1, 2, 4, ... s).
    base_delay: float = 1.0
    #: Longest delay between two restarts, however many came before.
    max_delay: float = 30.0
    #: More restarts than this of one part within ``window`` seconds is a crash loop.
    max_restarts: int = 5
    window: float = 600.0
    #: A part up this long counts as recovered: its next restart waits ``base_delay`` again.
    stable_after: float = 120.0

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.max_restarts < 1 or self.window <= 0:
            raise ValueError("need max_restarts >= 1 and window > 0")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before restart number ``attempt`` (1-based) of a crash series."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        # Cap the exponent: 2**attempt overflows a float long before anyone gets there.
        return float(min(self.max_delay, self.base_delay * 2 ** min(attempt - 1, 60)))

    def next_attempt(self, previous: int, up_since: float | None, now: float) -> int:
        """The attempt number of the restart that a death at ``now`` calls for.

        ``up_since`` is when the part last answered its health check after a start (None
        when it never did): a part that stayed up ``stable_after`` seconds starts a new
        series at 1, so one crash a day never waits the long delays.
        """
        if up_since is not None and now - up_since >= self.stable_after:
            return 1
        return previous + 1

    def recent(self, restarts: Sequence[float], now: float) -> list[float]:
        """The restart times that still count at ``now`` (inside the window)."""
        return [t for t in restarts if now - t < self.window]

    def crash_loop(self, restarts: Sequence[float], now: float) -> bool:
        """Whether one part's restart times (monotonic seconds) are a crash loop at ``now``."""
        return len(self.recent(restarts, now)) > self.max_restarts


@dataclass(frozen=True)
class Death:
    """One unplanned end of a part: what the supervisor logged and then did."""

    part: str
    reason: str
    exit_code: int | None
    attempt: int
    delay: float
    at: float  # time.time(), for the log


class RotatingLog:
    """An append-only log file that rotates by size: ``x.log``, ``x.log.1`` ... ``x.log.N``.

    Written by the supervisor from the child's stdout pipe (a child writing to the file
    itself would keep writing to the renamed file after a rotation). Thread-safe: the
    supervisor's own lines and the child's output go to the same file.
    """

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
        if max_bytes < 1 or backups < 0:
            raise ValueError("need max_bytes >= 1 and backups >= 0")
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        self._fd = self._open()

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        # An existing file from an older run keeps its mode unless tightened here.
        os.fchmod(fd, FILE_MODE)
        return fd

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating first when it would take the file past ``max_bytes``."""
        if not data:
            return
        with self._lock:
            if self._fd < 0:
                return
            size = os.fstat(self._fd).st_size
            if size > 0 and size + len(data) > self.max_bytes:
                self._rotate()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]

    def line(self, text: str) -> None:
        """Append one line of the supervisor's own."""
        self.write((text.rstrip("\n") + "\n").encode("utf-8", "backslashreplace"))

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for n in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._fd = self._open()

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines (of the current file)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
