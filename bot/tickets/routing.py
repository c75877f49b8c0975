"""Which queue a ticket goes to, how urgent it is, and its tags. Pure functions.

* Queue: ``<topic>-<language>``. The topic comes from the conversation's intents (the
  most recent intent that belongs to a topic wins: it is what the customer was talking
  about when they asked for a human); the language is the customer's when agents speak
  it, otherwise ``en``.
* Priority: ``high`` for a double charge, an account deletion, a complaint, or urgency
  words (English, Arabic, Slovenian, checked in every message whatever its language);
  ``normal`` otherwise.
* Tags: the conversation's intents, minus small talk and dialogue control.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Escalation reasons (TicketDraft.reason).
ASKED_FOR_HUMAN = "asked_for_human"
REPEATED_FALLBACK = "repeated_fallback"
COMPLAINT = "complaint"
KB_NOT_HELPFUL = "kb_not_helpful"
AFTER_HOURS_REQUEST = "after_hours_request"
REASONS: tuple[str, ...] = (
    ASKED_FOR_HUMAN,
    REPEATED_FALLBACK,
    COMPLAINT,
    KB_NOT_HELPFUL,
    AFTER_HOURS_REQUEST,
)

GENERAL = "general"
#: Topic -> intents of that topic (domain.yml).
TOPIC_INTENTS: Mapping[str, tuple[str, ...]] = {
    "billing": ("double_charge", "payment_methods", "invoice_request", "discount_code"),
    "subscription": ("cancel_subscription", "change_plan"),
    "orders": (
        "order_status", "shipping_time", "change_address", "return_refund",
        "damaged_item",
    ),
    "account": ("reset_password", "delete_account"),
}
TOPICS: tuple[str, ...] = (*TOPIC_INTENTS, GENERAL)
_TOPIC_OF: dict[str, str] = {
    intent: topic for topic, intents in TOPIC_INTENTS.items() for intent in intents
}

#: Languages the agents answer in; other languages go to the English queue.
DEFAULT_QUEUE_LANGUAGES: tuple[str, ...] = ("en", "ar", "sl")
FALLBACK_QUEUE_LANGUAGE = "en"

HIGH = "high"
NORMAL = "normal"
HIGH_PRIORITY_INTENTS = frozenset({"double_charge", "delete_account", "complaint"})

#: Urgency words per language. Latin-script entries are word *prefixes* ("urgen"
#: matches urgent, urgently, urgency; "prevar" matches prevara, prevaro, prevarant);
#: Arabic entries match inside a word, because Arabic attaches the article and
#: conjunctions to it (الاحتيال, بالاحتيال). Matching ignores case, Arabic diacritics
#: and hamza forms of alef.
URGENCY_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("urgen", "asap", "immediate", "fraud", "lawyer", "attorney"),
    "ar": ("عاجل", "مستعجل", "فورا", "احتيال", "محامي"),
    "sl": ("nujn", "nujen", "takoj", "prevar", "odvetni", "goljuf"),
}

#: Intents that say nothing about the case: never tags.
UNTAGGED_INTENTS = frozenset({
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "out_of_scope",
    "nlu_fallback", "choose_article", "request_human", "not_helpful",
})


@dataclass(frozen=True)
class Routing:
    """Where a ticket goes: ``queue`` ("billing-sl"), ``priority``, ``tags``."""

    queue: str
    priority: str
    tags: tuple[str, ...]


def topic_for(intents: Sequence[str]) -> str:
    """The topic of the most recent topical intent, else ``general``."""
    for intent in reversed(intents):
        if intent in _TOPIC_OF:
            return _TOPIC_OF[intent]
    return GENERAL


def queue_language(
    language: str | None,
    supported_queue_languages: Sequence[str] = DEFAULT_QUEUE_LANGUAGES,
) -> str:
    """``language`` if agents speak it ("sl-SI" counts as "sl"), otherwise ``en``."""
    base = (language or "").replace("_", "-").split("-")[0].strip().lower()
    supported = [lang.lower() for lang in supported_queue_languages]
    if base in supported:
        return base
    if FALLBACK_QUEUE_LANGUAGE in supported or not supported:
        return FALLBACK_QUEUE_LANGUAGE
    return supported[0]


_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ALEF_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})
_WORD = re.compile(r"\w+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _ARABIC_MARKS.sub("", text).translate(_ALEF_FORMS)


def urgency_words_in(texts: Sequence[str]) -> tuple[str, ...]:
    """The ``URGENCY_WORDS`` entries found in ``texts``, in table order."""
    words = {w for text in texts if text for w in _WORD.findall(_normalise(text))}
    found = []
    for entries in URGENCY_WORDS.values():
        for entry in entries:
            needle = _normalise(entry)
            arabic = any("\u0600" <= ch <= "\u06ff" for ch in needle)
            if any(
                (needle in word) if arabic else word.startswith(needle)
                for word in words
            ):
                found.append(entry)
    return tuple(found)


def route(
    intents: Sequence[str],
    language: str,
    reason: str,
    texts: Sequence[str],
    supported_queue_languages: Sequence[str] = DEFAULT_QUEUE_LANGUAGES,
) -> Routing:
    """Queue, priority and tags for a conversation being escalated.

    Args:
        intents: the customer's intents in conversation order.
        language: the customer's language code.
        reason: why the bot escalates (one of ``REASONS``).
        texts: the customer's messages (originals; translations may be added).
        supported_queue_languages: languages agents answer in.
    """
    topic = topic_for(intents)
    queue = f"{topic}-{queue_language(language, supported_queue_languages)}"
    high = (
        reason == COMPLAINT
        or any(intent in HIGH_PRIORITY_INTENTS for intent in intents)
        or bool(urgency_words_in(texts))
    )
    tags = tuple(
        dict.fromkeys(i for i in intents if i and i not in UNTAGGED_INTENTS)
    )
    return Routing(queue=queue, priority=HIGH if high else NORMAL, tags=tags)
