"""``python -m bot models install | list | remove`` as an operator runs it: a
subprocess, a settings file whose translation.packages_dir is a temporary folder, and
the real fixture packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write_settings

FIXTURES = ROOT / "tests" / "fixtures" / "argos"
DE_EN = FIXTURES / "translate-de_en-tiny.argosmodel"
EN_DE = FIXTURES / "translate-en_de-tiny.argosmodel"


def run_cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(settings), "models", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture()
def settings(tmp_path: Path) -> Path:
    return write_settings(tmp_path, translation={"packages_dir": str(tmp_path / "pk")})


def test_install_list_remove(settings: Path, tmp_path: Path) -> None:
    empty = run_cli(settings, "list")
    assert empty.returncode == 0
    assert "no translation packages" in empty.stdout

    installed = run_cli(settings, "install", str(DE_EN), str(EN_DE))
    assert installed.returncode == 0, installed.stderr
    assert "installed de→en 0.1-tiny" in installed.stdout
    assert "installed en→de 0.1-tiny" in installed.stdout
    assert sorted(p.name for p in (tmp_path / "pk").iterdir()) == [
        "translate-de_en",
        "translate-en_de",
    ]

    listed = run_cli(settings, "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["from"], r["to"]) for r in rows] == [("de", "en"), ("en", "de")]
    table = run_cli(settings, "list").stdout
    assert "de    en    0.1-tiny" in table

    again = run_cli(settings, "install", str(DE_EN))
    assert "replaced de→en 0.1-tiny with de→en 0.1-tiny" in again.stdout

    removed = run_cli(settings, "remove", "de", "en")
    assert removed.returncode == 0 and "removed de→en" in removed.stdout
    missing = run_cli(settings, "remove", "de", "en")
    assert missing.returncode == 1
    assert "no package de→en installed (installed: en de)" in missing.stderr


def test_a_broken_file_is_refused_with_one_line_and_nothing_changes(
    settings: Path, tmp_path: Path
) -> None:
    assert run_cli(settings, "install", str(EN_DE)).returncode == 0
    before = sorted(str(p) for p in (tmp_path / "pk").rglob("*"))
    truncated = tmp_path / "half.argosmodel"
    truncated.write_bytes(DE_EN.read_bytes()[:50_000])
    result = run_cli(settings, "install", str(truncated))
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"supportbot: error: {truncated}: not a zip archive"
    )
    assert "Traceback" not in result.stderr
    assert sorted(str(p) for p in (tmp_path / "pk").rglob("*")) == before


def test_a_bad_translation_section_is_a_config_error(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, translation={"engine": "google"})
    result = run_cli(settings, "list")
    assert result.returncode == 2
    assert "translation.engine: unknown engine 'google'" in result.stderr
