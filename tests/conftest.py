"""Fixtures shared across the suite: project paths and settings files pointing at tmp dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.settings import write_isolated_copy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


def write_settings(folder: Path, **overrides: Any) -> Path:
    """A copy of supportbot.yml with absolute paths, tickets in ``folder``, and overrides.

    ``overrides`` are ``section={key: value}`` and replace keys within that section.
    """
    return write_isolated_copy(folder, **overrides)


@pytest.fixture()
def settings_file(tmp_path: Path) -> Path:
    return write_settings(tmp_path)
