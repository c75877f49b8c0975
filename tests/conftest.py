"""Fixtures shared across the suite: project paths and settings files pointing at tmp dirs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


def write_settings(folder: Path, **overrides: Any) -> Path:
    """A copy of supportbot.yml with absolute paths, tickets in ``folder``, and overrides.

    ``overrides`` are ``section={key: value}`` and replace keys within that section.
    """
    data = yaml.safe_load((ROOT / "supportbot.yml").read_text(encoding="utf-8"))
    kb = data["knowledge_base"]
    kb["articles"] = str(ROOT / kb["articles"])
    kb["index_dir"] = str(ROOT / kb["index_dir"])
    kb["model"] = str((ROOT / kb["model"]).resolve())
    data["tickets"]["database"] = str(folder / "tickets.sqlite3")
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    path = folder / "supportbot.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture()
def settings_file(tmp_path: Path) -> Path:
    return write_settings(tmp_path)
