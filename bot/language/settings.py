"""The ``languages:`` section of supportbot.yml, validated at start-up.

A code no evidence source supports fails here, naming the key, the code and the
supported list, so ``make run`` stops before a server starts (issue 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.language.codes import check_language_codes
from bot.settings import Section


@dataclass(frozen=True)
class LanguageSettings:
    """The ``languages:`` section of supportbot.yml, validated."""

    supported: tuple[str, ...]
    default: str
    also_detect: tuple[str, ...] = ()
    switch_confidence: float = 0.9
    min_words_to_switch: int = 2

    KEYS = (
        "supported",
        "default",
        "also_detect",
        "switch_confidence",
        "min_words_to_switch",
    )

    @classmethod
    def from_section(cls, section: Section) -> LanguageSettings:
        """Read and validate the section; ConfigError names the key and the fix."""
        for key in section.data:
            if key not in cls.KEYS:
                raise section.error(
                    str(key), "unknown key", f"use one of: {', '.join(cls.KEYS)}"
                )
        values: dict[str, Any] = {}
        for key in ("supported", "also_detect"):
            raw = section.require(key) if key == "supported" else section.get(key, [])
            try:
                values[key] = check_language_codes(raw or [], key)
            except ValueError as exc:
                raise section.error(
                    key, str(exc).split(": ", 1)[-1], "list ISO 639-1 codes: [en, sl]"
                ) from None
        if not values["supported"]:
            raise section.error("supported", "is empty", "list at least one language")
        default = section.get("default", values["supported"][0])
        if (
            not isinstance(default, str)
            or default.strip().lower() not in values["supported"]
        ):
            raise section.error(
                "default",
                f"{default!r} is not one of the supported languages "
                f"{list(values['supported'])}",
                "set it to one of them or add it to 'supported'",
            )
        confidence = section.get("switch_confidence", 0.9)
        if (
            isinstance(confidence, bool)
            or not isinstance(confidence, (int, float))
            or not 0.0 < float(confidence) <= 1.0
        ):
            raise section.error(
                "switch_confidence",
                f"must be a number in (0, 1], got {confidence!r}",
                "0.9 keeps conversations steady",
            )
        min_words = section.get("min_words_to_switch", 2)
        if (
            isinstance(min_words, bool)
            or not isinstance(min_words, int)
            or min_words < 1
        ):
            raise section.error(
                "min_words_to_switch",
                f"must be a whole number >= 1, got {min_words!r}",
                "2 ignores one-word replies such as 'thanks'",
            )
        return cls(
            supported=values["supported"],
            default=default.strip().lower(),
            also_detect=tuple(c for c in values["also_detect"]),
            switch_confidence=float(confidence),
            min_words_to_switch=min_words,
        )
