"""Which tracker turns a ticket lacks: after its transcript, once, no triggers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from bot.inbox.sync import missing_turns
from bot.tickets.model import Turn

T = 1_764_061_200.0  # 2025-11-25 09:00 UTC


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def user(text: str, ts: float, message_id: str | None = None) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "timestamp": ts,
        "message_id": message_id,
        "input_channel": "webchat",
        "parse_data": {"intent": {"name": "x"}},
    }


def bot(text: str, ts: float, **metadata: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": ts, "metadata": metadata}


KNOWN = [
    Turn(at(T), "customer", "Živjo", "sl", message_id="a"),
    Turn(at(T + 1), "bot", "Živjo! Sem Lumov pomočnik.", "sl"),
    Turn(at(T + 2), "customer", "operater", "sl", message_id="b"),
]
EVENTS = [
    {"event": "action", "name": "action_listen", "timestamp": T - 1},
    user("Živjo", T, "a"),
    bot("Živjo! Sem Lumov pomočnik.", T + 1),
    user("operater", T + 2, "b"),
    bot("Številka vaše zahteve je LU-000001", T + 3),
    {"event": "pause", "timestamp": T + 4},
]


def test_turns_after_the_transcript_are_missing() -> None:
    new = missing_turns(KNOWN, [*EVENTS, user("Ste tam?", T + 10, "c")])
    assert [(t.speaker, t.text) for t in new] == [
        ("bot", "Številka vaše zahteve je LU-000001"),
        ("customer", "Ste tam?"),
    ]


def test_a_turn_already_appended_is_not_missing_again() -> None:
    new = missing_turns(KNOWN, [*EVENTS, user("Ste tam?", T + 10, "c")])
    assert missing_turns([*KNOWN, *new], [*EVENTS, user("Ste tam?", T + 10, "c")]) == []


def test_agent_replies_come_from_the_inbox_not_the_tracker() -> None:
    agent_turn = Turn(at(T + 30), "agent", "Pozdravljeni", "sl")
    events = [
        *EVENTS,
        bot("Pozdravljeni", T + 5, speaker="agent"),
        user("Hvala", T + 6, "d"),
    ]
    # The agent turn carries the inbox's clock; a customer message Rasa recorded just
    # before it still counts as missing.
    new = missing_turns([*KNOWN, agent_turn], events)
    assert [t.text for t in new] == ["Številka vaše zahteve je LU-000001", "Hvala"]


def test_rasas_external_triggers_are_not_messages() -> None:
    trigger = {
        "event": "user",
        "text": "EXTERNAL: EXTERNAL_ask_csat",
        "timestamp": T + 9,
        "metadata": {"is_external": True},
    }
    assert [t.text for t in missing_turns(KNOWN, [*EVENTS, trigger])] == [
        "Številka vaše zahteve je LU-000001"
    ]


def test_a_ticket_without_turns_takes_the_whole_conversation() -> None:
    assert len(missing_turns([], EVENTS)) == 4
