"""The ``inbox:`` section of supportbot.yml: agents, their languages and queues.

```yaml
inbox:
  port: 5080                 # python -m bot inbox serve --port overrides it
  session_hours: 12          # how long a login lasts
  secure_cookies: false      # true behind TLS (https): cookies get the Secure flag
  poll_seconds: 2            # how often open conversations are read from Rasa
  agents:                    # or agents_file: inbox_agents.yml (a file with agents:)
    - name: maja             # the login name
      password_hash: "scrypt$16384$8$1$..."   # python -m bot inbox hash-password
      languages: [sl, en]    # first = the language transcripts are translated into
      queues: ["*-sl", billing-en]           # queue names or shell-style patterns
```

Sessions are stored in the ticket database (bot.inbox.sessions), so several inbox
processes on one database share them and a restart keeps agents logged in. Every error
names the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.inbox.auth import check_hash_format
from bot.settings import Section, Settings

DEFAULT_PORT = 5080
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_LANG = re.compile(r"^[a-z]{2,3}$")
_AGENT_KEYS = {"name", "display_name", "password_hash", "languages", "queues"}
_KNOWN = {
    "port",
    "session_hours",
    "secure_cookies",
    "poll_seconds",
    "agents",
    "agents_file",
}


@dataclass(frozen=True)
class Agent:
    """One agent: login name, shown name, password hash, languages, queue patterns."""

    name: str
    password_hash: str
    languages: tuple[str, ...]
    queues: tuple[str, ...]
    display_name: str = ""

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def language(self) -> str:
        """The language transcripts are translated into for this agent."""
        return self.languages[0]

    def can_read(self, queue: str) -> bool:
        """True when ``queue`` matches one of the agent's queue names or patterns."""
        return any(fnmatch.fnmatchcase(queue, pattern) for pattern in self.queues)

    def readable(self, queues: Sequence[str]) -> list[str]:
        return [q for q in queues if self.can_read(q)]

    def speaks(self, language: str | None) -> bool:
        base = (language or "").split("-")[0].lower()
        return base in self.languages


@dataclass(frozen=True)
class InboxSettings:
    """The validated ``inbox:`` section."""

    agents: Mapping[str, Agent]
    port: int = DEFAULT_PORT
    session_lifetime: timedelta = timedelta(hours=12)
    poll_seconds: float = 2.0
    #: Cookies carry ``Secure`` (sent only over https). Off by default because the
    #: embedded default serves plain http on 127.0.0.1; on behind a TLS proxy.
    secure_cookies: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxSettings:
        return cls.from_section(settings.section("inbox", required=False))

    @classmethod
    def from_section(cls, section: Section) -> InboxSettings:
        """Parse and validate; every error names ``inbox.<key>`` and the fix."""
        for key in section.data:
            if key not in _KNOWN:
                raise section.error(
                    str(key),
                    "is not an inbox setting",
                    f"use only {', '.join(sorted(_KNOWN))}",
                )
        port = section.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise section.error("port", f"must be a port number 1-65535, got {port!r}")
        hours = section.get("session_hours", 12)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
            raise section.error(
                "session_hours", f"must be a positive number, got {hours!r}"
            )
        poll = section.get("poll_seconds", 2)
        if (
            isinstance(poll, bool)
            or not isinstance(poll, int | float)
            or not 0.2 <= poll <= 60
        ):
            raise section.error(
                "poll_seconds", f"must be a number of seconds 0.2-60, got {poll!r}"
            )
        secure = section.get("secure_cookies", False)
        if not isinstance(secure, bool):
            raise section.error(
                "secure_cookies", f"must be true or false, got {secure!r}"
            )
        agents = _agents(section)
        return cls(
            agents=agents,
            port=port,
            session_lifetime=timedelta(hours=hours),
            poll_seconds=float(poll),
            secure_cookies=secure,
        )


def _agents(section: Section) -> dict[str, Agent]:
    if "agents" in section.data and "agents_file" in section.data:
        raise section.error(
            "agents_file",
            "cannot be used together with inbox.agents",
            "keep one of the two",
        )
    raw: Any = section.get("agents") or []
    file, prefix = section.file, section.where("agents")
    if "agents_file" in section.data:
        path = section.path("agents_file")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise section.error(
                "agents_file",
                f"{path} does not exist",
                "create it with an 'agents:' list (see bot/inbox/config.py)",
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), "", f"invalid YAML: {exc}") from None
        if not isinstance(loaded, Mapping):
            raise ConfigError(str(path), "", "must be a mapping with an 'agents:' list")
        raw, file, prefix = loaded.get("agents") or [], Path(path), "agents"
    if not isinstance(raw, list):
        raise ConfigError(
            str(file), prefix, f"must be a list of agents, got {type(raw).__name__}"
        )
    agents: dict[str, Agent] = {}
    for i, item in enumerate(raw):
        agent = _agent(str(file), f"{prefix}[{i}]", item)
        if agent.name in agents:
            raise ConfigError(
                str(file),
                f"{prefix}[{i}].name",
                f"agent {agent.name!r} is listed twice",
                "keep one entry",
            )
        agents[agent.name] = agent
    return agents


def _str_list(
    file: str, key: str, raw: Any, pattern: re.Pattern[str] | None
) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(x, str) and x for x in raw)
    ):
        raise ConfigError(file, key, f"must be a non-empty list of names, got {raw!r}")
    if pattern is not None:
        for x in raw:
            if not pattern.match(x):
                raise ConfigError(
                    file,
                    key,
                    f"{x!r} is not a language code",
                    "use codes like en, ar, sl",
                )
    return tuple(raw)


def _agent(file: str, key: str, item: Any) -> Agent:
    if not isinstance(item, Mapping):
        raise ConfigError(
            file,
            key,
            "must be a mapping with name, password_hash, languages and queues",
        )
    for k in item:
        if k not in _AGENT_KEYS:
            raise ConfigError(
                file,
                f"{key}.{k}",
                "is not an agent setting",
                f"use only {', '.join(sorted(_AGENT_KEYS))}",
            )
    for k in ("name", "password_hash", "languages", "queues"):
        if item.get(k) is None:
            raise ConfigError(
                file, f"{key}.{k}", "is missing", f"add '{k}:' to the agent"
            )
    name = item["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            file,
            f"{key}.name",
            f"{name!r} is not a login name",
            "use lowercase letters, digits, '.', '_' or '-'",
        )
    problem = check_hash_format(item["password_hash"])
    if problem:
        raise ConfigError(
            file,
            f"{key}.password_hash",
            problem,
            "make one with: python -m bot inbox hash-password "
            "(never store the password)",
        )
    return Agent(
        name=name,
        password_hash=item["password_hash"],
        languages=_str_list(file, f"{key}.languages", item["languages"], _LANG),
        queues=_str_list(file, f"{key}.queues", item["queues"], None),
        display_name=str(item.get("display_name") or ""),
    )

