"""The inbox's use of machine translation (bot.translate).

The inbox needs two directions: a customer turn into the agent's language (to read),
and the agent's reply into the customer's language (to send). ``Translator`` is all it
asks for: ``translate(text, source, target)`` giving the text, or None when there is no
installed path (or translation is switched off). With None the inbox shows the stored
pivot translation (``Turn.translation``) and sends the reply as typed: a missing model
degrades the page, it never breaks it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.settings import Settings
from bot.translate import (
    TranslationSettings,
    TranslationUnavailable,
    translator_for,
)
from bot.translate import Translator as MachineTranslator

logger = logging.getLogger(__name__)


class Translator(Protocol):
    def translate(self, text: str, source: str, target: str) -> str | None:
        """``text`` in ``target``, or None when there is no translation path."""
        ...


class NoTranslation:
    """Translation switched off: every call answers None (no path)."""

    def translate(self, text: str, source: str, target: str) -> str | None:
        return None


class InboxTranslator:
    """bot.translate for agents; a missing pair or a failing model means "no path"."""

    def __init__(self, machine: MachineTranslator) -> None:
        self.machine = machine

    def translate(self, text: str, source: str, target: str) -> str | None:
        if not text.strip() or not source or not target or source == target:
            return None
        if not self.machine.can_translate(source, target):
            return None
        try:
            result = self.machine.translate(text, source, target)
        except TranslationUnavailable:
            return None
        except Exception:  # a broken model must not break an agent's page
            logger.exception("inbox translation %s->%s failed", source, target)
            return None
        # A translation that lost a URL or placeholder would mislead: send it as typed.
        if not result.complete or not result.text.strip():
            return None
        return result.text


def load_translator(settings: Settings) -> Translator:
    """The translator for the ``translation:`` settings (``NoTranslation`` when off)."""
    config = TranslationSettings.from_settings(settings)
    if not config.enabled:
        return NoTranslation()
    return InboxTranslator(translator_for(config))
