"""The ticket transcript from Rasa tracker events, and a one-line summary.

Input is ``tracker.events`` as rasa_sdk hands it to an action: a list of JSON dicts in
the shape of Rasa 3.6's ``Event.as_dict()``. Used here:

* ``{"event": "user", "timestamp": 1767261600.12, "text": …, "input_channel": …,
  "message_id": …, "parse_data": {"intent": {"name": …, "confidence": …},
  "language": {"language": "sl", "confidence": 0.99}, "translation": …}}``.
  ``language`` is written by bot.nlu's language detector; ``translation`` (the pivot
  text, a string, or a mapping with ``text``) by the translator when it ran.
* ``{"event": "bot", "timestamp": …, "text": …, "data": {"buttons": …, …},
  "metadata": {"utter_action": …, "kb_articles": [...], "language": …}}``. Our actions
  put the offered article ids in ``metadata.kb_articles``. A bot event whose metadata
  says ``"speaker": "agent"`` (or ``"system"``) is recorded as that speaker, so the
  inbox can write agent replies into the conversation the same way.

A bot turn's language is ``metadata.language`` when the action set it, else the value
of the ``language`` slot at that point (the slot selects the response variation).
A machine-translated bot turn (``metadata.machine_translated``, set by bot.nlg and
actions.common) keeps the text the customer read and, under ``translation``, the
default-language text it was translated from.
Every other event (action, session_started, pause, …) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, cast

from bot.tickets.model import SPEAKERS, Speaker, Turn

_EPOCH = datetime.fromtimestamp(0, tz=timezone.utc)
#: The slot that holds the language the bot answers in (domain.yml).
LANGUAGE_SLOT = "language"
#: Intents that say nothing about the case; left out of the summary.
SMALL_TALK_INTENTS = frozenset({
    "greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "choose_article",
})


def _when(raw: Any, previous: datetime | None) -> datetime:
    """Rasa timestamps are float epoch seconds; a missing one repeats the previous."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return datetime.fromtimestamp(raw, tz=timezone.utc)
    return previous or _EPOCH


def _text(raw: Any) -> str | None:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping) and isinstance(raw.get("text"), str):
        return cast(str, raw["text"])
    return None


def _language(parse_data: Mapping[str, Any]) -> str | None:
    raw = parse_data.get("language")
    if isinstance(raw, Mapping):
        raw = raw.get("language")
    return raw if isinstance(raw, str) and raw else None


