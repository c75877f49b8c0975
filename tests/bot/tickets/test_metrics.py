"""Metrics: pure functions over tickets; ``python -m bot report`` prints them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.tickets.metrics import (
    compute_report,
    format_duration,
    group_metrics,
    percentile,
    store_report,
)
from bot.tickets.model import Ticket, Turn
from bot.tickets.report_cli import count_conversations, parse_when
from bot.tickets.store import SQLiteTicketStore
from tests.bot.tickets.test_store_contract import draft
from tests.conftest import ROOT, write_settings

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def ticket(n: int, *, first: float | None = None, resolved: float | None = None,
           csat: int | None = None, **kw: Any) -> Ticket:
    values: dict[str, Any] = {
        "conversation_id": f"c{n}", "channel": "webchat", "customer_id": f"u{n}",
        "language": "en", "reason": "asked_for_human", "queue": "general-en",
        "number": n, "created_at": T0,
        "first_response_at": minutes(first) if first is not None else None,
        "resolved_at": minutes(resolved) if resolved is not None else None,
        "status": "resolved" if resolved is not None else "open", "csat": csat,
    }
    values.update(kw)
    return Ticket(**values)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 0.5, None), ([7], 0.9, 7), ([60, 120], 0.5, 90), ([1, 2, 3, 4], 0.5, 2.5),
     (list(range(1, 11)), 0.9, 9.1), ([3, 1, 2], 0.0, 1), ([3, 1, 2], 1.0, 3)],
)
def test_percentile_interpolates_between_ranks(
    values: list[float], q: float, expected: float | None
) -> None:
    got = percentile(values, q)
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_percentile_rejects_a_bad_quantile() -> None:
    with pytest.raises(ValueError):
        percentile([1], 1.5)


def test_group_metrics() -> None:
    tickets = [
        ticket(1, first=2, resolved=30, csat=5),
        ticket(2, first=10, resolved=90, csat=3, reason="complaint"),
        ticket(3, first=4, after_hours=True),
        ticket(4, reason="complaint"),
    ]
    m = group_metrics(tickets, conversations=40)
    assert m["tickets"] == 4 and m["open"] == 2 and m["after_hours"] == 1
    assert m["first_response"] == {"count": 3, "median_seconds": 240,
                                   "p90_seconds": pytest.approx(528)}
    assert m["resolution"]["count"] == 2
    assert m["resolution"]["median_seconds"] == 60 * 60
    assert m["csat"] == {"count": 2, "average": 4.0,
                         "distribution": {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    assert m["reasons"] == {
        "asked_for_human": {"count": 2, "share": 0.5, "rate": 0.05},
        "complaint": {"count": 2, "share": 0.5, "rate": 0.05},
    }
    assert m["escalation_rate"] == 0.1


def test_reopened_tickets_count_no_resolution() -> None:
    reopened = ticket(1, resolved=None, status="open")
    assert group_metrics([reopened])["resolution"]["count"] == 0


def test_no_tickets() -> None:
    m = group_metrics([])
    assert m["tickets"] == 0 and m["csat"]["average"] is None
    assert m["first_response"]["median_seconds"] is None and m["reasons"] == {}


def test_report_groups_by_queue_language_and_channel() -> None:
    tickets = [
        ticket(1, first=2, queue="billing-sl", language="sl", channel="telegram"),
        ticket(2, first=6, queue="billing-sl", language="sl", channel="webchat"),
        ticket(3, first=60, queue="general-en", language="hr", channel="webchat"),
    ]
    report = compute_report(tickets, since=T0, conversations=30)
    assert report["period"] == {"since": "2026-03-02T08:00:00+00:00", "until": None}
    assert report["overall"]["tickets"] == 3
    assert report["overall"]["escalation_rate"] == pytest.approx(0.1)
    assert set(report["by_queue"]) == {"billing-sl", "general-en"}
    assert report["by_queue"]["billing-sl"]["first_response"]["median_seconds"] == 240
    assert report["by_language"]["hr"]["tickets"] == 1
    assert report["by_channel"]["webchat"]["tickets"] == 2
    json.dumps(report)  # plain data, for the inbox and --format json


def test_store_report_from_real_handoffs(tmp_path: Path) -> None:
    store = SQLiteTicketStore(tmp_path / "t.sqlite3")
    a = store.create(draft(), now=minutes(0))
    store.add_agent_reply(a.number, "ana", Turn(minutes(3), "agent", "Hi"),
                          now=minutes(3))
    store.resolve(a.number, "ana", now=minutes(20))
    store.ask_csat(a.number, now=minutes(20))
    store.set_csat(a.number, 4, now=minutes(21))
    store.create(draft(), now=minutes(-60 * 24 * 30))  # before the period
    report = store_report(store, since=minutes(-60))
    store.close()
    overall = report["overall"]
    assert overall["tickets"] == 1
    assert overall["first_response"]["median_seconds"] == 180
    assert overall["resolution"]["median_seconds"] == 1200
    assert overall["csat"]["average"] == 4


def test_parse_when() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    from zoneinfo import ZoneInfo

    lj = ZoneInfo("Europe/Ljubljana")
    assert parse_when("7d", now, lj) == now - timedelta(days=7)
    assert parse_when("12h", now, lj) == now - timedelta(hours=12)
    assert parse_when("2026-03-01", now, lj) == datetime(2026, 3, 1, tzinfo=lj)
    assert parse_when("2026-03-01T08:00+00:00", now, lj) == datetime(
        2026, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="7d"):
        parse_when("last tuesday", now, lj)


def test_conversations_are_counted_in_rasas_tracker_store(tmp_path: Path) -> None:
    db = tmp_path / "tracker.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, "
                 "type_name TEXT, timestamp REAL, intent_name TEXT, "
                 "action_name TEXT, data TEXT)")
    rows = [("a", "user", 100.0), ("a", "user", 200.0), ("a", "bot", 201.0),
            ("b", "user", 300.0), ("c", "action", 150.0), ("d", "user", 900.0)]
    conn.executemany("INSERT INTO events (sender_id, type_name, timestamp) "
                     "VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    ts = lambda s: datetime.fromtimestamp(s, UTC)  # noqa: E731
    assert count_conversations(db, None, None) == 3
    assert count_conversations(db, ts(150), ts(900)) == 2
    assert count_conversations(tmp_path / "missing.sqlite3", None, None) is None


def run_report(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SUPPORTBOT_CONFIG=str(settings), PYTHONPATH=str(ROOT),
               SUPPORTBOT_FAKE_NOW="2026-03-02T12:00:00+01:00")
    return subprocess.run(
        [sys.executable, "-m", "bot", "report", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )


def test_report_command(tmp_path: Path) -> None:
    settings = write_settings(tmp_path)
    store = SQLiteTicketStore(tmp_path / "tickets.sqlite3")
    a = store.create(draft(), now=minutes(0))
    store.add_agent_reply(a.number, "ana", Turn(minutes(5), "agent", "Hi"),
                          now=minutes(5))
    store.create(draft(reason="complaint", queue="general-en", language="en"),
                 now=minutes(1))
    store.close()
    text = run_report(settings, "--since", "1d", "--tracker-db",
                      str(tmp_path / "none.sqlite3"))
    assert text.returncode == 0, text.stderr
    assert "billing-sl" in text.stdout and "5 min" in text.stdout
    assert "complaint" in text.stdout and "50% of tickets" in text.stdout
    as_json = run_report(settings, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["overall"]["tickets"] == 2
    assert report["by_language"]["en"]["reasons"]["complaint"]["count"] == 1
    bad = run_report(settings, "--since", "yesterday-ish")
    assert bad.returncode == 2 and "7d" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(95, "2 min"), (59 * 60, "59 min"), (7200, "2.0 h"), (47 * 3600, "47.0 h"),
     (3 * 86400, "3.0 d"), (None, "-")],
)
def test_durations_read_in_minutes_then_hours_then_days(seconds: float | None, text: str):
    assert format_duration(seconds) == text


def test_a_missing_duration_shows_what_the_caller_asks_for() -> None:
    assert format_duration(None, missing="–") == "–"
    assert format_duration(60, missing="–") == "1 min"
