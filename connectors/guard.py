"""What every channel checks before a customer's words reach Rasa: one rule, one place.

Rasa reads any user text that starts with ``/`` (after ``strip()``) as
``/intent{"entity": "value"}`` and skips NLU (``YAMLStoryReader.unpack_regex_message``).
That is how buttons work, and it let a customer type ``/csat_score{"score": 5}``,
``/EXTERNAL_ask_csat``, ``/restart`` or ``/session_start`` (issue 10). So:

* **Typed text is text.** :func:`neutral_text` removes the leading slashes (and the
  spaces around them) before Rasa sees the message, so NLU classifies the words that are
  left ("restart" is just a word); the customer's original text is kept in the message
  metadata under ``typed_text`` so transcripts show what they wrote. Dropping the slash
  instead of, say, escaping it keeps NLU's input ordinary words it was trained on, and
  the metadata keeps the transcript honest. A text of slashes only becomes
  :data:`SLASHES_ONLY`, a word NLU treats as out of scope.
* **A button payload counts only when the bot offered it.** A message may be an intent
  payload when it equals (after ``strip()``, JSON spacing aside: :func:`canonical_payload`)
  a payload of the buttons of the bot's latest message that had buttons in this
  conversation (:func:`offered_payloads`);
  anything else is typed text. The tracker is the record of what was offered, so this
  needs no signing key and works across restarts and servers.
* ``/greet`` and ``/unsupported_content`` (:data:`ALWAYS_ALLOWED`) may always be sent:
  the first is Telegram's ``/start``, the second what Telegram and WhatsApp make of a
  photo or voice note (:data:`UNSUPPORTED_CONTENT`); neither does more than answer.

Web chat calls :func:`screen` with the conversation's events; Telegram and WhatsApp
(their callback data and button/list reply ids) go through the same function in
connectors/durable.py before their message becomes Rasa's.

What a webhook body may hold at all (UTF-8, no lone surrogates, bounded nesting) is
:mod:`connectors.strict_json`'s rule, applied before anything reaches this module.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from rasa.shared.core.events import BotUttered, Event

#: Rasa's intent prefix (rasa.shared.constants.INTENT_MESSAGE_PREFIX).
INTENT_PREFIX = "/"
#: What an attachment without caption becomes; domain.yml answers it per language.
UNSUPPORTED_CONTENT = "/unsupported_content"
#: Payloads anybody may send as text (see the module docstring).
ALWAYS_ALLOWED = frozenset({"/greet", UNSUPPORTED_CONTENT})
#: What a message made only of slashes is given to NLU as.
SLASHES_ONLY = "slash"
#: Metadata key holding the customer's text when the text given to Rasa differs.
TYPED_TEXT_KEY = "typed_text"


class Screened(NamedTuple):
    """A message's text as Rasa gets it, and the customer's own text when different."""

    text: str
    typed: str | None


def neutral_text(text: str) -> str:
    """``text`` without the leading slashes that would make Rasa read it as an intent."""
    rest = text.strip()
    while rest.startswith(INTENT_PREFIX):
        rest = rest.lstrip(INTENT_PREFIX).strip()
    return rest or SLASHES_ONLY


def canonical_payload(payload: str) -> str:
    """``/intent{"a": "b"}`` with its JSON compact, so channels' re-encodings compare equal.

    Telegram sends a payload's JSON without spaces (callback data holds 64 bytes), so
    the payload the bot offered and the one that comes back differ only in spacing.
    """
    payload = payload.strip()
    brace = payload.find("{")
    if payload.startswith(INTENT_PREFIX) and brace > 0:
        try:
            entities = json.loads(payload[brace:])
        except ValueError:
            return payload
        return payload[:brace] + json.dumps(
            entities, separators=(",", ":"), ensure_ascii=False, sort_keys=True
        )
    return payload


def offered_payloads(events: Iterable[Event]) -> frozenset[str]:
    """Payloads of the buttons of the bot's latest message that had buttons (canonical)."""
    offered: frozenset[str] = frozenset()
    for event in events:
        if isinstance(event, BotUttered):
            data = event.data or {}
            raw = data.get("buttons") or data.get("quick_replies")
            if isinstance(raw, list) and raw:
                offered = frozenset(
                    canonical_payload(str(b["payload"]))
                    for b in raw
                    if isinstance(b, Mapping) and b.get("payload")
                )
    return offered


def looks_like_payload(text: str) -> bool:
    """Whether Rasa would read ``text`` as ``/intent{…}``: only then is there anything to check.

    Callers skip reading the conversation (what was offered) for every other message.
    """
    return text.strip().startswith(INTENT_PREFIX)


def screen(text: str, offered: Iterable[str]) -> Screened:
    """The text Rasa may see: an offered payload as it is, anything else as plain text."""
    if not looks_like_payload(text):
        return Screened(text, None)
    stripped = text.strip()
    if stripped in ALWAYS_ALLOWED or canonical_payload(stripped) in set(offered):
        return Screened(text, None)
    return Screened(neutral_text(text), text)


def screened_metadata(metadata: Mapping[str, Any], screened: Screened) -> dict[str, Any]:
    """``metadata`` with the customer's original text when it was neutralised."""
    out = dict(metadata)
    out.pop(TYPED_TEXT_KEY, None)  # only this module sets it
    if screened.typed is not None:
        out[TYPED_TEXT_KEY] = screened.typed
    return out
