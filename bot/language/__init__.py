"""Language identification for short chat messages, and the sticky conversation rule.

Used in both environments (the Rasa 3.10 server through ``bot.nlu.language`` and the
3.11 action server), so nothing here imports Rasa. The package keeps one rule per
module, and this file re-exports the public names so ``from bot.language import ...``
stays the one import path:

* :mod:`~bot.language.codes`: supported codes, scripts, the hr/sr/bs group, locales.
* :mod:`~bot.language.text`: cleaning a message down to the words that carry language.
* :mod:`~bot.language.evidence`: py3langid, lingua and simplemma's dictionaries,
  restricted to the configured languages of one script.
* :mod:`~bot.language.model` and ``weights.json``: the fitted logistic regression that
  combines them (fitted by :mod:`~bot.language.fit` on bench/data/lid_fit.tsv).
* :mod:`~bot.language.detector`: :class:`Detection` and :class:`LanguageDetector`.
* :mod:`~bot.language.sticky`: :func:`choose_language`.
* :mod:`~bot.language.settings`: :class:`LanguageSettings` (supportbot.yml).
"""

from bot.language.codes import (
    GROUP_CODE,
    GROUP_MEMBERS,
    KNOWN_LANGUAGES,
    LANGUAGE_SCRIPTS,
    check_language_codes,
    normalize_code,
    script_of,
)
from bot.language.detector import (
    HINT_CONFIDENCE,
    MIN_CONFIDENCE,
    SCRIPT_CONFIDENCE,
    WEAK_CONFIDENCE,
    Detection,
    LanguageDetector,
)
from bot.language.settings import LanguageSettings
from bot.language.sticky import choose_language
from bot.language.text import MAX_CHARS, NEUTRAL_TOKENS

__all__ = [
    "GROUP_CODE",
    "GROUP_MEMBERS",
    "HINT_CONFIDENCE",
    "KNOWN_LANGUAGES",
    "LANGUAGE_SCRIPTS",
    "MAX_CHARS",
    "MIN_CONFIDENCE",
    "NEUTRAL_TOKENS",
    "SCRIPT_CONFIDENCE",
    "WEAK_CONFIDENCE",
    "Detection",
    "LanguageDetector",
    "LanguageSettings",
    "check_language_codes",
    "choose_language",
    "normalize_code",
    "script_of",
]
