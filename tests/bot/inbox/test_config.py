"""The inbox: section: agents, languages, queues; errors name the file, key and fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.errors import ConfigError
from bot.inbox.auth import hash_password
from bot.inbox.config import Agent, InboxSettings
from bot.settings import load_settings

HASH = hash_password("a-good-password")


def settings(tmp_path: Path, inbox: dict[str, Any]) -> InboxSettings:
    path = tmp_path / "supportbot.yml"
    path.write_text(yaml.safe_dump({"inbox": inbox}), encoding="utf-8")
    return InboxSettings.from_settings(load_settings(path))


def agent(**kw: Any) -> dict[str, Any]:
    return {
        "name": "maja",
        "password_hash": HASH,
        "languages": ["sl", "en"],
        "queues": ["*-sl"],
        **kw,
    }


def test_agents_are_read_with_their_languages_and_queues(tmp_path: Path) -> None:
    parsed = settings(tmp_path, {"port": 5999, "poll_seconds": 1, "agents": [agent()]})
    maja = parsed.agents["maja"]
    assert parsed.port == 5999 and parsed.poll_seconds == 1.0
    assert maja.languages == ("sl", "en") and maja.language == "sl"
    assert maja.can_read("orders-sl") and maja.can_read("general-sl")
    assert not maja.can_read("orders-en") and not maja.can_read("sl")


def test_no_inbox_section_means_no_agents(tmp_path: Path) -> None:
    path = tmp_path / "supportbot.yml"
    path.write_text("tickets: {database: x.sqlite3}\n", encoding="utf-8")
    assert InboxSettings.from_settings(load_settings(path)).agents == {}


def test_agents_can_live_in_their_own_file(tmp_path: Path) -> None:
    (tmp_path / "agents.yml").write_text(yaml.safe_dump({"agents": [agent()]}))
    parsed = settings(tmp_path, {"agents_file": "agents.yml"})
    assert list(parsed.agents) == ["maja"]


@pytest.mark.parametrize(
    ("inbox", "key", "words"),
    [
        (
            {"agents": [agent(password_hash="hunter2")]},
            "inbox.agents[0].password_hash",
            "hash-password",
        ),
        ({"agents": [agent(languages=[])]}, "inbox.agents[0].languages", "non-empty"),
        (
            {"agents": [agent(languages=["Slovenian"])]},
            "inbox.agents[0].languages",
            "language code",
        ),
        ({"agents": [agent(name="Maja Novak")]}, "inbox.agents[0].name", "login name"),
        ({"agents": [agent(queues=None)]}, "inbox.agents[0].queues", "missing"),
        ({"agents": [agent(), agent()]}, "inbox.agents[1].name", "twice"),
        ({"agents": [agent(role="admin")]}, "inbox.agents[0].role", "not an agent"),
        ({"agents": {"maja": {}}}, "inbox.agents", "list"),
        ({"port": 70000}, "inbox.port", "1-65535"),
        ({"poll_seconds": 0}, "inbox.poll_seconds", "0.2-60"),
        ({"session_hours": -1}, "inbox.session_hours", "positive"),
        ({"colour": "blue"}, "inbox.colour", "not an inbox setting"),
        ({"agents_file": "nope.yml"}, "inbox.agents_file", "does not exist"),
    ],
)
def test_a_wrong_setting_names_the_file_and_key(
    tmp_path: Path, inbox: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        settings(tmp_path, inbox)
    assert err.value.key == key
    assert err.value.file.endswith("supportbot.yml")
    assert words in str(err.value)


def test_speaking_a_language_ignores_the_region() -> None:
    maja = Agent("maja", HASH, ("sl", "en"), ("*",))
    assert maja.speaks("sl") and maja.speaks("en-GB") and not maja.speaks("ar")
    assert not maja.speaks(None)
