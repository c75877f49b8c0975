"""The inbox's seam to machine translation (bot/translate.py, built separately).

The inbox needs two directions: a customer turn into the agent's language (to read),
and the agent's reply into the customer's language (to send). ``Translator`` is all it
asks for; ``load_translator()`` adapts bot.translate when it is installed and offers a
path, and otherwise returns ``NoTranslation``, with which the inbox shows the
stored pivot translation (``Turn.translation``) and sends replies as typed.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Translator(Protocol):
    def translate(self, text: str, source: str, target: str) -> str | None:
        """``text`` in ``target``, or None when there is no translation path."""
        ...


class NoTranslation:
    """No translation models: every call answers None (no path)."""

    def translate(self, text: str, source: str, target: str) -> str | None:
        return None


class _BotTranslate:
    """Adapter over bot.translate; any failure there means "no path" for this text."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def translate(self, text: str, source: str, target: str) -> str | None:
        if not text.strip() or source == target:
            return None
        func = getattr(self._module, "translate", None)
        if func is None:
            return None
        try:
            result = func(text, source, target)
        except Exception:  # a missing pair or model is "no path", not a broken page
            logger.info("no translation %s->%s", source, target, exc_info=True)
            return None
        return result if isinstance(result, str) and result.strip() else None


def load_translator() -> Translator:
    """bot.translate when it exists, else ``NoTranslation``."""
    try:
        import bot.translate as module  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return NoTranslation()
    return _BotTranslate(module)
