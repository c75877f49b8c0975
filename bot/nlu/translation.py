"""Rasa 3.6 NLU component: understand languages without native data through translation.

Put it right after the language detector (config.yml)::

    pipeline:
      - name: bot.nlu.language.LanguageDetector
      - name: bot.nlu.translation.Translator
      - name: WhitespaceTokenizer
      ...

For each message it reads ``language`` (written by the detector). When that language has
no native NLU data and an installed path to the pivot language exists (and
``translation.inbound`` is on), the text the rest of the pipeline featurises becomes the
translation, and the message gets ``translation`` (with ``add_to_output``, so it lands
in ``parse_data`` and in the tracker's user event)::

    {"text": "Where is my order?", "original": "Wo ist meine Bestellung?",
     "source": "de", "target": "en", "path": ["de", "en"], "ms": 4.1,
     "cached": false, "engine": "ctranslate2"}

Rasa keeps the customer's original text as the user event's ``text``; ``parse_data
["text"]`` is the text NLU understood (the pivot translation). bot.tickets.transcript
puts both into the ticket.

Runs in the Rasa server (Python 3.10, no torch): bot.translate's CTranslate2 engine
reads argos packages directly. Packages are looked up on every message (one ``stat`` of
the folder), so ``python -m bot models install/remove`` takes effect without a restart.
A translation failure is logged and the message goes on untranslated: never a failed
turn.

Component type: ``MESSAGE_FEATURIZER``, not trainable, like the detector, so it runs in
pipeline order before the tokenizer. Training data is native by definition and passes
through untouched (installing a package must not change what a retrain learns).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.errors import ConfigError
from bot.language import LanguageSettings
from bot.nlu.component import (
    ComponentConfigError,
    ConfigOnlyComponent,
    check_known_keys,
)
from bot.settings import load_settings
from bot.translate import (
    INBOUND,
    TranslationSettings,
    check_engine_available,
    translator_for,
)
from bot.translate import (
    Translator as TranslatorService,
)

logger = logging.getLogger(__name__)

#: Message property (and parse_data key) this component writes.
TRANSLATION = "translation"
#: Message property the language detector writes.
LANGUAGE = "language"

# Config keys.
#: Languages with native NLU data. Default None: ``languages.supported`` of
#: supportbot.yml (one folder per language in data/nlu).
NATIVE = "native"
#: Detections below this confidence are not translated (too unsure to be worth it).
MIN_CONFIDENCE = "min_confidence"

_KEYS = (NATIVE, MIN_CONFIDENCE)


class TranslationConfigError(ComponentConfigError):
    """A bad component config, naming the key and the fix; Rasa's CLI prints it."""

    component = "Translator"


_error = TranslationConfigError.for_key


def validate_config(config: Mapping[str, Any]) -> None:
    """Check the config; raises TranslationConfigError naming the key and the fix."""
    check_known_keys(config, _KEYS, TranslationConfigError)
    native = config.get(NATIVE)
    if native is not None and (
        not isinstance(native, (list, tuple))
        or not all(isinstance(c, str) for c in native)
    ):
        raise _error(
            NATIVE,
            f"must be a list of language codes, got {native!r}",
            "e.g. [en, ar, sl], or leave it out to use supportbot.yml",
        )
    threshold = config.get(MIN_CONFIDENCE)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not (0.0 <= float(threshold) <= 1.0)
    ):
        raise _error(
            MIN_CONFIDENCE,
            f"must be a number in [0, 1], got {threshold!r}",
            "leave it out (0.0)",
        )


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class Translator(ConfigOnlyComponent):
    """Replaces a non-native message's text by its pivot translation, keeping both."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            NATIVE: None,  # None: languages.supported from supportbot.yml
            MIN_CONFIDENCE: 0.0,  # translate every non-native detection
        }

    @staticmethod
    def required_packages() -> list[str]:
        return ["ctranslate2", "sentencepiece"]

    def __init__(
        self, config: dict[str, Any], service: TranslatorService | None = None
    ) -> None:
        config = {**self.get_default_config(), **config}
        validate_config(config)
        try:
            settings = load_settings()
            self.settings = TranslationSettings.from_settings(settings)
            native = config[NATIVE]
            if native is None:
                native = LanguageSettings.from_section(
                    settings.section("languages")
                ).supported
            check_engine_available(self.settings.engine)
        except ConfigError as exc:
            raise TranslationConfigError.wrapping(exc) from None
        self.native = frozenset(c.lower() for c in native)
        self.min_confidence = float(config[MIN_CONFIDENCE])
        self.service = service or translator_for(self.settings)
        pairs = self.service.installed_pairs()
        logger.info(
            "translation component: native %s, pivot %s, installed %s",
            sorted(self.native),
            self.settings.pivot,
            ", ".join(f"{a}→{b}" for a, b in pairs) or "none",
        )

    def _source_language(self, message: Message) -> str | None:
        detection = message.get(LANGUAGE)
        if not isinstance(detection, Mapping):
            return None
        language = detection.get("language")
        confidence = detection.get("confidence") or 0.0
        if not isinstance(language, str) or language in self.native:
            return None
        if float(confidence) < self.min_confidence:
            return None
        return language

    def translate(self, message: Message) -> dict[str, Any] | None:
        """Translate one message in place when it needs it; returns what was stored."""
        text = message.get(TEXT)
        if not isinstance(text, str) or not text.strip() or text.startswith("/"):
            return None  # button payloads ("/affirm") are not language
        source = self._source_language(message)
        pivot = self.settings.pivot
        if source is None or not self.service.can_translate(source, pivot, INBOUND):
            return None
        try:
            result = self.service.translate(text, source, pivot)
        except Exception:  # a broken model must not break the turn
            logger.exception(
                "inbound translation %s→%s failed; using the original", source, pivot
            )
            return None
        stored = {**result.to_dict(), "original": text}
        message.set(TEXT, result.text)
        message.set(TRANSLATION, stored, add_to_output=True)
        return stored

    def process(self, messages: list[Message]) -> list[Message]:
        """Translate each message that needs it (prediction)."""
        for message in messages:
            self.translate(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data is native by definition: unchanged (see the module doc)."""
        return training_data
