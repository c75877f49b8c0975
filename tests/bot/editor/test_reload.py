"""`bot reload`: where it finds the running bot, and what it tells the editor.

The reload itself runs against a real Rasa server in tests/e2e/test_reload.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.editor.reload import ReloadResult, Server, describe, find_server, newest_model
from bot.errors import SupportBotError


def test_server_from_options_then_environment_then_the_runs_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = tmp_path / "rasa-api.json"
    api.write_text(json.dumps({"url": "http://127.0.0.1:5999/", "token": "from-file"}))
    monkeypatch.delenv("SUPPORTBOT_RASA_URL", raising=False)
    monkeypatch.delenv("SUPPORTBOT_RASA_TOKEN", raising=False)
    assert find_server(None, None, api) == Server("http://127.0.0.1:5999", "from-file")
    monkeypatch.setenv("SUPPORTBOT_RASA_TOKEN", "from-env")
    assert find_server(None, None, api).token == "from-env"
    assert find_server("http://x:1", "opt", api).token == "opt"
    monkeypatch.delenv("SUPPORTBOT_RASA_TOKEN")
    with pytest.raises(SupportBotError, match="no token for Rasa's HTTP API"):
        find_server(None, None, tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("result", "line", "code"),
    [
        (
            ReloadResult(True, "b.tar.gz", "a.tar.gz", 3.2, "", "id-b", "id-a"),
            "reloaded in 3.2 s: now serving b.tar.gz (was a.tar.gz); conversations continue",
            0,
        ),
        (
            ReloadResult(
                False, "a.tar.gz", "a.tar.gz", 1.0, "HTTP 500: bad", "id-a", "id-a"
            ),
            "rolled back: the new model failed to load (HTTP 500: bad); still serving "
            "a.tar.gz",
            1,
        ),
        (
            ReloadResult(False, None, "a.tar.gz", 1.0, "HTTP 500: bad", None, "id-a"),
            "reload FAILED (HTTP 500: bad); the server now serves no model — restart the "
            "bot (`make run`)",
            1,
        ),
    ],
)
def test_describe(result: ReloadResult, line: str, code: int) -> None:
    assert describe(result) == (line, code)


def test_newest_model(tmp_path: Path) -> None:
    with pytest.raises(SupportBotError, match="no trained model"):
        newest_model(tmp_path)
    (tmp_path / "old.tar.gz").write_text("x")
    new = tmp_path / "new.tar.gz"
    new.write_text("y")
    os.utime(tmp_path / "old.tar.gz", (1, 1))
    assert newest_model(tmp_path) == new
