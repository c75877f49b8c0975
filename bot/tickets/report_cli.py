"""``supportbot report``: support metrics over the ticket store.

``report [--since 7d|2026-03-01|ISO] [--until …] [--format text|json] [--tracker-db P]``

Dates without a time are midnight in the business timezone. The escalation rate needs
the number of customer conversations: it is counted in Rasa's SQL tracker store on
SQLite (``--tracker-db``, default ``$TRACKER_DB`` or var/tracker.sqlite3) when that file
exists; otherwise the report gives counts and shares only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from bot import clock
from bot.hours import parse_timezone
from bot.settings import PROJECT_ROOT, load_settings
from bot.tickets.metrics import format_text, store_report
from bot.tickets.store import open_configured_store

_RELATIVE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def add_parser(subparsers: Any) -> None:
    """Register the ``report`` command."""
    report = subparsers.add_parser(
        "report", help="support metrics: response and resolution times, CSAT, reasons",
        description="Metrics over the tickets created in a period.",
    )
    report.add_argument("--since", help="start: 7d, 12h, 2w, 2026-03-01 or ISO time")
    report.add_argument("--until", help="end (exclusive), same forms; default now")
    report.add_argument("--format", choices=("text", "json"), default="text")
    report.add_argument(
        "--tracker-db", type=Path,
        help="Rasa's SQLite tracker store, to count conversations "
        "(default $TRACKER_DB or var/tracker.sqlite3)",
    )
    report.set_defaults(func=cmd_report)


def parse_when(text: str, now: datetime, zone: tzinfo) -> datetime:
    """``7d``/``12h``/``2w`` before ``now``, a date (midnight in ``zone``) or ISO time.

    Raises:
        ValueError: none of those forms.
    """
    m = _RELATIVE.match(text)
    if m:
        return now - int(m.group(1)) * _UNITS[m.group(2)]
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(), tzinfo=zone)
    except ValueError:
        pass
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time: use 7d, 12h, 2w, 2026-03-01 or "
            "2026-03-01T08:00+01:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def count_conversations(
    tracker_db: Path, since: datetime | None, until: datetime | None
) -> int | None:
    """Conversations with a customer message in the period; None if unreadable."""
    if not tracker_db.is_file():
        return None
    sql = "SELECT count(DISTINCT sender_id) FROM events WHERE type_name = 'user'"
    params: list[float] = []
    if since is not None:
        sql += " AND timestamp >= ?"
        params.append(since.timestamp())
    if until is not None:
        sql += " AND timestamp < ?"
        params.append(until.timestamp())
    try:
        conn = sqlite3.connect(f"file:{tracker_db}?mode=ro", uri=True)
        try:
            return int(conn.execute(sql, params).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def cmd_report(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    hours = settings.section("business_hours", required=False)
    zone: tzinfo = parse_timezone(hours) if "timezone" in hours.data else timezone.utc
    now = clock.now()
    try:
        since = parse_when(args.since, now, zone) if args.since else None
        until = parse_when(args.until, now, zone) if args.until else None
    except ValueError as exc:
        print(f"supportbot: error: {exc}", file=sys.stderr)
        return 2
    tracker_db = args.tracker_db or Path(
        os.environ.get("TRACKER_DB") or PROJECT_ROOT / "var" / "tracker.sqlite3"
    )
    conversations = count_conversations(tracker_db, since, until)
    store = open_configured_store(settings)
    try:
        report = store_report(
            store, since=since, until=until, conversations=conversations
        )
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(format_text(report, now))
    return 0
