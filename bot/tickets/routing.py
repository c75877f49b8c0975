"""Which queue a ticket goes to, how urgent it is, its tags, and whose hours apply.

The rules are data: the ``routing:`` section of ``supportbot.yml`` (``RoutingRules.
from_section``; ``DEFAULT_RULES`` is what an install without that section gets). The
decisions are pure functions of the conversation:

* Queue: ``<queue>-<language>``. The queue is the one listing the most recent topical
  intent of the conversation (what the customer talked about when they asked for a
  human), else ``default_queue``; the language is the customer's when that queue's
  agents speak it, otherwise ``fallback_language`` (or the queue's first language).
* Priority: ``high`` for listed intents (double charge, account deletion, complaint),
  listed escalation reasons, or urgency words (checked in every message whatever its
  language); ``normal`` otherwise. A repeat contact (another ticket from the same
  customer within ``repeat_contact_days``) raises it one level (normal → high → urgent).
* Tags: the conversation's case intents (no small talk), ``kb:<article>`` for every
  knowledge-base article the bot offered, and ``repeat_contact``.
* Hours: a queue may have its own ``hours:`` (same shape as ``business_hours``); a
  queue without them uses ``business_hours``. The after-hours promise comes from these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.hours import BusinessHours
from bot.settings import Section, Settings

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
#: Topic -> intents of that topic (domain.yml); the defaults of ``routing.queues``.
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

#: Languages the agents answer in; other languages go to the English queue.
DEFAULT_QUEUE_LANGUAGES: tuple[str, ...] = ("en", "ar", "sl")
FALLBACK_QUEUE_LANGUAGE = "en"

PRIORITY_LEVELS: tuple[str, ...] = ("low", "normal", "high", "urgent")
HIGH = "high"
NORMAL = "normal"
HIGH_PRIORITY_INTENTS = frozenset({"double_charge", "delete_account", "complaint"})
HIGH_PRIORITY_REASONS = frozenset({COMPLAINT})
REPEAT_CONTACT_TAG = "repeat_contact"
KB_TAG_PREFIX = "kb:"

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

_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@dataclass(frozen=True)
class Queue:
    """A team: the intents it handles, the languages its agents speak, its hours."""

    name: str
    intents: tuple[str, ...] = ()
    languages: tuple[str, ...] = DEFAULT_QUEUE_LANGUAGES
    #: None: the queue works ``business_hours``.
    hours: BusinessHours | None = None


@dataclass(frozen=True)
class RoutingRules:
    """The validated ``routing:`` section."""

    queues: tuple[Queue, ...]
    default_queue: str = GENERAL
    fallback_language: str = FALLBACK_QUEUE_LANGUAGE
    high_intents: frozenset[str] = HIGH_PRIORITY_INTENTS
    high_reasons: frozenset[str] = HIGH_PRIORITY_REASONS
    urgency_words: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(URGENCY_WORDS)
    )
    #: Another ticket from the same customer within this many days bumps the
    #: priority one level; 0 turns the rule off.
    repeat_contact_days: int = 7
    untagged_intents: frozenset[str] = UNTAGGED_INTENTS
    #: Tag tickets with ``kb:<article id>`` for every article the bot offered.
    tag_kb_articles: bool = True

    def __post_init__(self) -> None:
        names = [q.name for q in self.queues]
        if self.default_queue not in names:
            raise ValueError(f"default_queue {self.default_queue!r} is not a queue")

    def queue(self, name: str) -> Queue:
        """The queue called ``name``; ``billing-sl`` finds ``billing`` too."""
        for q in self.queues:
            if name == q.name or name.rsplit("-", 1)[0] == q.name:
                return q
        raise KeyError(f"no queue {name!r} in routing.queues")

    def hours_for(self, queue: str, default: BusinessHours) -> BusinessHours:
        """The hours of ``queue`` (a name or ``name-language``), else ``default``."""
        try:
            own = self.queue(queue).hours
        except KeyError:
            own = None
        return own or default

    @property
    def repeat_window(self) -> timedelta | None:
        """How far back a previous ticket counts as a repeat contact (None: off)."""
        days = self.repeat_contact_days
        return timedelta(days=days) if days else None

    # ------------------------------------------------------------ construction

    @classmethod
    def from_settings(cls, settings: Settings) -> RoutingRules:
        """``routing:`` from the settings file; the defaults when it is absent."""
        return cls.from_section(settings.section("routing", required=False))

    @classmethod
    def from_section(cls, section: Section) -> RoutingRules:
        """Parse and validate ``routing:``; every error names the exact key and fix."""
        _only(section, "", section.data, {
            "queues", "default_queue", "fallback_language", "priority", "tags",
        })
        queues = _parse_queues(section, section.get("queues"))
        names = [q.name for q in queues]
        default_queue = section.get("default_queue", GENERAL)
        if default_queue not in names:
            raise section.error(
                "default_queue", f"{default_queue!r} is not one of the queues",
                f"use one of {', '.join(names)}",
            )
        fallback = _language(section, "fallback_language",
                             section.get("fallback_language", FALLBACK_QUEUE_LANGUAGE))
        priority = _mapping(section, "priority", section.get("priority", {}))
        _only(section, "priority", priority, {
            "high_intents", "high_reasons", "urgency_words", "repeat_contact_days",
        })
        high_intents = _strings(
            section, "priority.high_intents",
            priority.get("high_intents", sorted(HIGH_PRIORITY_INTENTS)),
        )
        high_reasons = _strings(
            section, "priority.high_reasons",
            priority.get("high_reasons", sorted(HIGH_PRIORITY_REASONS)),
        )
        for i, reason in enumerate(high_reasons):
            if reason not in REASONS:
                raise section.error(
                    f"priority.high_reasons[{i}]",
                    f"{reason!r} is no escalation reason",
                    f"use some of {', '.join(REASONS)}",
                )
        words_raw = _mapping(
            section, "priority.urgency_words",
            priority.get(
                "urgency_words", {k: list(v) for k, v in URGENCY_WORDS.items()}
            ),
        )
        urgency = {}
        for lang, words in words_raw.items():
            key = f"priority.urgency_words.{lang}"
            _language(section, key, lang)
            urgency[str(lang)] = tuple(_strings(section, key, words))
        days = priority.get("repeat_contact_days", 7)
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise section.error(
                "priority.repeat_contact_days",
                f"must be a whole number of days (0 turns it off), got {days!r}",
                "e.g. 'repeat_contact_days: 7'",
            )
        tags = _mapping(section, "tags", section.get("tags", {}))
        _only(section, "tags", tags, {"ignore_intents", "kb_articles"})
        ignore = _strings(
            section, "tags.ignore_intents",
            tags.get("ignore_intents", sorted(UNTAGGED_INTENTS)),
        )
        kb = tags.get("kb_articles", True)
        if not isinstance(kb, bool):
            raise section.error(
                "tags.kb_articles", f"must be true or false, got {kb!r}",
                "write 'kb_articles: true'",
            )
        return cls(
            queues=queues, default_queue=default_queue, fallback_language=fallback,
            high_intents=frozenset(high_intents), high_reasons=frozenset(high_reasons),
            urgency_words=urgency, repeat_contact_days=days,
            untagged_intents=frozenset(ignore), tag_kb_articles=kb,
        )


DEFAULT_RULES = RoutingRules(
    queues=(
        *(Queue(name, intents) for name, intents in TOPIC_INTENTS.items()),
        Queue(GENERAL),
    ),
)


@dataclass(frozen=True)
class Routing:
    """Where a ticket goes: ``queue`` ("billing-sl"), ``priority``, ``tags``."""

    queue: str
    priority: str
    tags: tuple[str, ...]


# ------------------------------------------------------------------ decisions


def topic_for(intents: Sequence[str], rules: RoutingRules = DEFAULT_RULES) -> str:
    """The queue of the most recent intent some queue lists, else the default queue."""
    owner = {i: q.name for q in rules.queues for i in q.intents}
    for intent in reversed(intents):
        if intent in owner:
            return owner[intent]
    return rules.default_queue


def queue_language(
    language: str | None,
    supported_queue_languages: Sequence[str] = DEFAULT_QUEUE_LANGUAGES,
    fallback: str = FALLBACK_QUEUE_LANGUAGE,
) -> str:
    """``language`` if agents speak it ("sl-SI" counts as "sl"), else ``fallback``.

    When the queue's agents speak neither, its first language.
    """
    base = (language or "").replace("_", "-").split("-")[0].strip().lower()
    supported = [lang.lower() for lang in supported_queue_languages]
    if base in supported:
        return base
    if fallback in supported or not supported:
        return fallback
    return supported[0]


_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ALEF_FORMS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"})
_WORD = re.compile(r"\w+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _ARABIC_MARKS.sub("", text).translate(_ALEF_FORMS)


def urgency_words_in(
    texts: Sequence[str], words_by_language: Mapping[str, Sequence[str]] = URGENCY_WORDS
) -> tuple[str, ...]:
    """The urgency entries found in ``texts``, in table order."""
    words = {w for text in texts if text for w in _WORD.findall(_normalise(text))}
    found = []
    for entries in words_by_language.values():
        for entry in entries:
            needle = _normalise(entry)
            arabic = any("\u0600" <= ch <= "\u06ff" for ch in needle)
            if any(
                (needle in word) if arabic else word.startswith(needle)
                for word in words
            ):
                found.append(entry)
    return tuple(found)


def _raise(priority: str) -> str:
    index = PRIORITY_LEVELS.index(priority)
    return PRIORITY_LEVELS[min(index + 1, len(PRIORITY_LEVELS) - 1)]


def route(
    intents: Sequence[str],
    language: str,
    reason: str,
    texts: Sequence[str],
    *,
    rules: RoutingRules = DEFAULT_RULES,
    kb_articles: Sequence[str] = (),
    previous_tickets: int = 0,
) -> Routing:
    """Queue, priority and tags for a conversation being escalated.

    Args:
        intents: the customer's intents in conversation order.
        language: the customer's language code.
        reason: why the bot escalates (one of ``REASONS``).
        texts: the customer's messages (originals; translations may be added).
        rules: the routing rules (``routing:`` in supportbot.yml).
        kb_articles: ids of the knowledge-base articles the bot offered.
        previous_tickets: the customer's other tickets within
            ``rules.repeat_window`` (the caller asks the store).
    """
    queue = rules.queue(topic_for(intents, rules))
    lang = queue_language(language, queue.languages, rules.fallback_language)
    high = (
        reason in rules.high_reasons
        or any(intent in rules.high_intents for intent in intents)
        or bool(urgency_words_in(texts, rules.urgency_words))
    )
    priority = HIGH if high else NORMAL
    tags = [i for i in intents if i and i not in rules.untagged_intents]
    if rules.tag_kb_articles:
        tags += [f"{KB_TAG_PREFIX}{a}" for a in kb_articles if a]
    if previous_tickets > 0 and rules.repeat_contact_days:
        priority = _raise(priority)
        tags.append(REPEAT_CONTACT_TAG)
    return Routing(
        queue=f"{queue.name}-{lang}", priority=priority,
        tags=tuple(dict.fromkeys(tags)),
    )


# ------------------------------------------------------------------ parsing helpers


def _kind(raw: Any) -> str:
    return "nothing" if raw is None else type(raw).__name__


def _only(section: Section, key: str, data: Mapping[str, Any], known: set[str]) -> None:
    for name in data:
        if name not in known:
            where = f"{key}.{name}" if key else str(name)
            raise section.error(
                where, "is not a routing setting",
                f"use only {', '.join(sorted(known))}",
            )


def _mapping(section: Section, key: str, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise section.error(key, f"must be a mapping, got {_kind(raw)}",
                            f"indent the settings of '{key}' under it")
    return raw


def _strings(section: Section, key: str, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(
        isinstance(x, str) and x.strip() for x in raw
    ):
        raise section.error(
            key, f"must be a list of names, got {raw!r}", "write e.g. [a, b]"
        )
    return [x.strip() for x in raw]


def _language(section: Section, key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not _LANGUAGE.match(raw):
        raise section.error(
            key, f"{raw!r} is not a language code", "use ISO 639-1 codes such as en, sl"
        )
    return raw


def _parse_queues(section: Section, raw: Any) -> tuple[Queue, ...]:
    if raw is None:
        return DEFAULT_RULES.queues
    queues_raw = _mapping(section, "queues", raw)
    if not queues_raw:
        raise section.error("queues", "lists no queue", "add at least 'general:'")
    queues: list[Queue] = []
    owner: dict[str, str] = {}
    for name, spec in queues_raw.items():
        key = f"queues.{name}"
        if not isinstance(name, str) or not _QUEUE_NAME.match(name):
            raise section.error(
                key, "is not a queue name",
                "use lowercase letters, digits and _ (no '-': it joins the language)",
            )
        spec = _mapping(section, key, spec if spec is not None else {})
        _only(section, key, spec, {"intents", "languages", "hours"})
        intents = _strings(section, f"{key}.intents", spec.get("intents", []))
        for i, intent in enumerate(intents):
            if intent in owner:
                raise section.error(
                    f"{key}.intents[{i}]", f"{intent!r} is already in queue "
                    f"{owner[intent]!r}", "list each intent in one queue only",
                )
            owner[intent] = name
        languages = _strings(
            section, f"{key}.languages",
            spec.get("languages", list(DEFAULT_QUEUE_LANGUAGES)),
        )
        if not languages:
            raise section.error(
                f"{key}.languages", "is empty", "list the languages its agents speak"
            )
        for i, lang in enumerate(languages):
            _language(section, f"{key}.languages[{i}]", lang)
        hours = None
        if spec.get("hours") is not None:
            hours_raw = _mapping(section, f"{key}.hours", spec["hours"])
            hours = BusinessHours.from_section(Section(
                name=section.where(f"{key}.hours"), data=hours_raw, file=section.file,
                base_dir=section.base_dir,
            ))
        queues.append(Queue(name, tuple(intents), tuple(languages), hours))
    return tuple(queues)
