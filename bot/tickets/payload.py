r"""The JSON an external helpdesk receives for each ticket change (Zendesk-like shape).

Built by the store inside the transaction that makes the change, so the outbox holds
exactly the state the change produced. One document per ticket event::

    {
      "idempotency_key": "LU-000042/3",        # also sent as the Idempotency-Key header
      "event": {
        "type": "ticket.created",              # ticket.created | ticket.updated
        "kind": "agent_reply",                 # the TicketEvent kind
        "seq": 3, "at": "2026-03-02T08:15:00+00:00", "actor": "ana",
        "data": {...}                          # the event's details
      },
      "ticket": {
        "external_id": "LU-000042",
        "subject": "[billing-sl] Customer (sl): \"Dvakrat ste mi ...\"",
        "status": "open",                      # new | open | pending | solved
        "priority": "high",                    # low | normal | high | urgent
        "group": "billing-sl",                 # our queue
        "assignee": "ana",                     # null while unassigned
        "tags": ["double_charge"],
        "requester": {"external_id": "5550123", "locale": "sl"},
        "via": {"channel": "telegram", "conversation_id": "tg-5550123"},
        "created_at": "...", "updated_at": "...",
        "custom_fields": [{"id": "reason", "value": "asked_for_human"}, ...],
        "satisfaction_rating": {"score": 4},   # null until the customer answers
        "comment": {"body": "...", "public": true, "author": "ana"}  # or null
      },
      "transcript": [ {turn}, ... ]            # ticket.created only: every turn
    }

Zendesk calls "resolved" *solved*; the rest of our vocabulary maps one to one. The
``comment`` is what the change said: the agent's reply or the customer's message
(public) or an internal note (``public: false``).
"""

from __future__ import annotations

from typing import Any

from bot.tickets.model import Ticket, TicketEvent, datetime_to_json

#: Our status -> Zendesk's.
HELPDESK_STATUS = {"new": "new", "open": "open", "pending": "pending",
                   "resolved": "solved"}


def idempotency_key(number: int, seq: int) -> str:
    """Stable per ticket event: the same change always carries the same key."""
    return f"LU-{number:06d}/{seq}"


def _subject(ticket: Ticket) -> str:
    head = ticket.summary.split(" | ")[0] if ticket.summary else ticket.reason
    return f"[{ticket.queue}] {head}"[:150]


def _comment(event: TicketEvent) -> dict[str, Any] | None:
    text = event.data.get("text")
    if not isinstance(text, str) or not text:
        return None
    if event.kind == "agent_reply":
        body = event.data.get("translation") or text
        return {"body": body, "public": True, "author": event.actor,
                "original": text if body != text else None}
    if event.kind == "note":
        return {"body": text, "public": False, "author": event.actor}
    if event.kind == "customer_message":
        return {"body": text, "public": True, "author": "customer"}
    return None


def build_payload(ticket: Ticket, event: TicketEvent) -> dict[str, Any]:
    """The document for ``event``, with ``ticket`` as it is after the change."""
    opt = datetime_to_json
    doc: dict[str, Any] = {
        "idempotency_key": idempotency_key(ticket.number, event.seq),
        "event": {
            "type": "ticket.created" if event.kind == "created" else "ticket.updated",
            "kind": event.kind,
            "seq": event.seq,
            "at": opt(event.at),
            "actor": event.actor,
            "data": dict(event.data),
        },
        "ticket": {
            "external_id": ticket.ref,
            "subject": _subject(ticket),
            "status": HELPDESK_STATUS[ticket.status],
            "priority": ticket.priority,
            "group": ticket.queue,
            "assignee": ticket.assignee,
            "tags": list(ticket.tags),
            "requester": {
                "external_id": ticket.customer_id, "locale": ticket.language,
            },
            "via": {
                "channel": ticket.channel, "conversation_id": ticket.conversation_id,
            },
            "created_at": opt(ticket.created_at),
            "updated_at": opt(ticket.updated_at) if ticket.updated_at else None,
            "custom_fields": [
                {"id": "reason", "value": ticket.reason},
                {"id": "after_hours", "value": ticket.after_hours},
                {"id": "promised_reply_at", "value": (
                    opt(ticket.promised_reply_at) if ticket.promised_reply_at else None
                )},
                {"id": "first_response_at", "value": (
                    opt(ticket.first_response_at) if ticket.first_response_at else None
                )},
                {"id": "resolved_at", "value": (
                    opt(ticket.resolved_at) if ticket.resolved_at else None
                )},
                {"id": "summary", "value": ticket.summary},
            ],
            "satisfaction_rating": (
                {"score": ticket.csat} if ticket.csat is not None else None
            ),
            "comment": _comment(event),
        },
    }
    if event.kind == "created":
        doc["transcript"] = [t.to_json() for t in ticket.transcript]
    return doc
