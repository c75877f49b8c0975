"""Rasa 3.6 NLU component that detects the language of every user message.

Put it FIRST in the pipeline (config.yml), before the tokenizer; the translation
component follows it and reads what it writes::

    pipeline:
      - name: bot.nlu.language.LanguageDetector
      - name: WhitespaceTokenizer
      ...

It sets the message property ``language`` to :meth:`bot.language.Detection.to_dict`
(``{"language": "sl", "confidence": 0.97, "method": "combined",
"candidates": [["sl", 0.97], ...], "words": 4}``) with ``add_to_output=True``, so it
appears in Rasa's parse_data and in ``tracker.latest_message["language"]``. It is the
raw detection of this one message; the conversation's language (the sticky rule) is
:func:`bot.language.choose_language`, applied by whoever keeps per-conversation state.

Component type: ``MESSAGE_FEATURIZER``, not trainable. Of the recipe's types only
tokenizers and featurizers run on training data (``process_training_data``) as well as
on messages, in pipeline order; a featurizer may stand before the tokenizer because it
needs nothing from it. So training examples and live messages both carry ``language``,
which the translation component placed after it needs in both phases. An
``INTENT_CLASSIFIER``-type component would also run first at prediction time, but
never during training. It adds no features, so Rasa's featurizer checks ignore it.

Languages: the config keys ``supported``, ``also_detect`` and ``default`` may be given
in config.yml; each one left out is read from the ``languages:`` section of
supportbot.yml ($SUPPORTBOT_CONFIG or the project's file) when the component is created
(``rasa train`` and server start), so the settings file stays the single place to
configure languages. The resolved values are part of the fingerprint, so changing them
re-runs this node (and everything after it) on the next ``rasa train``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import language as lid
from bot.errors import ConfigError
from bot.language import Detection, LanguageSettings, check_language_codes
from bot.nlu.component import (
    ComponentConfigError,
    ConfigOnlyComponent,
    check_known_keys,
)
from bot.settings import load_settings

logger = logging.getLogger(__name__)

#: Message property (and parse_data key) the component writes.
LANGUAGE = "language"
#: Metadata key Rasa's NLUMessageConverter puts the channel's metadata under.
METADATA = "metadata"

# Config keys.
#: Languages with native NLU data. Default None: read ``languages.supported`` from
#: supportbot.yml.
SUPPORTED = "supported"
#: Other languages the detector may answer (hr/sr/bs are reported as "hbs").
#: Default None: read ``languages.also_detect`` from supportbot.yml.
ALSO_DETECT = "also_detect"
#: Fallback language, kept with the detection settings for callers of the sticky rule.
#: Default None: read ``languages.default`` from supportbot.yml.
DEFAULT = "default"
#: Metadata keys holding a locale hint, first present wins. Default: ``language_hint``
#: (set by our connectors, e.g. Telegram's language_code) then ``locale`` (browser).
HINT_KEYS = "hint_keys"

_KEYS = (SUPPORTED, ALSO_DETECT, DEFAULT, HINT_KEYS)
#: Rasa's intent payloads ("/affirm", '/choose_article{"article_id": "x"}'), sent by
#: buttons and by channels (Telegram's /start, a photo's /unsupported_content). They
#: are in no language ("/unsupported_content" reads as English), so only the channel's
#: hint counts: a first message answers in the customer's locale, later ones keep it.
INTENT_PAYLOAD = re.compile(r"^/[^\s{@/]+(@[0-9.]+)?(\{.*\})?$", re.S)


class LanguageConfigError(ComponentConfigError):
    """A bad component config, naming the key and the fix; Rasa's CLI prints it."""

    component = "LanguageDetector"


_error = LanguageConfigError.for_key


def validate_config(config: Mapping[str, Any]) -> None:
    """Check the component's config; raises LanguageConfigError naming key and fix."""
    check_known_keys(config, _KEYS, LanguageConfigError)
    for key in (SUPPORTED, ALSO_DETECT):
        value = config.get(key)
        if value is None:
            continue
        try:
            check_language_codes(value, key)
        except ValueError as exc:
            raise _error(
                key,
                str(exc).split(": ", 1)[-1],
                "a list of ISO 639-1 codes such as [en, sl], or leave it out to "
                "use supportbot.yml",
            ) from None
    if config.get(SUPPORTED) is not None and not config[SUPPORTED]:
        raise _error(SUPPORTED, "is empty", "list at least one language")
    default = config.get(DEFAULT)
    if default is not None and not isinstance(default, str):
        raise _error(DEFAULT, f"must be a language code, got {default!r}", "e.g. en")
    hint_keys = config.get(HINT_KEYS)
    if not isinstance(hint_keys, (list, tuple)) or not all(
        isinstance(k, str) for k in hint_keys
    ):
        raise _error(
            HINT_KEYS,
            f"must be a list of metadata keys, got {hint_keys!r}",
            "e.g. [language_hint, locale]",
        )


