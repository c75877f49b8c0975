"""``supportbot tickets …``: read the ticket store from the command line.

``tickets list [--status S] [--queue Q] [--language L] [--assignee A] [--priority P]
[--after-hours | --in-hours] [--limit N] [--json]``
``tickets show REF_OR_NUMBER [--json]`` (the ticket, its transcript and its history)

Times are shown in the business timezone (``business_hours.timezone``), else UTC.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone, tzinfo
from typing import Any

from bot.hours import parse_timezone
from bot.settings import Settings, load_settings
from bot.tickets.model import (
    PRIORITIES,
    STATUSES,
    Ticket,
    TicketEvent,
    Turn,
    parse_ref,
)
from bot.tickets.store import DEFAULT_LIST_LIMIT, TicketStore, open_configured_store

LIST_COLUMNS = (
    "ref", "created", "status", "priority", "queue", "language", "channel", "reason",
    "after-hours",
)


def add_parser(subparsers: Any) -> None:
    """Register the ``tickets`` command group on the top-level sub-parsers."""
    tickets = subparsers.add_parser(
        "tickets", help="list and read support tickets",
        description="List and read the tickets in the configured ticket store.",
    )
    tickets.set_defaults(help_parser=tickets)
    commands = tickets.add_subparsers(title="tickets commands", metavar="COMMAND")

    ls = commands.add_parser("list", help="list tickets, newest first")
    ls.add_argument("--status", choices=STATUSES, help="only tickets with this status")
    ls.add_argument("--queue", help="only this queue, e.g. billing-sl")
    ls.add_argument("--language", help="only this customer language, e.g. sl")
    ls.add_argument("--assignee", help="only tickets of this agent")
    ls.add_argument("--priority", choices=PRIORITIES, help="only this priority")
    hours = ls.add_mutually_exclusive_group()
    hours.add_argument("--after-hours", dest="after_hours", action="store_true",
                       default=None, help="only tickets opened after hours")
    hours.add_argument("--in-hours", dest="after_hours", action="store_false",
                       help="only tickets opened in business hours")
    ls.add_argument(
        "--limit", type=_positive_int, default=DEFAULT_LIST_LIMIT,
        help=f"at most this many (default {DEFAULT_LIST_LIMIT})",
    )
    ls.add_argument("--json", action="store_true", help="JSON lines, one per ticket")
    ls.set_defaults(func=cmd_list)

    show = commands.add_parser("show", help="one ticket with its full transcript")
    show.add_argument("ref", metavar="REF_OR_NUMBER", help="e.g. LU-000042 or 42")
    show.add_argument("--json", action="store_true", help="the ticket as JSON")
    show.set_defaults(func=cmd_show)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _open(args: argparse.Namespace) -> tuple[TicketStore, tzinfo, Settings]:
    settings = load_settings(args.config)
    hours = settings.section("business_hours", required=False)
    zone: tzinfo = parse_timezone(hours) if "timezone" in hours.data else timezone.utc
    store = open_configured_store(settings)
    return store, zone, settings


def _time(value: datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(zone).strftime(fmt) if value else ""


def cmd_list(args: argparse.Namespace) -> int:
    store, zone, _ = _open(args)
    try:
        tickets = store.list(
            status=args.status, queue=args.queue, language=args.language,
            limit=args.limit, assignee=args.assignee, priority=args.priority,
            after_hours=args.after_hours,
        )
    finally:
        store.close()
    out = sys.stdout
    if args.json:
        for t in tickets:
            data = t.to_json()
            del data["transcript"]
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
        return 0
    if not tickets:
        print("No tickets match.", file=out)
        return 0
    rows = [
        (
            t.ref, _time(t.created_at, zone), t.status, t.priority, t.queue, t.language,
            t.channel, t.reason, "yes" if t.after_hours else "no",
        )
        for t in tickets
    ]
    out.write(_table(LIST_COLUMNS, rows))
    print(f"{len(rows)} ticket(s); times in {_zone_name(zone)}", file=out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    try:
        number = parse_ref(args.ref)
    except ValueError as exc:
        print(f"supportbot: error: {exc}", file=sys.stderr)
        return 2
    store, zone, _ = _open(args)
    try:
        ticket = store.get(number)
        history = store.events(number) if ticket is not None else []
    finally:
        store.close()
    if ticket is None:
        print(f"supportbot: no ticket {args.ref}", file=sys.stderr)
        return 1
    if args.json:
        data = ticket.to_json()
        data["events"] = [e.to_json() for e in history]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    sys.stdout.write(format_ticket(ticket, zone, history))
    return 0


def format_ticket(
    ticket: Ticket, zone: tzinfo, history: Sequence[TicketEvent] = ()
) -> str:
    """The ticket header, every transcript turn and the history, for a terminal."""
    promised = (
        f"yes, reply promised by {_time(ticket.promised_reply_at, zone)}"
        if ticket.after_hours and ticket.promised_reply_at
        else ("yes" if ticket.after_hours else "no")
    )
    fields = [
        ("status", ticket.status),
        ("priority", ticket.priority),
        ("queue", ticket.queue),
        ("language", ticket.language),
        ("channel", ticket.channel),
        ("customer", ticket.customer_id),
        ("conversation", ticket.conversation_id),
        ("reason", ticket.reason),
        ("after hours", promised),
        ("created", f"{_time(ticket.created_at, zone)} ({_zone_name(zone)})"),
        ("updated", _time(ticket.updated_at, zone)),
        ("assignee", ticket.assignee or "-"),
        ("1st reply", _time(ticket.first_response_at, zone) or "-"),
        ("resolved", _time(ticket.resolved_at, zone) or "-"),
        ("csat", f"{ticket.csat}/5" if ticket.csat is not None else "-"),
        ("tags", ", ".join(ticket.tags) or "-"),
        ("summary", ticket.summary or "-"),
    ]
    width = max(len(name) for name, _ in fields) + 1
    lines = [f"Ticket {ticket.ref}"]
    lines += [f"  {name + ':':<{width}} {value}" for name, value in fields]
    lines.append("")
    lines.append(f"Transcript ({len(ticket.transcript)} turns)")
    lines += [_format_turn(turn, zone) for turn in ticket.transcript]
    if history:
        lines.append("")
        lines.append(f"History ({len(history)} events)")
        lines += [_format_event(event, zone) for event in history]
    return "\n".join(lines) + "\n"


def _format_event(event: TicketEvent, zone: tzinfo) -> str:
    details = ", ".join(
        f"{k}={' '.join(str(v).split())[:60]}" for k, v in sorted(event.data.items())
        if v not in (None, "")
    )
    when = _time(event.at, zone, "%Y-%m-%d %H:%M:%S")
    return f"  {when}  {event.kind:<16} {event.actor:<10} {details}".rstrip()


def _format_turn(turn: Turn, zone: tzinfo) -> str:
    head = [_time(turn.at, zone, "%Y-%m-%d %H:%M:%S"), turn.speaker]
    if turn.language:
        head.append(f"[{turn.language}]")
    if turn.intent:
        conf = f"({turn.confidence:.2f})" if turn.confidence is not None else ""
        head.append(f"{turn.intent}{conf}")
    if turn.channel:
        head.append(f"via {turn.channel}")
    lines = ["  " + "  ".join(head)]
    lines += [f"      {line}" for line in (turn.text or "").splitlines() or [""]]
    if turn.translation:
        lines.append(f"      translation: {' '.join(turn.translation.split())}")
    if turn.kb_articles:
        lines.append(f"      KB articles: {', '.join(turn.kb_articles)}")
    return "\n".join(lines)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(str(v)) for v in (h, *(r[i] for r in rows)))
        for i, h in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            f"{v:<{w}}" for v, w in zip(values, widths, strict=True)
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)]) + "\n"


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)
