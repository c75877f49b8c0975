"""Reload without downtime: a running bot switches models mid-conversation, and a model
that does not load is rolled back while the bot keeps answering.

The second model is trained by the editors' own Rasa worker from the project's data with
one changed response text (Rasa's cache makes that a repackaging, not a retraining), so
"the new model answers" is visible in the reply. Then ``python -m bot reload`` and
``python -m bot review`` run as an editor runs them, against the running bot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.editor.worker import run_worker
from bot.run import Bot
from tests.e2e.conftest import ROOT, rasa_api, say, start_bot, texts, tracker

NEW_GREETING = "Hi from the reloaded model!"


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model2")
    domain = (ROOT / "domain.yml").read_text(encoding="utf-8")
    old = "  - text: Hi! I'm Lumo's assistant."
    assert old in domain
    (folder / "domain.yml").write_text(
        domain.replace(old, f"  - text: {NEW_GREETING} I'm Lumo's assistant."), "utf-8"
    )
    run_worker(
        [
            "train",
            "--domain",
            str(folder / "domain.yml"),
            "--config",
            str(ROOT / "config.yml"),
            "--data",
            *(str(ROOT / "data" / d) for d in ("nlu", "rules", "stories")),
            "--out",
            str(folder / "out"),
            "--fixed-model-name",
            "support-v2",
        ],
        say=lambda line: None,
    )
    return folder / "out" / "support-v2.tar.gz"


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory, second_model: Path
) -> Iterator[Bot]:
    with start_bot(tmp_path_factory.mktemp("reload")) as bot:
        yield bot


def editor(bot: Bot, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPPORTBOT_CONFIG"}
    env.update(
        {
            "SUPPORTBOT_RASA_URL": bot.config.rasa_url,
            "SUPPORTBOT_RASA_TOKEN": bot.config.rasa_token,
            "SUPPORTBOT_CONFIG": str(bot.config.settings_file),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def serving(bot: Bot) -> str:
    return str(rasa_api(bot, "/status")["model_file"])


def slots(bot: Bot, sender: str) -> dict[str, object]:
    return dict(tracker(bot, sender)["slots"])


def test_reload_mid_conversation_then_roll_back_a_broken_model(
    running: Bot,
    second_model: Path,
    domain_texts: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    bot = running
    assert serving(bot) == "support.tar.gz"  # Rasa reports the file's name
    assert texts(say(bot, "reload-sl", "Živjo, dober dan")) == [
        domain_texts["utter_greet"]["sl"]
    ]
    assert slots(bot, "reload-sl")["language"] == "sl"

    done = editor(bot, "reload", "--model", str(second_model))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reloaded in " in done.stdout and "now serving" in done.stdout
    assert serving(bot) == second_model.name

    # The conversation goes on in Slovenian with its slots; the new model answers.
    assert texts(say(bot, "reload-sl", "hvala lepa")) == [
        domain_texts["utter_you_are_welcome"]["sl"]
    ]
    assert slots(bot, "reload-sl")["language"] == "sl"
    [greeting] = texts(say(bot, "reload-en", "hello there"))
    assert greeting.startswith(NEW_GREETING)

    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"this is not a model")
    done = editor(bot, "reload", "--model", str(broken))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back: the new model failed to load" in done.stdout
    assert f"still serving {second_model.name}" in done.stdout
    assert serving(bot) == second_model.name
    [greeting] = texts(say(bot, "reload-en", "hello"))
    assert greeting.startswith(NEW_GREETING)
    assert bot.dead() is None


def test_review_lists_what_the_running_bot_did_not_understand(running: Bot) -> None:
    say(running, "review-1", "blorp fnarg wibble zonk")
    say(running, "review-2", "Blorp fnarg wibble zonk!")
    done = editor(
        running, "review", "--tracker", str(running.config.tracker_db), "--json"
    )
    assert done.returncode == 0, done.stderr
    groups = [json.loads(line) for line in done.stdout.splitlines()]
    [group] = [g for g in groups if g["text"].lower().startswith("blorp")]
    assert group["count"] == 2 and group["conversations"] == 2
    assert (
        group["fallbacks"] >= 1
        or group["confidence"] < 0.6
        or group["intent"] == "out_of_scope"
    )


def test_no_model_file_is_refused_before_asking_rasa(
    running: Bot, tmp_path: Path
) -> None:
    done = editor(running, "reload", "--model", str(tmp_path / "missing.tar.gz"))
    assert done.returncode == 2
    assert "no such model file" in done.stderr


def test_wrong_token_is_named(running: Bot) -> None:
    done = editor(
        running,
        "reload",
        "--token",
        "wrong",
        "--model",
        str(ROOT / "models" / "rasa" / "support.tar.gz"),
    )
    assert done.returncode == 2
    assert "refused the token" in done.stderr