def resolve_settings(config: Mapping[str, Any]) -> LanguageSettings:
    """Languages from config.yml, completed from supportbot.yml's ``languages:``."""
    explicit = {k: config.get(k) for k in (SUPPORTED, ALSO_DETECT, DEFAULT)}
    if (
        explicit[SUPPORTED] is not None
        and explicit[ALSO_DETECT] is not None
        and (explicit[DEFAULT] is not None)
    ):
        file_settings = None
    else:
        try:
            file_settings = LanguageSettings.from_section(
                load_settings().section("languages")
            )
        except ConfigError as exc:
            raise LanguageConfigError.wrapping(
                exc,
                f"or give '{SUPPORTED}', '{ALSO_DETECT}' and '{DEFAULT}' in "
                f"config.yml under {LanguageConfigError.component}",
            ) from None
    supported = explicit[SUPPORTED] or (
        file_settings.supported if file_settings else ()
    )
    also = explicit[ALSO_DETECT]
    if also is None:
        also = file_settings.also_detect if file_settings else ()
    default = explicit[DEFAULT] or (
        file_settings.default if file_settings else supported[0]
    )
    supported_codes = check_language_codes(supported, SUPPORTED)
    if default.strip().lower() not in supported_codes:
        raise _error(
            DEFAULT,
            f"'{default}' is not a supported language {list(supported_codes)}",
            "set it to one of them or add it to 'supported'",
        )
    kwargs: dict[str, Any] = {}
    if file_settings is not None:
        kwargs = {
            "switch_confidence": file_settings.switch_confidence,
            "min_words_to_switch": file_settings.min_words_to_switch,
        }
    return LanguageSettings(
        supported=supported_codes,
        default=default.strip().lower(),
        also_detect=check_language_codes(also, ALSO_DETECT),
        **kwargs,
    )


def _detector_digest() -> str:
    """Hash of the language package's sources and fitted weights."""
    digest = hashlib.sha256()
    folder = Path(lid.__file__).parent
    for path in [*sorted(folder.glob("*.py")), folder / "weights.json"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False
)
class LanguageDetector(ConfigOnlyComponent):
    """Writes ``language`` (a :class:`bot.language.Detection` dict) on every message."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            SUPPORTED: None,  # None: languages.supported from supportbot.yml
            ALSO_DETECT: None,  # None: languages.also_detect from supportbot.yml
            DEFAULT: None,  # None: languages.default from supportbot.yml
            HINT_KEYS: ["language_hint", "locale"],  # metadata keys with a locale
        }

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa uses these names both to import (module) and to fingerprint (pkg_resources
        # distribution). lingua's module and distribution (lingua-language-detector)
        # differ, so it cannot be listed; warm_up() in __init__ imports it at start-up.
        return ["py3langid", "simplemma"]

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Resolved languages, the detector's source and weights, so changes re-run."""
        try:
            merged = {**cls.get_default_config(), **config}
            settings = resolve_settings(merged)
        except Exception:  # create() reports configuration errors properly
            return None
        payload = {
            "settings": [
                settings.supported,
                settings.also_detect,
                settings.default,
            ],
            "hint_keys": merged.get(HINT_KEYS),
            "detector": _detector_digest(),
        }
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True, default=list).encode("utf-8")
        ).hexdigest()

    def __init__(self, config: dict[str, Any]) -> None:
        config = {**self.get_default_config(), **config}
        validate_config(config)
        self.settings = resolve_settings(config)
        self.hint_keys: tuple[str, ...] = tuple(config[HINT_KEYS])
        self.detector = lid.LanguageDetector.from_settings(self.settings)
        self.detector.warm_up()  # model problems surface at start-up, not mid-chat

    def _hint(self, message: Message) -> str | None:
        metadata = message.get(METADATA)
        if not isinstance(metadata, Mapping):
            return None
        for key in self.hint_keys:
            value = metadata.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return None

    def detect(self, message: Message) -> Detection | None:
        """Detect and store one message's language; None for messages without text."""
        text = message.get(TEXT)
        if not isinstance(text, str):
            return None
        if INTENT_PAYLOAD.match(text.strip()):
            text = ""
        detection = self.detector.detect(text, hint=self._hint(message))
        message.set(LANGUAGE, detection.to_dict(), add_to_output=True)
        return detection

    def process(self, messages: list[Message]) -> list[Message]:
        """Set ``language`` on each message (prediction, end-to-end featurization)."""
        for message in messages:
            self.detect(message)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Set ``language`` on each training example that has text."""
        for example in training_data.training_examples:
            self.detect(example)
        return training_data
