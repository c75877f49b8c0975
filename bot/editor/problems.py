"""One finding of a check, rendered ``file:line: problem`` with the fix on the next line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def display_path(path: Path | str) -> str:
    """``path`` relative to the working folder when inside it: short, clickable output."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def where(path: Path | str, line: int | None = None) -> str:
    """``file:line`` (1-based line) or just ``file``."""
    shown = display_path(path)
    return f"{shown}:{line}" if line else shown


@dataclass(frozen=True)
class Problem:
    """A finding: ``where`` is ``file[:line]``; warnings do not fail validation."""

    where: str
    problem: str
    fix: str = ""
    warning: bool = False

    def render(self) -> str:
        head = f"{self.where}: {'warning: ' if self.warning else ''}{self.problem}"
        return head + (f"{os.linesep}    fix: {self.fix}" if self.fix else "")