def _float(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return None


def _buttons(data: Any) -> str:
    if not isinstance(data, Mapping):
        return ""
    titles = [
        str(b.get("title") or b.get("payload"))
        for b in data.get("buttons") or ()
        if isinstance(b, Mapping) and (b.get("title") or b.get("payload"))
    ]
    return f"[{' | '.join(titles)}]" if titles else ""


def _user_turn(event: Mapping[str, Any], at: datetime) -> Turn:
    parse = event.get("parse_data") or {}
    intent = parse.get("intent") or {}
    name = intent.get("name") if isinstance(intent, Mapping) else None
    confidence = intent.get("confidence") if isinstance(intent, Mapping) else None
    return Turn(
        at=at,
        speaker="customer",
        text=event.get("text") or "",
        language=_language(parse),
        translation=_text(parse.get("translation")),
        intent=name if isinstance(name, str) else None,
        confidence=_float(confidence) if name else None,
        message_id=event.get("message_id") or parse.get("message_id"),
        channel=event.get("input_channel"),
    )


def _bot_turn(
    event: Mapping[str, Any], at: datetime, channel: str | None, language: str | None
) -> Turn:
    metadata = event.get("metadata") or {}
    speaker = metadata.get("speaker", "bot")
    text = event.get("text") or ""
    buttons = _buttons(event.get("data"))
    if buttons:
        text = f"{text}\n{buttons}" if text else buttons
    if not text and metadata.get("utter_action"):
        text = f"[{metadata['utter_action']}]"
    articles = metadata.get("kb_articles") or ()
    return Turn(
        at=at,
        speaker=cast(Speaker, speaker if speaker in SPEAKERS else "bot"),
        text=text,
        language=metadata.get("language") or language,
        translation=_text(metadata.get("translation")),
        kb_articles=tuple(str(a) for a in articles if a is not None),
        message_id=metadata.get("message_id"),
        channel=channel,
    )


def turns_from_events(events: Iterable[Mapping[str, Any]]) -> list[Turn]:
    """Every user and bot turn, in order, from tracker events as JSON dicts.

    Bot turns carry the channel of the customer message before them (replies go out
    where the message came in).
    """
    turns: list[Turn] = []
    previous: datetime | None = None
    channel: str | None = None
    answer_language: str | None = None
    for event in events:
        kind = event.get("event")
        if kind == "slot" and event.get("name") == LANGUAGE_SLOT:
            value = event.get("value")
            answer_language = value if isinstance(value, str) and value else None
        if kind not in ("user", "bot"):
            continue
        at = _when(event.get("timestamp"), previous)
        previous = at
        if kind == "user":
            turn = _user_turn(event, at)
            channel = turn.channel or channel
        else:
            turn = _bot_turn(event, at, channel, answer_language)
        turns.append(turn)
    return turns


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:  # end on a whole word when one is near
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def summarise(turns: Sequence[Turn], intents: Sequence[str]) -> str:
    """One line: the first customer message (and its translation) and the intents seen.

    "First" skips greetings, small talk and button payloads ("/affirm") when a later
    message says more; small-talk intents are left out of the list.

    ``Customer (sl): "Dvakrat ste mi zaračunali" [translation: "You charged me
    twice"] | intents: double_charge, request_human | 4 customer messages``.
    Deterministic, no ML.
    """
    customer = [t for t in turns if t.speaker == "customer" and t.text.strip()]
    substantive = [
        t for t in customer
        if t.intent not in SMALL_TALK_INTENTS and not t.text.startswith("/")
    ]
    parts = []
    if customer:
        first = (substantive or customer)[0]
        lang = f" ({first.language})" if first.language else ""
        line = f'Customer{lang}: "{_one_line(first.text, 80)}"'
        if first.translation and first.translation.strip() != first.text.strip():
            line += f' [translation: "{_one_line(first.translation, 60)}"]'
        parts.append(line)
    else:
        parts.append("No customer message")
    seen = list(dict.fromkeys(i for i in intents if i and i not in SMALL_TALK_INTENTS))
    parts.append(f"intents: {', '.join(seen)}" if seen else "no intents")
    if len(customer) > 1:
        parts.append(f"{len(customer)} customer messages")
    return " | ".join(parts)


def turns_after(stored: Sequence[Turn], turns: Sequence[Turn]) -> list[Turn]:
    """The turns of ``turns`` newer than the last stored one (what a ticket lacks).

    A second escalation in a conversation that already has an open ticket (the
    customer asked again, or wrote after a crash) adds only what happened since.
    """
    if not stored:
        return list(turns)
    last = max(t.at for t in stored)
    return [t for t in turns if t.at > last]


def translate_for_agents(
    turns: Sequence[Turn],
    agent_language: str,
    translate: Callable[[str, str, str], str | None],
    *,
    pivot: str = "en",
) -> list[Turn]:
    """Customer turns with ``translation`` in the agent's language, where a path exists.

    A customer turn's ``translation`` is the inbound pivot translation NLU used (Rasa's
    parse_data). When the queue's agents read the pivot that is kept; otherwise the
    original text is translated into ``agent_language`` with ``translate(text, source,
    target)``, which returns None when no path is installed (the turn then keeps what it
    had). Turns already in the agent's language, button payloads and bot turns are left
    as they are. Pure apart from ``translate``.
    """
    out: list[Turn] = []
    for turn in turns:
        if (
            turn.speaker != "customer"
            or not turn.language
            or turn.language == agent_language
            or not turn.text.strip()
            or turn.text.startswith("/")
            or (turn.translation and agent_language == pivot)
        ):
            out.append(turn)
            continue
        translated = translate(turn.text, turn.language, agent_language)
        out.append(replace(turn, translation=translated) if translated else turn)
    return out
