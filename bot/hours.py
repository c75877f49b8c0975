"""Business hours: when a human can answer, and when they next can.

The ``business_hours:`` section of ``supportbot.yml`` is data (STYLE 14)::

    business_hours:
      timezone: Europe/Ljubljana   # IANA name; every range is wall time there
      weekly:                      # all seven days: a list of ranges or "closed"
        mon: ["08:00-12:00", "13:00-18:00"]
        sat: ["22:00-02:00"]       # across midnight: Sat 22:00 -> Sun 02:00
        sun: closed
      holidays:
        - 2026-12-25               # closed all day
        - {date: 2026-12-24, hours: ["08:00-12:00"]}   # special hours that day

Rules:

* A range belongs to the day it *starts* on. ``sat: ["22:00-02:00"]`` opens on
  Saturday at 22:00 and closes on Sunday at 02:00, even when Sunday is a holiday; a
  holiday on Saturday removes it. ``24:00`` is accepted as an end ("until midnight").
* Ranges of one day must not overlap each other. Ranges that touch or overlap across
  days (``sat 22:00-02:00`` and ``sun 00:00-06:00``) merge into one open period.
* Wall times are converted with ``zoneinfo`` the way iCalendar (RFC 5545) reads them: a
  time that does not exist on a spring-forward day is read with the offset before the
  change (02:30 in Europe/Ljubljana on the last Sunday of March is 03:30 CEST, and a
  range ending at 02:00 that night ends at 03:00 CEST, the same instant); an ambiguous
  time on a fall-back day means its first occurrence.

Everything here is a pure function of its inputs: ``now`` is passed in and must be
timezone-aware (a naive ``now`` raises ``ValueError``; the bot cannot guess its zone).
Results are datetimes in the business timezone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.settings import Section

#: Weekday keys of ``business_hours.weekly``, in ``date.weekday()`` order.
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How far ahead ``next_opening`` looks before answering "never" (None).
HORIZON_DAYS = 366
#: The word that marks a day closed.
CLOSED = "closed"

_RANGE_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_RANGE_FIX = 'write ranges as "HH:MM-HH:MM" in quotes, e.g. "08:00-16:00"'


@dataclass(frozen=True, order=True)
class TimeRange:
    """One opening range in wall time.

    ``end`` is minutes after the start day's midnight, so a range across midnight
    (22:00-02:00) has ``end_minutes`` 1560 and ``24:00`` is 1440.
    """

    start_minutes: int
    end_minutes: int

    @property
    def start(self) -> time:
        return time(self.start_minutes // 60, self.start_minutes % 60)

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minutes > 24 * 60

    def __str__(self) -> str:
        end = self.end_minutes - 24 * 60 if self.crosses_midnight else self.end_minutes
        return f"{_hhmm(self.start_minutes)}-{_hhmm(end)}"


@dataclass(frozen=True)
class HoursStatus:
    """Open now?, when the next open period starts, when the current one ends.

    ``next_opening`` is the start of the next open period that begins after ``now``
    (when open, the reopening after the current period); ``closes_at`` is None when
    closed.
    Either is None when it does not happen within ``HORIZON_DAYS``.
    """

    open: bool
    next_opening: datetime | None
    closes_at: datetime | None


@dataclass(frozen=True)
class BusinessHours:
    """Weekly opening ranges, holidays and special days in one timezone."""

    timezone: ZoneInfo
    weekly: tuple[tuple[TimeRange, ...], ...]
    #: Dates with their own ranges; an empty tuple means closed all day.
    exceptions: Mapping[date, tuple[TimeRange, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise ValueError("weekly needs exactly seven days, Monday first")

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_section(cls, section: Section) -> BusinessHours:
        """Parse and validate ``business_hours``; every error names the exact key."""
        known = {"timezone", "weekly", "holidays"}
        for key in section.data:
            if key not in known:
                raise section.error(
                    str(key), "is not a business_hours setting",
                    f"use only {', '.join(sorted(known))}",
                )
        tz = parse_timezone(section)
        weekly_raw = section.require("weekly")
        if not isinstance(weekly_raw, Mapping):
            raise section.error(
                "weekly", f"must be a mapping of weekdays, got {_kind(weekly_raw)}",
                "write one line per day: 'mon: [\"08:00-16:00\"]' … 'sun: closed'",
            )
        for key in weekly_raw:
            if key not in WEEKDAYS:
                raise section.error(
                    f"weekly.{key}", "is not a weekday",
                    f"use the keys {', '.join(WEEKDAYS)}",
                )
        weekly = []
        for day in WEEKDAYS:
            if day not in weekly_raw:
                raise section.error(
                    f"weekly.{day}", "is missing",
                    f"add '{day}: closed' or '{day}: [\"08:00-16:00\"]' "
                    "under 'weekly:'",
                )
            weekly.append(_parse_ranges(section, f"weekly.{day}", weekly_raw[day]))
        exceptions = _parse_holidays(section, section.get("holidays"))
        return cls(timezone=tz, weekly=tuple(weekly), exceptions=exceptions)

    # ---------------------------------------------------------------- queries

    def ranges_on(self, day: date) -> tuple[TimeRange, ...]:
        """The ranges starting on ``day``: its holiday entry, else its weekday's."""
        if day in self.exceptions:
            return self.exceptions[day]
        return self.weekly[day.weekday()]

    def is_open(self, now: datetime) -> bool:
        """Whether ``now`` is inside an open period (start inclusive, end exclusive)."""
        return self._current(now) is not None

    def closes_at(self, now: datetime) -> datetime | None:
        """End of the open period around ``now``; None if closed or open 366+ days."""
        current = self._current(now)
        if current is None or current[1] is None:
            return None
        return current[1].astimezone(self.timezone)

    def next_opening(self, now: datetime) -> datetime | None:
        """Start of the next open period beginning after ``now``, in the business zone.

        When closed this is when a human can next answer. When open it is the reopening
        after the current period closes. None if nothing opens within ``HORIZON_DAYS``.
        """
        now_utc = _utc(now)
        for start, _end in self._periods(now_utc):
            if start > now_utc:
                return start.astimezone(self.timezone)
        return None

    def status(self, now: datetime) -> HoursStatus:
        """Open, next opening and closing time for ``now`` in one call."""
        return HoursStatus(
            open=self.is_open(now),
            next_opening=self.next_opening(now),
            closes_at=self.closes_at(now),
        )

    # ---------------------------------------------------------------- internals

    def _current(self, now: datetime) -> tuple[datetime, datetime | None] | None:
        now_utc = _utc(now)
        for start, end in self._periods(now_utc):
            if start > now_utc:
                return None
            if end is None or now_utc < end:
                return start, end
        return None

    def _periods(self, now_utc: datetime) -> Iterator[tuple[datetime, datetime | None]]:
        """Merged open periods (UTC) overlapping [now - 1 day, now + horizon], in order.

        The end is None for a period still open at the horizon ("does not close").
        """
        local_day = now_utc.astimezone(self.timezone).date()
        first = local_day - timedelta(days=1)  # yesterday's range may still be open
        last = local_day + timedelta(days=HORIZON_DAYS)
        horizon = datetime.combine(
            last + timedelta(days=1), time(), tzinfo=self.timezone
        ).astimezone(timezone.utc)
        current: tuple[datetime, datetime] | None = None
        for start, end in self._raw_intervals(first, last):
            if current is not None and start <= current[1]:
                current = (current[0], max(current[1], end))
                continue
            if current is not None:
                yield current
            current = (start, end)
        if current is not None:
            yield (current[0], None) if current[1] >= horizon else current

    def _raw_intervals(
        self, first: date, last: date
    ) -> Iterator[tuple[datetime, datetime]]:
        day = first
        while day <= last:
            for r in sorted(self.ranges_on(day)):
                start = _wall_to_utc(day, r.start_minutes, self.timezone)
                end = _wall_to_utc(day, r.end_minutes, self.timezone)
                if end > start:  # a range inside a DST gap can vanish
                    yield start, end
            day += timedelta(days=1)


