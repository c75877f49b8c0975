"""What an agent receives: the ticket, its draft, and the transcript turns.

Times are timezone-aware datetimes; stores keep them in UTC. A ``TicketDraft`` is what
the escalation action builds; the store turns it into a ``Ticket`` by giving it a
number, a creation time and the status ``new``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, cast, get_args

Speaker = Literal["customer", "bot", "agent", "system"]
TicketStatus = Literal["new", "open", "pending", "resolved"]

SPEAKERS: tuple[str, ...] = get_args(Speaker)
#: Chatwoot's vocabulary (STYLE 13): new until an agent looks, open while handled,
#: pending while waiting on the customer or held by the bot, resolved when done.
STATUSES: tuple[str, ...] = get_args(TicketStatus)
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")

#: Ticket references read "LU-000042" (Lumo support).
REF_PREFIX = "LU"
_REF_RE = re.compile(rf"^\s*#?\s*(?:{REF_PREFIX}\s*-?\s*)?0*(\d+)\s*$", re.IGNORECASE)


def format_ref(number: int) -> str:
    """``42`` -> ``"LU-000042"``."""
    return f"{REF_PREFIX}-{number:06d}"


def parse_ref(text: str | int) -> int:
    """Ticket number from ``"LU-000042"``, ``"lu-42"``, ``"#42"`` or ``"42"``.

    Raises:
        ValueError: the text is no ticket reference.
    """
    if isinstance(text, int):
        number = text
    else:
        m = _REF_RE.match(text)
        if not m:
            raise ValueError(
                f"{text!r} is not a ticket reference "
                f"(expected e.g. {format_ref(42)} or 42)"
            )
        number = int(m.group(1))
    if number <= 0:
        raise ValueError(f"ticket numbers start at 1, got {number}")
    return number


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(
            f"{name} must be timezone-aware, got naive {value.isoformat()}"
        )


def datetime_to_json(value: datetime) -> str:
    """ISO 8601 in UTC with offset, e.g. ``2026-03-02T08:15:00.250000+00:00``."""
    return value.astimezone(timezone.utc).isoformat()


def _json_time(value: datetime | None) -> str | None:
    return datetime_to_json(value) if value is not None else None


def datetime_from_json(value: str) -> datetime:
    """Inverse of ``datetime_to_json``; a naive string is read as UTC."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True)
