"""Settings from ``supportbot.yml``: one file beside Rasa's own, validated on load.

Each feature module owns the validation of its own section (``bot.hours`` parses
``business_hours``, ``bot.tickets`` parses ``tickets`` …); this module only finds the file,
parses the YAML with a clear error, and hands out sections together with a ``where``
label so that every error can name the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

#: Environment variable that points at another settings file (tests, deployments).
CONFIG_ENV = "SUPPORTBOT_CONFIG"
DEFAULT_FILE = "supportbot.yml"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Section:
    """One top-level section of the settings file, with enough context for errors."""

    name: str
    data: Mapping[str, Any]
    file: Path
    base_dir: Path

    def where(self, key: str = "") -> str:
        """Dotted key path used in error messages, e.g. ``tickets.database``."""
        return f"{self.name}.{key}" if key else self.name

    def error(self, key: str, problem: str, fix: str = "") -> ConfigError:
        """A ConfigError naming this file and ``<section>.<key>``."""
        return ConfigError(str(self.file), self.where(key), problem, fix)

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def require(self, key: str) -> Any:
        if key not in self.data or self.data[key] is None:
            raise self.error(key, "is missing", f"add '{key}:' under '{self.name}:'")
        return self.data[key]

    def path(self, key: str, default: str | None = None) -> Path:
        """A path setting, resolved relative to the settings file's folder."""
        raw = self.data.get(key, default)
        if raw is None:
            raise self.error(key, "is missing", f"add '{key}: <path>' under '{self.name}:'")
        if not isinstance(raw, str) or not raw.strip():
            raise self.error(key, f"must be a path, got {raw!r}")
        p = Path(os.path.expandvars(raw)).expanduser()
        return p if p.is_absolute() else self.base_dir / p


@dataclass(frozen=True)
class Settings:
    """The parsed settings file. Sections are validated by the modules that use them."""

    file: Path
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.file.parent

    def section(self, name: str, *, required: bool = True) -> Section:
        raw = self.data.get(name)
        if raw is None:
            if required:
                raise ConfigError(
                    str(self.file), name, "section is missing", f"add a '{name}:' section"
                )
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                str(self.file), name, f"must be a mapping, got {type(raw).__name__}"
            )
        return Section(name=name, data=raw, file=self.file, base_dir=self.base_dir)


def settings_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the settings file is: explicit argument, $SUPPORTBOT_CONFIG, or the project's."""
    if explicit:
        return Path(explicit).resolve()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).resolve()
    return PROJECT_ROOT / DEFAULT_FILE


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and parse the settings file; a broken file raises ConfigError naming it."""
    file = settings_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(file), "", "settings file not found", f"create it or set ${CONFIG_ENV}"
        ) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        loc = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(str(file), "", f"invalid YAML at {loc}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(str(file), "", "top level must be a mapping of sections")
    return Settings(file=file, data=data)


def write_isolated_copy(
    folder: Path, source: Path | None = None, **overrides: Mapping[str, Any]
) -> Path:
    """A copy of the settings for a bot whose own files live in ``folder``; returns its path.

    For end-to-end tests and benchmarks, which start several bots beside the real one: the
    shared read-only inputs (KB articles, index, embedding model) keep pointing at the
    project's, made absolute so the copy works from ``folder``; the ticket database moves
    into ``folder``, and every other relative path (translation packages, ...) now resolves
    inside it, so runs never share state. ``overrides`` are ``section={key: value}`` and
    replace keys within that section.
    """
    source = source or PROJECT_ROOT / DEFAULT_FILE
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    kb = data["knowledge_base"]
    for key in ("articles", "index_dir", "model", "nlu"):
        if key in kb:  # nlu: the phrasings indexed with the articles (same data hash)
            kb[key] = str((source.parent / kb[key]).resolve())
    data["tickets"]["database"] = str(folder / "tickets.sqlite3")
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    path = folder / "supportbot.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
