"""What our Rasa NLU components share: config errors that name the key, and the checks.

Every component here (bot.nlu.language, bot.nlu.translation, bot.nlu.e5_featurizer)
must fail on a bad config.yml entry the way the rest of the project does:
``config.yml: pipeline[<Component>].<key>: <problem> (fix: <fix>)``, as an error that
is also Rasa's InvalidConfigException, so ``rasa train`` and the server print it
instead of a traceback. Written once here so the components cannot drift apart.

Not a component itself (nothing here is registered with the recipe): config.yml names
the components by their own modules.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from typing_extensions import Self

from bot.errors import ConfigError


class ComponentConfigError(ConfigError, InvalidConfigException):
    """A bad component config, naming the key and the fix; Rasa's CLI prints it.

    Each component subclasses it (so callers can catch one component's errors) and
    sets :attr:`component`, the class name config.yml's key path shows.
    """

    #: The component's class name: keys read ``pipeline[<component>].<key>``.
    component: ClassVar[str] = "component"

    @classmethod
    def for_key(cls, key: str, problem: str, fix: str) -> Self:
        """The error for one key of the component's config.yml entry."""
        return cls("config.yml", f"pipeline[{cls.component}].{key}", problem, fix)

    @classmethod
    def wrapping(cls, exc: ConfigError, fix: str = "") -> Self:
        """``exc`` (e.g. from supportbot.yml) as this component's error; ``fix`` if it has none."""
        return cls(exc.file, exc.key, exc.problem, exc.fix or fix)


def check_known_keys(
    config: Mapping[str, Any], known: Sequence[str], error: type[ComponentConfigError]
) -> None:
    """Refuse a key the component does not read, suggesting the closest known one."""
    for key in config:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"use {', '.join(known)}"
            raise error.for_key(str(key), "unknown key", fix)


def check_flag(
    config: Mapping[str, Any], key: str, error: type[ComponentConfigError], fix: str
) -> None:
    """Refuse anything but true/false for ``key`` (YAML's "yes" or 1 are mistakes here)."""
    if not isinstance(config.get(key), bool):
        raise error.for_key(key, f"must be true or false, got {config.get(key)!r}", fix)


class ConfigOnlyComponent(GraphComponent):
    """A component built from its config alone: no node name, nothing persisted.

    Rasa's ``create`` hands over storage and context that such a component never reads;
    subclasses take ``config`` (merged with their defaults) in ``__init__``.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        """Subclasses validate and keep what they need from ``config``."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> Self:
        """Rasa's constructor hook: the component from its config."""
        return cls(config)