class Turn:
    """One message in the conversation, as the agent sees it.

    ``text`` is the original text; ``translation`` the pivot-language translation when
    there was one; ``intent``/``confidence`` the NLU result for customer turns;
    ``kb_articles`` the ids of knowledge-base articles offered in a bot turn.
    """

    at: datetime
    speaker: Speaker
    text: str
    language: str | None = None
    translation: str | None = None
    intent: str | None = None
    confidence: float | None = None
    kb_articles: tuple[str, ...] = ()
    message_id: str | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        _require_aware("Turn.at", self.at)
        if self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {SPEAKERS}, got {self.speaker!r}")
        if not isinstance(self.kb_articles, tuple):
            object.__setattr__(self, "kb_articles", tuple(self.kb_articles))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC strings)."""
        return {
            "at": datetime_to_json(self.at),
            "speaker": self.speaker,
            "text": self.text,
            "language": self.language,
            "translation": self.translation,
            "intent": self.intent,
            "confidence": self.confidence,
            "kb_articles": list(self.kb_articles),
            "message_id": self.message_id,
            "channel": self.channel,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Turn:
        """Inverse of ``to_json``; missing optional keys default to None/empty."""
        confidence = data.get("confidence")
        return cls(
            at=datetime_from_json(data["at"]),
            speaker=cast(Speaker, data["speaker"]),
            text=data.get("text") or "",
            language=data.get("language"),
            translation=data.get("translation"),
            intent=data.get("intent"),
            confidence=None if confidence is None else float(confidence),
            kb_articles=tuple(data.get("kb_articles") or ()),
            message_id=data.get("message_id"),
            channel=data.get("channel"),
        )


def turns_to_json(turns: Iterable[Turn]) -> str:
    """Serialise turns to a JSON array string (UTF-8 text kept readable)."""
    return json.dumps([t.to_json() for t in turns], ensure_ascii=False)


def turns_from_json(text: str) -> list[Turn]:
    """Parse a JSON array written by ``turns_to_json``."""
    data = json.loads(text)
    if not isinstance(data, list):
        raise ValueError("a transcript must be a JSON array of turns")
    return [Turn.from_json(item) for item in data]


@dataclass(frozen=True)
class TicketDraft:
    """Everything the escalation knows; the store adds number, time and status."""

    conversation_id: str
    channel: str
    customer_id: str
    language: str
    reason: str
    queue: str
    priority: str = "normal"
    after_hours: bool = False
    promised_reply_at: datetime | None = None
    tags: tuple[str, ...] = ()
    summary: str = ""
    transcript: list[Turn] = field(default_factory=list)
    #: Same key, same ticket: a retried escalation returns the ticket already created.
    dedupe_key: str | None = None

    def __post_init__(self) -> None:
        _require_aware("promised_reply_at", self.promised_reply_at)
        if self.priority not in PRIORITIES:
            raise ValueError(
                f"priority must be one of {PRIORITIES}, got {self.priority!r}"
            )
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))
        if not isinstance(self.transcript, list):
            object.__setattr__(self, "transcript", list(self.transcript))


@dataclass(frozen=True, kw_only=True)
class Ticket(TicketDraft):
    """A stored ticket: the draft's fields plus number, times and status."""

    number: int
    created_at: datetime
    status: TicketStatus = "new"
    updated_at: datetime | None = None
    #: The agent who took the ticket (assigning opens it); None while unassigned.
    assignee: str | None = None
    #: The customer's answer to the satisfaction question, 1 (bad) .. 5 (great).
    csat: int | None = None
    #: When an agent first answered the customer (set once, never moved).
    first_response_at: datetime | None = None
    #: When the ticket was last resolved; None while it is not resolved.
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("created_at", "updated_at", "first_response_at", "resolved_at"):
            _require_aware(name, getattr(self, name))
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.csat is not None:
            check_csat(self.csat)

    @property
    def ref(self) -> str:
        """The reference the customer and the agent see, e.g. ``LU-000042``."""
        return format_ref(self.number)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field, with ``ref`` and the transcript."""
        return {
            "ref": self.ref,
            "number": self.number,
            "created_at": datetime_to_json(self.created_at),
            "updated_at": (
                datetime_to_json(self.updated_at) if self.updated_at else None
            ),
            "status": self.status,
            "assignee": self.assignee,
            "csat": self.csat,
            "first_response_at": _json_time(self.first_response_at),
            "resolved_at": _json_time(self.resolved_at),
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "customer_id": self.customer_id,
            "language": self.language,
            "reason": self.reason,
            "queue": self.queue,
            "priority": self.priority,
            "after_hours": self.after_hours,
            "promised_reply_at": (
                datetime_to_json(self.promised_reply_at)
                if self.promised_reply_at
                else None
            ),
            "tags": list(self.tags),
            "summary": self.summary,
            "dedupe_key": self.dedupe_key,
            "transcript": [t.to_json() for t in self.transcript],
        }


#: Lowest and highest customer-satisfaction score.
CSAT_RANGE = (1, 5)

EventKind = Literal[
    "created", "assigned", "note", "agent_reply", "customer_message", "status",
    "resolved", "csat_asked", "csat", "delivered",
]
#: Every state change of a ticket is one of these (the ticket's history).
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)


def check_csat(score: object) -> int:
    """``score`` if it is a whole number 1..5, else ValueError (bool is no score)."""
    low, high = CSAT_RANGE
    if isinstance(score, int) and not isinstance(score, bool) and low <= score <= high:
        return score
    raise ValueError(f"CSAT must be a whole number {low}..{high}, got {score!r}")


@dataclass(frozen=True)
class TicketEvent:
    """One entry in a ticket's history: what changed, when, and who changed it.

    ``seq`` counts from 1 per ticket; ``actor`` is an agent name, ``"bot"``,
    ``"customer"`` or ``"outbox"``; ``data`` holds the details of the change as
    JSON-ready values (e.g. ``{"text": ...}`` for a note, ``{"score": 4}`` for CSAT).
    """

    number: int
    seq: int
    at: datetime
    kind: EventKind
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require_aware("TicketEvent.at", self.at)
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS}, got {self.kind!r}")

    @property
    def ref(self) -> str:
        """The ticket reference this event belongs to."""
        return format_ref(self.number)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (time as ISO 8601 UTC)."""
        return {
            "ref": self.ref,
            "number": self.number,
            "seq": self.seq,
            "at": datetime_to_json(self.at),
            "kind": self.kind,
            "actor": self.actor,
            "data": dict(self.data),
        }
