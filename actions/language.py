"""action_set_language: makes the detected language sticky per conversation.

The NLU component (bot.nlu.language) detects each message on its own; whether that
detection should change the conversation's language needs the conversation's history,
which only the tracker has. Rasa runs this action as the `custom` slot mapping of the
`language` slot on every user turn, so the rule lives in one pure function
(bot.language.choose_language) and the slot is always set before any response renders.

Two slots: ``detected_language`` is the customer's language by the sticky rule (also
when the bot cannot serve it: tickets and the language apology read it); ``language`` is
the one the bot answers in. They are equal for native languages and for languages with
an installed translation path (German through the de↔en packages, say); otherwise the
bot answers in a close supported language or the default and says so once (bot.nlg).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import get_translator
from bot.language import Detection, choose_language
from bot.services import get_services
from bot.translate import servable


def language_hint(metadata: dict[str, Any] | None) -> str | None:
    """A locale the channel knows (Telegram language_code, browser language)."""
    metadata = metadata or {}
    hint = metadata.get("language_hint") or metadata.get("locale")
    return str(hint).split("-")[0].split("_")[0].lower() if hint else None


#: A supported language must have at least this share of the detector's probability to
#: answer a message detected as an unsupported neighbour (e.g. sl behind hbs).
CLOSE_CANDIDATE_MIN = 0.3


def close_supported(detection: Detection, supported: tuple[str, ...] | list[str]) -> str | None:
    """The best supported runner-up of a detection, if it is a serious candidate."""
    for code, probability in detection.candidates:
        if code in supported and probability >= CLOSE_CANDIDATE_MIN:
            return code
    return None


class ActionSetLanguage(Action):
    def name(self) -> str:
        return "action_set_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        langs = get_services().languages
        message = tracker.latest_message or {}
        raw = message.get("language")
        detection = Detection.from_dict(raw) if isinstance(raw, dict) else Detection.none()
        previous = tracker.get_slot("language")
        hint = language_hint(message.get("metadata"))
        # The customer's language by the sticky rule, whether or not we can serve it
        # (kept in detected_language for tickets and the language apology) ...
        known = tracker.get_slot("detected_language") or previous
        customer = choose_language(
            known,
            detection,
            default=langs.default,
            switch_confidence=langs.switch_confidence,
            min_words_to_switch=langs.min_words_to_switch,
            hint=hint,
        )
        # ... and the language we answer in: the customer's when it is native or has an
        # installed translation path (bot.translate). Otherwise a close supported
        # language the detector also saw (a Slovenian question py3langid leans
        # Croatian on), else the conversation's language or the default.
        translator = get_translator()
        chosen = customer
        if not servable(customer, langs.supported, translator):
            chosen = close_supported(detection, langs.supported) or (
                previous
                if servable(previous, langs.supported, translator)
                else langs.default
            )
        events = []
        if chosen != previous:
            events.append(SlotSet("language", chosen))
        if customer != tracker.get_slot("detected_language"):
            events.append(SlotSet("detected_language", customer))
        return events
