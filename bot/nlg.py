"""Responses in the customer's language: native, else machine-translated, else honest.

Rasa's extension point for responses is the NLG class named in endpoints.yml; Rasa 3.6
(rasa/core/nlg/generator.py) imports it by module path and calls
``cls(endpoint_config=..., domain=...)``::

    nlg:
      type: bot.nlg.TranslatingNLG

It wraps Rasa's templated NLG (domain.yml responses with one variation per language,
conditional on the ``language`` slot) and decides per response:

1. The conversation's language has a variation (editors wrote one), or is the default
   language the unconditioned variation is written in: that variation, as Rasa would.
2. Otherwise, if translation from the default language is installed and
   ``translation.outbound`` is on: the unconditioned variation machine-translated before
   its ``{placeholders}`` are filled (they are protected during translation), button
   titles too. The bot event's metadata says ``machine_translated: true`` and carries
   the source text under ``translation``, so the ticket transcript marks the turn;
   the first such message of a conversation ends with the configured short notice
   (``translation.notice``).
3. Otherwise the unconditioned (default-language) variation, and once per conversation
   the apology ``utter_language_fallback`` in front of it, which offers an agent who
   speaks the customer's language. The same apology comes first when the customer's
   detected language is not native and cannot be served at all (no package installed):
   action_set_language then answers in the default language.

Runs in the Rasa server: translation uses bot.translate's CTranslate2 engine in a worker
thread, so one slow translation does not stall other conversations.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from bot.language import LanguageSettings
from bot.settings import load_settings
from bot.translate import (
    LANGUAGE_FALLBACK,
    MACHINE_TRANSLATED,
    OUTBOUND,
    Translation,
    TranslationSettings,
    Translator,
    apology_due,
    flag_in_bot_events,
    notice_for,
    translator_for,
)

logger = logging.getLogger(__name__)

LANGUAGE_SLOT = "language"
DETECTED_SLOT = "detected_language"
#: The response that apologises for answering in the default language.
FALLBACK_RESPONSE = "utter_language_fallback"
_SEPARATOR = (
    "\n\n"  # channels show paragraphs separately (the web chat: one bubble each)
)


class TranslatingNLG(TemplatedNaturalLanguageGenerator):
    """Rasa's templated NLG plus machine translation and the language apology."""

    def __init__(
        self,
        endpoint_config: Any = None,
        domain: Domain | None = None,
        *,
        translator: Translator | None = None,
    ) -> None:
        super().__init__((domain or Domain.empty()).responses)
        settings = load_settings()
        self.languages = LanguageSettings.from_section(settings.section("languages"))
        self.translation = TranslationSettings.from_settings(settings)
        self.translator = translator or translator_for(self.translation)

    # ---------------------------------------------------------------- decisions
    def native_languages(self, utter_action: str) -> set[str]:
        """Languages ``utter_action`` has a hand-written variation in."""
        found = {self.languages.default}
        for variant in self.responses.get(utter_action, []):
            for condition in variant.get("condition") or []:
                if condition.get("name") == LANGUAGE_SLOT and isinstance(
                    condition.get("value"), str
                ):
                    found.add(condition["value"].lower())
        return found

    def _apology_due(
        self, tracker: DialogueStateTracker, slots: Mapping[str, Any]
    ) -> bool:
        return apology_due(
            slots.get(LANGUAGE_SLOT),
            slots.get(DETECTED_SLOT),
            tracker.events,
            native=self.languages.supported,
            default=self.languages.default,
            translator=self.translator,
        )

    # ---------------------------------------------------------------- generation
    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """The response for ``utter_action`` in the conversation's language."""
        slots = tracker.current_slot_values()
        language = slots.get(LANGUAGE_SLOT)
        if utter_action == FALLBACK_RESPONSE:
            response = self.generate_from_slots(
                utter_action, slots, output_channel, **kwargs
            )
            if response is not None:
                response[LANGUAGE_FALLBACK] = True
                response["language"] = self.languages.default
            return response
        if not isinstance(language, str) or language in self.native_languages(
            utter_action
        ):
            response = self.generate_from_slots(
                utter_action, slots, output_channel, **kwargs
            )
            if response is not None and self._apology_due(tracker, slots):
                response = self._with_apology(response, slots, output_channel)
            return response
        source = self.languages.default
        if self.translator.can_translate(source, language, OUTBOUND):
            translated = await self._translated(
                utter_action, tracker, slots, output_channel, source, language, **kwargs
            )
            if translated is not None:
                return translated
        response = self.generate_from_slots(
            utter_action, slots, output_channel, **kwargs
        )
        if response is None:
            return None
        response["language"] = source
        if language not in self.languages.supported and not flag_in_bot_events(
            tracker.events, LANGUAGE_FALLBACK
        ):
            response = self._with_apology(response, slots, output_channel)
        return response

    def _with_apology(
        self, response: dict[str, Any], slots: Mapping[str, Any], output_channel: str
    ) -> dict[str, Any]:
        apology = self.generate_from_slots(FALLBACK_RESPONSE, slots, output_channel)
        if apology and apology.get("text"):
            text = response.get("text")
            response["text"] = (
                f"{apology['text']}{_SEPARATOR}{text}" if text else apology["text"]
            )
            response[LANGUAGE_FALLBACK] = True
        return response

    async def _translated(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        slots: Mapping[str, Any],
        output_channel: str,
        source: str,
        target: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        template = self._random_response_for(utter_action, output_channel, dict(slots))
        if template is None:
            return None
        template = copy.deepcopy(template)
        original = self._fill_response(copy.deepcopy(template), dict(slots), **kwargs)
        buttons = [b for b in template.get("buttons") or [] if isinstance(b, dict)]
        texts = [template.get("text") or ""] + [
            str(b.get("title", "")) for b in buttons
        ]
        loop = asyncio.get_running_loop()
        try:
            results: list[Translation] = await loop.run_in_executor(
                None, self.translator.translate_batch, texts, source, target
            )
            for button, result in zip(buttons, results[1:], strict=True):
                button["title"] = result.text
            template.pop("condition", None)
            if results[0].complete:
                template["text"] = results[0].text
                response = self._fill_response(template, dict(slots), **kwargs)
            else:
                # The model dropped a placeholder: translate the filled text instead.
                retry = await loop.run_in_executor(
                    None,
                    self.translator.translate,
                    original.get("text") or "",
                    source,
                    target,
                )
                if not retry.complete:
                    logger.warning(
                        "%s: translation lost %s; answering in %s",
                        utter_action,
                        retry.lost,
                        source,
                    )
                    return None
                results[0] = retry
                template["text"] = retry.text
                filled = self._fill_response(
                    {k: v for k, v in template.items() if k != "text"},
                    dict(slots),
                    **kwargs,
                )
                response = {**filled, "text": retry.text}
        except Exception:  # a broken model must not silence the bot
            logger.exception(
                "outbound translation %s→%s of %s failed", source, target, utter_action
            )
            return None
        notice = notice_for(
            self.translation,
            target,
            flag_in_bot_events(tracker.events, MACHINE_TRANSLATED),
        )
        if notice and response.get("text"):
            response["text"] = f"{response['text']}{_SEPARATOR}{notice}"
        response["language"] = target
        response[MACHINE_TRANSLATED] = True
        response["translation"] = {
            **results[0].to_dict(),
            "text": original.get("text") or "",
            "language": source,
        }
        return response
