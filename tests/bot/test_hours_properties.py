"""Business hours, property-based: random weekly tables (ranges across midnight, 24:00
ends, closed days), holidays and special days, in timezones with DST changes, odd
offsets (+05:45, +03:30, 30-minute DST) and a skipped calendar day, at random instants
and right around each zone's offset changes.

Properties (for every table and instant):

* ``is_open(now)`` agrees with the table read in local wall time (away from the hour
  where the clocks change, where wall time is ambiguous or missing);
* ``next_opening(now)`` is after ``now``, is open, and the instant just before it is
  closed; when closed at ``now`` nothing in between is open;
* when open, ``closes_at(now)`` is after ``now``, the instant before it is open and it
  is closed itself;
* a closed holiday is closed all day, apart from a range of the day before that runs
  past midnight into it;
* ``status`` says the same as the three separate calls.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.hours import WEEKDAYS, BusinessHours
from bot.settings import Section

UTC = timezone.utc
ZONES = (
    "UTC", "Europe/Ljubljana", "America/New_York", "Australia/Lord_Howe",
    "Asia/Kathmandu", "Asia/Tehran", "America/St_Johns", "America/Santiago",
    "Pacific/Apia", "Europe/Dublin", "Africa/Casablanca",
)
TICK = timedelta(microseconds=1)
FILE = Path("/etc/supportbot/supportbot.yml")

SETTINGS = settings(
    max_examples=300, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_table(draw: st.DrawFn) -> Any:
    """"closed" or up to 3 ranges on a 15-minute grid; the last may cross midnight."""
    count = draw(st.integers(0, 3))
    if count == 0:
        return "closed"
    points = sorted(draw(st.lists(st.integers(0, 96), min_size=2 * count,
                                  max_size=2 * count, unique=True)))
    pairs = [(points[i] * 15, points[i + 1] * 15) for i in range(0, len(points), 2)]
    if pairs[-1][0] < 1440 and draw(st.booleans()):
        start = pairs[-1][0]
        end = draw(st.integers(0, 95)) * 15
        if end != start:
            # Ends "before" it starts: closes the next day.
            pairs[-1] = (start, end if end < start else end % 1440)
    ranges = []
    for start, end in pairs:
        if start >= 1440:
            continue
        ranges.append(f"{hhmm(start)}-{'24:00' if end == 1440 else hhmm(end)}")
    return ranges or "closed"


@st.composite
def tables(draw: st.DrawFn) -> tuple[BusinessHours, datetime]:
    """A business-hours table and an instant to ask about."""
    zone = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone)
    if draw(st.booleans()):
        now = draw(st.datetimes(datetime(2024, 1, 1), datetime(2028, 1, 1),
                                timezones=st.just(UTC)))
    else:  # close to a change of the zone's offset
        changes = offset_changes(zone) or (datetime(2026, 6, 1, tzinfo=UTC),)
        base = draw(st.sampled_from(changes))
        now = base + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)),
                               seconds=draw(st.integers(0, 59)))
    local_day = now.astimezone(tz).date()
    holidays: list[Any] = []
    for offset in draw(st.lists(st.integers(-3, 10), max_size=4, unique=True)):
        day = local_day + timedelta(days=offset)
        special = draw(st.one_of(st.none(), day_table()))
        holidays.append(day if special is None else {"date": day, "hours": special})
    data = {
        "timezone": zone,
        "weekly": {day: draw(day_table()) for day in WEEKDAYS},
        "holidays": holidays,
    }
    hours = BusinessHours.from_section(
        Section(name="business_hours", data=data, file=FILE, base_dir=FILE.parent)
    )
    return hours, now


@cache
def offset_changes(zone: str) -> tuple[datetime, ...]:
    """Instants (UTC, to the minute) in 2025-2027 at which the zone's offset changes."""
    tz = ZoneInfo(zone)
    out = []
    t = datetime(2025, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    previous = t.astimezone(tz).utcoffset()
    while t < datetime(2028, 1, 1, tzinfo=UTC):
        t2 = t + step
        offset = t2.astimezone(tz).utcoffset()
        if offset != previous:
            lo, hi = t, t2  # find the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == previous:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(second=0, microsecond=0))
            previous = offset
        t = t2
    return tuple(out)


def stable_offset(tz: ZoneInfo, now: datetime, around: timedelta) -> bool:
    """Whether the zone's offset is the same for ``around`` on both sides of ``now``."""
    offsets = {(now + k * around / 4).astimezone(tz).utcoffset() for k in range(-4, 5)}
    return len(offsets) == 1


def open_by_wall_clock(hours: BusinessHours, now: datetime) -> bool:
    """The table read naively: local wall time inside a range of today or yesterday."""
    local = now.astimezone(hours.timezone)
    minute = (local.hour * 60 + local.minute + local.second / 60
              + local.microsecond / 6e7)
    today = local.date()
    for day, shift in ((today, 0), (today - timedelta(days=1), 1440)):
        for r in hours.ranges_on(day):
            if r.start_minutes <= minute + shift < r.end_minutes:
                return True
    return False


@SETTINGS
@given(tables())
def test_is_open_agrees_with_the_table_in_local_wall_time(
    case: tuple[BusinessHours, datetime],
) -> None:
    hours, now = case
    # Ranges last at most two days; away from a clock change wall time is unambiguous.
    assume(stable_offset(hours.timezone, now, timedelta(hours=50)))
    assert hours.is_open(now) == open_by_wall_clock(hours, now)


@SETTINGS
@given(tables())
def test_next_opening_is_the_start_of_the_next_open_period(
    case: tuple[BusinessHours, datetime],
) -> None:
    hours, now = case
    local_opening = hours.next_opening(now)
    if local_opening is None:
        return
    assert local_opening.tzinfo is hours.timezone
    # Arithmetic on datetimes of one zoneinfo zone is wall-clock arithmetic in Python
    # (02:00 IST minus 1 µs is 01:59:59.999999 "IST", a time that does not exist):
    # step in UTC.
    opening = local_opening.astimezone(UTC)
    assert opening > now
    assert hours.is_open(opening)
    assert not hours.is_open(opening - TICK)
    if not hours.is_open(now):
        # Never inside a closed period: nothing opens in between.
        span = opening - now
        for k in range(1, 16):
            assert not hours.is_open(now + span * k / 16)


@SETTINGS
@given(tables())
def test_closes_at_ends_the_current_period(
    case: tuple[BusinessHours, datetime],
) -> None:
    hours, now = case
    local_closes = hours.closes_at(now)
    if not hours.is_open(now):
        assert local_closes is None
        return
    if local_closes is None:  # open for the whole horizon
        return
    closes = local_closes.astimezone(UTC)  # step in UTC, not wall time
    assert closes > now
    assert hours.is_open(closes - TICK)
    assert not hours.is_open(closes)
    span = closes - now
    for k in range(16):
        assert hours.is_open(now + span * k / 16)
    opening = hours.next_opening(now)
    assert opening is None or opening > closes


@SETTINGS
@given(tables())
def test_status_is_the_three_answers(case: tuple[BusinessHours, datetime]) -> None:
    hours, now = case
    s = hours.status(now)
    assert (s.open, s.next_opening, s.closes_at) == (
        hours.is_open(now), hours.next_opening(now), hours.closes_at(now)
    )


@SETTINGS
@given(tables(), st.integers(0, 95))
def test_a_closed_holiday_is_closed_except_for_the_night_before(
    case: tuple[BusinessHours, datetime], quarter: int
) -> None:
    hours, _ = case
    closed_days = [d for d, r in hours.exceptions.items() if r == ()]
    assume(closed_days)
    day = closed_days[0]
    moment = datetime.combine(day, time(), tzinfo=hours.timezone) + timedelta(
        minutes=15 * quarter + 7
    )
    moment = moment.astimezone(UTC).astimezone(hours.timezone)  # a real instant
    assume(moment.date() == day)
    before = hours.ranges_on(day - timedelta(days=1))
    spill = max((r.end_minutes - 1440 for r in before), default=0)
    local_minute = moment.hour * 60 + moment.minute
    assume(stable_offset(hours.timezone, moment, timedelta(hours=30)))
    if local_minute >= spill:
        assert not hours.is_open(moment)


@SETTINGS
@given(st.sampled_from(ZONES), st.integers(0, 3000))
def test_open_around_the_clock_never_closes(zone: str, minutes: int) -> None:
    data = {"timezone": zone, "weekly": {day: ["00:00-24:00"] for day in WEEKDAYS}}
    hours = BusinessHours.from_section(
        Section(name="business_hours", data=data, file=FILE, base_dir=FILE.parent)
    )
    now = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=minutes * 97)
    assert hours.is_open(now)
    assert hours.closes_at(now) is None and hours.next_opening(now) is None


def test_offset_changes_are_found() -> None:
    """The DST-focused examples really sit on clock changes."""
    changes = offset_changes("Europe/Ljubljana")
    assert datetime(2026, 3, 29, 1, 0, tzinfo=UTC) in changes
    assert datetime(2026, 10, 25, 1, 0, tzinfo=UTC) in changes
    assert offset_changes("UTC") == ()
    assert date(2026, 1, 1) < changes[-1].date()
