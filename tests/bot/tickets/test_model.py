from __future__ import annotations

import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.tickets.model import (
    Ticket,
    TicketDraft,
    Turn,
    format_ref,
    parse_ref,
    turns_from_json,
    turns_to_json,
)

AT = datetime(2026, 3, 2, 9, 0, 1, 500, tzinfo=ZoneInfo("Europe/Ljubljana"))


def test_turn_json_round_trip() -> None:
    turns = [
        Turn(AT, "customer", "مرحبا، أين طلبي؟", language="ar",
             translation="Hello, where is my order?", intent="order_status",
             confidence=0.83, message_id="wc-1", channel="webchat"),
        Turn(AT, "bot", "Žal nam je.", kb_articles=("a", "b")),
    ]
    text = turns_to_json(turns)
    assert "مرحبا" in text  # readable, not \\u-escaped
    assert turns_from_json(text) == turns
    data = json.loads(text)[0]
    assert data["at"] == "2026-03-02T08:00:01.000500+00:00"
    assert data["kb_articles"] == []


def test_turn_from_json_defaults() -> None:
    turn = Turn.from_json({"at": "2026-03-02T08:00:00", "speaker": "system"})
    assert turn.at.tzinfo is not None and turn.text == "" and turn.kb_articles == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"at": datetime(2026, 3, 2, 8, 0)},
        {"speaker": "robot"},
    ],
)
def test_turn_validation(bad: dict[str, object]) -> None:
    values: dict[str, object] = {"at": AT, "speaker": "bot", "text": "x"}
    values.update(bad)
    with pytest.raises(ValueError):
        Turn(**values)  # type: ignore[arg-type]


def test_lists_become_tuples() -> None:
    turn = Turn(AT, "bot", "x", kb_articles=["a"])  # type: ignore[arg-type]
    draft = TicketDraft("c", "web", "u", "en", "complaint", "general-en",
                        tags=["x"])  # type: ignore[arg-type]
    assert turn.kb_articles == ("a",) and draft.tags == ("x",)


def test_draft_validation() -> None:
    with pytest.raises(ValueError, match="priority"):
        TicketDraft("c", "web", "u", "en", "complaint", "general-en", priority="meh")
    with pytest.raises(ValueError, match="timezone-aware"):
        TicketDraft("c", "web", "u", "en", "complaint", "general-en",
                    promised_reply_at=datetime(2026, 3, 2, 8, 0))


def test_ticket_ref_and_json() -> None:
    ticket = Ticket(
        "c", "web", "u", "en", "complaint", "general-en",
        number=42, created_at=datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
        transcript=[Turn(AT, "customer", "hi")],
    )
    assert ticket.ref == "LU-000042"
    data = ticket.to_json()
    assert data["ref"] == "LU-000042" and data["status"] == "new"
    assert data["transcript"][0]["text"] == "hi"
    json.dumps(data)
    with pytest.raises(ValueError, match="status"):
        Ticket("c", "web", "u", "en", "complaint", "general-en", number=1,
               created_at=AT, status="closed")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "number"),
    [("LU-000042", 42), ("lu-42", 42), ("#42", 42), ("42", 42), (" LU000007 ", 7),
     (13, 13)],
)
def test_parse_ref(text: str | int, number: int) -> None:
    assert parse_ref(text) == number


@pytest.mark.parametrize("text", ["", "LU-", "XX-000042", "42a", "0", "LU-000000", -3])
def test_parse_ref_rejects(text: str | int) -> None:
    with pytest.raises(ValueError):
        parse_ref(text)


def test_format_ref() -> None:
    assert format_ref(1) == "LU-000001"
    assert format_ref(1234567) == "LU-1234567"