# ------------------------------------------------------------------ parsing helpers


def parse_timezone(section: Section) -> ZoneInfo:
    """``<section>.timezone`` as a ZoneInfo; ConfigError naming the key if invalid."""
    raw = section.require("timezone")
    fix = "use an IANA timezone name such as Europe/Ljubljana or Asia/Dubai"
    if not isinstance(raw, str) or not raw.strip():
        raise section.error("timezone", f"must be a timezone name, got {raw!r}", fix)
    try:
        return ZoneInfo(raw.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise section.error("timezone", f"unknown timezone {raw!r}", fix) from None


def _parse_ranges(section: Section, key: str, raw: Any) -> tuple[TimeRange, ...]:
    """A day's value: "closed", a list of "HH:MM-HH:MM" strings, or one such string."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() == CLOSED):
        return ()
    if isinstance(raw, str):
        items: Sequence[Any] = [raw]
        keys = [key]
    elif isinstance(raw, list):
        items = raw
        keys = [f"{key}[{i}]" for i in range(len(raw))]
    else:
        raise section.error(
            key, f"must be a list of ranges or 'closed', got {_kind(raw)}", _RANGE_FIX
        )
    ranges: list[tuple[TimeRange, str]] = []
    for item_key, item in zip(keys, items, strict=True):
        ranges.append((_parse_range(section, item_key, item), item_key))
    ordered = sorted(ranges)
    for (a, _), (b, b_key) in pairwise(ordered):
        if b.start_minutes < a.end_minutes:
            raise section.error(
                b_key, f"{b} overlaps {a} on the same day",
                "merge the two ranges into one",
            )
    return tuple(r for r, _ in ordered)


def _parse_range(section: Section, key: str, raw: Any) -> TimeRange:
    if isinstance(raw, int) and not isinstance(raw, bool):
        # YAML 1.1 reads an unquoted 08:00 as the sexagesimal number 480.
        raise section.error(key, f"was read as the number {raw}", _RANGE_FIX)
    if not isinstance(raw, str):
        raise section.error(
            key, f"must be a range string, got {_kind(raw)}", _RANGE_FIX
        )
    m = _RANGE_RE.match(raw)
    if not m:
        raise section.error(key, f"{raw!r} is not a range", _RANGE_FIX)
    sh, sm, eh, em = (int(g) for g in m.groups())
    if sh > 23 or sm > 59:
        raise section.error(
            key, f"{raw!r}: start time is not a time of day", _RANGE_FIX
        )
    if eh > 24 or em > 59 or (eh == 24 and em != 0):
        raise section.error(
            key, f"{raw!r}: end time is not a time of day",
            "use 00:00-23:59, or 24:00 for midnight at the end of the day",
        )
    start, end = sh * 60 + sm, eh * 60 + em
    if end == start:
        raise section.error(
            key, f"{raw!r} is empty (start equals end)",
            'for a whole day write "00:00-24:00"',
        )
    if end < start:
        end += 24 * 60  # across midnight: closes the next day
    return TimeRange(start, end)


def _parse_holidays(section: Section, raw: Any) -> dict[date, tuple[TimeRange, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise section.error(
            "holidays", f"must be a list, got {_kind(raw)}",
            "write one '- 2026-12-25' or "
            "'- {date: 2026-12-24, hours: [\"08:00-12:00\"]}' per line",
        )
    out: dict[date, tuple[TimeRange, ...]] = {}
    for i, item in enumerate(raw):
        key = f"holidays[{i}]"
        if isinstance(item, Mapping):
            for k in item:
                if k not in ("date", "hours", "name"):
                    raise section.error(
                        f"{key}.{k}", "is not a holiday setting",
                        "use date, hours, name",
                    )
            if "date" not in item:
                raise section.error(
                    f"{key}.date", "is missing", "add 'date: YYYY-MM-DD' to the entry"
                )
            day = _parse_date(section, f"{key}.date", item["date"])
            if "hours" not in item:
                raise section.error(
                    f"{key}.hours", "is missing",
                    "add 'hours: [\"08:00-12:00\"]' or 'hours: closed', or write the "
                    "date alone for a day closed",
                )
            ranges = _parse_ranges(section, f"{key}.hours", item["hours"])
        else:
            day = _parse_date(section, key, item)
            ranges = ()
        if day in out:
            raise section.error(
                key, f"{day.isoformat()} is listed twice", "keep one entry per date"
            )
        out[day] = ranges
    return out


def _parse_date(section: Section, key: str, raw: Any) -> date:
    if isinstance(raw, datetime):
        raise section.error(
            key, f"must be a date, got the date-time {raw}", "write YYYY-MM-DD"
        )
    if isinstance(raw, date):  # YAML reads an unquoted 2026-12-25 as a date already
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            pass
    raise section.error(
        key, f"{raw!r} is not a date", "write it as YYYY-MM-DD, e.g. 2026-12-25"
    )


def _kind(raw: Any) -> str:
    return "nothing" if raw is None else type(raw).__name__


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(
            "now must be timezone-aware (e.g. datetime.now(timezone.utc)); "
            "business hours cannot guess the zone of a naive datetime"
        )
    return now.astimezone(timezone.utc)


def _wall_to_utc(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    """Wall time ``minutes`` after ``day``'s midnight in ``tz``, as UTC.

    Days past midnight are added on the calendar (not as 24 h), so 02:00 "tomorrow" is
    02:00 wall time even across a DST change. With fold=0 a wall time inside a
    spring-forward gap takes the offset before the gap (02:30 -> 03:30 CEST) and an
    ambiguous one means its first occurrence.
    """
    extra_days, rest = divmod(minutes, 24 * 60)
    local = datetime.combine(
        day + timedelta(days=extra_days), time(rest // 60, rest % 60), tzinfo=tz
    )
    return local.astimezone(timezone.utc)


# ------------------------------------------------------------------ phrases


_WEEKDAY_NAMES: dict[str, tuple[str, ...]] = {
    "en": (
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ),
    # "on <weekday>": Slovenian uses v + accusative (sreda -> v sredo).
    "sl": (
        "v ponedeljek", "v torek", "v sredo", "v četrtek", "v petek", "v soboto",
        "v nedeljo",
    ),
    "ar": (
        "يوم الاثنين", "يوم الثلاثاء", "يوم الأربعاء", "يوم الخميس", "يوم الجمعة",
        "يوم السبت", "يوم الأحد",
    ),
}
_MONTH_NAMES: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    # Genitive, as in "4. januarja".
    "sl": (
        "januarja", "februarja", "marca", "aprila", "maja", "junija", "julija",
        "avgusta", "septembra", "oktobra", "novembra", "decembra",
    ),
    "ar": (
        "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس",
        "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
    ),
}


def format_opening(dt: datetime, language: str | None, now: datetime) -> str:
    """A short phrase for when ``dt`` is, seen from ``now``, in ``language``.

    "today at 14:00", "tomorrow at 08:00", "Monday at 08:00" (within the coming week),
    "Monday 4 January at 08:00" (further away). Slovenian: "danes ob 14:00",
    "jutri ob 8:00", "v ponedeljek ob 8:00", "v ponedeljek, 4. januarja, ob 8:00".
    Arabic: "اليوم الساعة 14:00", "غدًا الساعة 08:00", "يوم الاثنين الساعة 08:00".
    Days are counted in ``dt``'s timezone (pass the business-timezone datetime that
    ``next_opening`` returns). Other languages get English.
    """
    if dt.tzinfo is None or now.tzinfo is None:
        raise ValueError("format_opening needs timezone-aware dt and now")
    lang = _base_language(language)
    local_now = now.astimezone(dt.tzinfo)
    days = (dt.date() - local_now.date()).days
    weekday = _WEEKDAY_NAMES[lang][dt.weekday()]
    month = _MONTH_NAMES[lang][dt.month - 1]
    if lang == "sl":
        clock = f"{dt.hour}:{dt.minute:02d}"
        if days == 0:
            return f"danes ob {clock}"
        if days == 1:
            return f"jutri ob {clock}"
        if 1 < days < 7:
            return f"{weekday} ob {clock}"
        return f"{weekday}, {dt.day}. {month}, ob {clock}"
    clock = f"{dt.hour:02d}:{dt.minute:02d}"
    if lang == "ar":
        if days == 0:
            return f"اليوم الساعة {clock}"
        if days == 1:
            return f"غدًا الساعة {clock}"
        if 1 < days < 7:
            return f"{weekday} الساعة {clock}"
        return f"{weekday} {dt.day} {month} الساعة {clock}"
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"tomorrow at {clock}"
    if 1 < days < 7:
        return f"{weekday} at {clock}"
    return f"{weekday} {dt.day} {month} at {clock}"


def _base_language(language: str | None) -> str:
    base = (language or "en").replace("_", "-").split("-")[0].lower()
    return base if base in _WEEKDAY_NAMES else "en"
