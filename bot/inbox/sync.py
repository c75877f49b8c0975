"""Which conversation turns a ticket is missing, from the conversation's Rasa events.

While an agent holds a conversation the bot is paused, but Rasa still records every
customer message in the tracker. The inbox reads the tracker and appends to the ticket
what came after the ticket's own transcript, so the ticket holds everything the customer
said (and what the bot said before the pause, e.g. the acknowledgement with the ticket
number). Pure function: no I/O, tested with event lists.

Left out on purpose:

* agent turns: the inbox appends them itself when it sends them (at that moment, with
  the agent's original text and the translation the customer received);
* Rasa's external user events (``EXTERNAL: EXTERNAL_ask_csat``): triggers, not
  messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.tickets.model import Turn
from bot.tickets.transcript import turns_from_events

EXTERNAL_PREFIX = "EXTERNAL: "


def _is_external(event: Mapping[str, Any]) -> bool:
    if event.get("event") != "user":
        return False
    meta = event.get("metadata") or {}
    return bool(meta.get("is_external")) or str(event.get("text") or "").startswith(
        EXTERNAL_PREFIX
    )


def missing_turns(
    known: Sequence[Turn], events: Iterable[Mapping[str, Any]]
) -> list[Turn]:
    """Turns in ``events`` that come after ``known`` and are not in it yet.

    "After" is measured against the newest known turn that came from the tracker
    (customer, bot or system), because agent turns carry the inbox's clock, not
    Rasa's. A customer turn whose ``message_id`` is already known is skipped too, so
    reading the same tracker twice appends nothing.
    """
    tracked = [t for t in known if t.speaker != "agent"]
    watermark: datetime | None = max((t.at for t in tracked), default=None)
    seen_ids = {t.message_id for t in known if t.message_id}
    out: list[Turn] = []
    events = [e for e in events if not _is_external(e)]
    for turn in turns_from_events(events):
        if turn.speaker == "agent":
            continue
        if watermark is not None and turn.at <= watermark:
            continue
        if (
            turn.speaker == "customer"
            and turn.message_id
            and turn.message_id in seen_ids
        ):
            continue
        out.append(turn)
    return out
