"""Support metrics from tickets: pure functions returning plain, JSON-ready dicts.

For every group (all tickets, then per queue, language and channel):

* ``first_response``: seconds from creation to the first agent reply (median, p90);
* ``resolution``: seconds from creation to resolution, for resolved tickets;
* ``csat``: answers, average and the 1..5 distribution;
* ``reasons``: escalations per reason, with their share of the group's tickets, and
  the escalation *rate* (escalations per customer conversation) when the number of
  conversations is known (``bot report`` counts them in Rasa's tracker store);
* ``after_hours``: tickets opened outside the queue's hours.

Times are wall-clock durations (an after-hours ticket's first response includes the
night); percentiles interpolate linearly between ranks (numpy's default), so the median
of 60 s and 120 s is 90 s. ``store_report`` is what the inbox and ``bot report`` call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from bot.tickets.model import CSAT_RANGE, Ticket, datetime_to_json
from bot.tickets.routing import REASONS
from bot.tickets.store import TicketStore

GROUPS: tuple[tuple[str, Callable[[Ticket], str]], ...] = (
    ("queue", lambda t: t.queue),
    ("language", lambda t: t.language),
    ("channel", lambda t: t.channel),
)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) with linear interpolation; None for no values."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within 0..1, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def durations(
    tickets: Iterable[Ticket], end: Callable[[Ticket], datetime | None]
) -> list[float]:
    """Seconds from each ticket's creation to ``end(ticket)``, where there is one."""
    out = []
    for t in tickets:
        stop = end(t)
        if stop is not None:
            out.append(max(0.0, (stop - t.created_at).total_seconds()))
    return out


def _timing(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "median_seconds": percentile(values, 0.5),
        "p90_seconds": percentile(values, 0.9),
    }


def group_metrics(
    tickets: Sequence[Ticket], conversations: int | None = None
) -> dict[str, Any]:
    """The metrics of one group of tickets (see the module docstring)."""
    total = len(tickets)
    scores = [t.csat for t in tickets if t.csat is not None]
    low, high = CSAT_RANGE
    reasons: dict[str, dict[str, Any]] = {}
    for reason in [*REASONS, *sorted({t.reason for t in tickets} - set(REASONS))]:
        count = sum(1 for t in tickets if t.reason == reason)
        if not count:
            continue
        entry: dict[str, Any] = {"count": count, "share": count / total}
        if conversations:
            entry["rate"] = count / conversations
        reasons[reason] = entry
    out: dict[str, Any] = {
        "tickets": total,
        "open": sum(1 for t in tickets if t.status != "resolved"),
        "after_hours": sum(1 for t in tickets if t.after_hours),
        "first_response": _timing(durations(tickets, lambda t: t.first_response_at)),
        "resolution": _timing(durations(
            tickets, lambda t: t.resolved_at if t.status == "resolved" else None
        )),
        "csat": {
            "count": len(scores),
            "average": sum(scores) / len(scores) if scores else None,
            "distribution": {str(s): scores.count(s) for s in range(low, high + 1)},
        },
        "reasons": reasons,
    }
    if conversations is not None:
        out["conversations"] = conversations
        out["escalation_rate"] = total / conversations if conversations else None
    return out


def compute_report(
    tickets: Sequence[Ticket],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    conversations: int | None = None,
) -> dict[str, Any]:
    """Overall metrics and the same per queue, language and channel.

    ``tickets`` are the tickets created in the period (the caller filters);
    ``conversations`` is the number of customer conversations in it, if known.
    """
    report: dict[str, Any] = {
        "period": {
            "since": datetime_to_json(since) if since else None,
            "until": datetime_to_json(until) if until else None,
        },
        "overall": group_metrics(tickets, conversations),
    }
    for name, key in GROUPS:
        groups: dict[str, list[Ticket]] = {}
        for t in tickets:
            groups.setdefault(key(t), []).append(t)
        report[f"by_{name}"] = {
            value: group_metrics(members) for value, members in sorted(groups.items())
        }
    return report


def store_report(
    store: TicketStore,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    conversations: int | None = None,
) -> dict[str, Any]:
    """``compute_report`` over the tickets created in [since, until) in ``store``."""
    tickets = store.list(
        created_after=since, created_before=until, limit=None, transcripts=False
    )
    return compute_report(
        tickets, since=since, until=until, conversations=conversations
    )


# ------------------------------------------------------------------ text


def format_duration(seconds: float | None, missing: str = "-") -> str:
    """``95`` -> ``"2 min"``, ``7200`` -> ``"2.0 h"``, ``None`` -> ``missing``.

    Minutes up to an hour, hours up to two days, then days: the units agents and team
    leads read durations in. The report (plain text) and the inbox (HTML, where it
    passes an en dash for "no value") share it so their numbers read alike.
    """
    if seconds is None:
        return missing
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def _row(label: str, m: dict[str, Any]) -> list[str]:
    fr, res, csat = m["first_response"], m["resolution"], m["csat"]
    return [
        label, str(m["tickets"]), str(m["open"]), str(m["after_hours"]),
        format_duration(fr["median_seconds"]), format_duration(fr["p90_seconds"]),
        format_duration(res["median_seconds"]), format_duration(res["p90_seconds"]),
        f"{csat['average']:.2f} ({csat['count']})" if csat["count"] else "-",
    ]


HEADERS = ["", "tickets", "open", "after-hours", "1st reply p50", "p90",
           "resolved p50", "p90", "CSAT"]


def format_text(report: dict[str, Any], now: datetime | None = None) -> str:
    """The report as aligned tables for a terminal."""
    period = report["period"]
    lines = [
        "Support report "
        f"({period['since'] or 'beginning'} .. {period['until'] or 'now'})",
    ]
    overall = report["overall"]
    rows = [HEADERS, _row("all", overall)]
    for name, _ in GROUPS:
        rows.append([f"-- by {name}"] + [""] * (len(HEADERS) - 1))
        rows += [_row(value, m) for value, m in report[f"by_{name}"].items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    for r in rows:
        lines.append("  ".join(
            (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in
            enumerate(zip(r, widths, strict=True))
        ).rstrip())
    lines.append("")
    lines.append("Escalations by reason:")
    for reason, entry in overall["reasons"].items():
        rate = f", {entry['rate']:.1%} of conversations" if "rate" in entry else ""
        lines.append(f"  {reason:<22} {entry['count']:>5}  "
                     f"{entry['share']:.0%} of tickets{rate}")
    if not overall["reasons"]:
        lines.append("  (no tickets)")
    if "conversations" in overall:
        rate = overall["escalation_rate"]
        lines.append(
            f"  {overall['conversations']} conversations; escalation rate "
            + (f"{rate:.1%}" if rate is not None else "-")
        )
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"(generated {stamp})")
    return "\n".join(lines) + "\n"
