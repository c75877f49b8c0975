from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.errors import ConfigError
from bot.hours import (
    WEEKDAYS,
    BusinessHours,
    HoursStatus,
    format_opening,
)
from bot.settings import Section

LJ = ZoneInfo("Europe/Ljubljana")
UTC = timezone.utc
FILE = Path("/etc/supportbot/supportbot.yml")

# 2026-03-02 is a Monday; 2026-12-24 a Thursday; DST starts 2026-03-29 and ends
# 2026-10-25 in Europe/Ljubljana.
CONFIG = """
timezone: Europe/Ljubljana
weekly:
  mon: ["08:00-12:00", "13:00-18:00"]
  tue: ["08:00-18:00"]
  wed: ["08:00-18:00"]
  thu: ["08:00-18:00"]
  fri: ["08:00-16:00"]
  sat: ["22:00-02:00"]
  sun: closed
holidays:
  - {date: 2026-12-24, hours: ["08:00-12:00"], name: Christmas Eve}
  - 2026-12-25
  - 2026-12-26
  - 2027-01-01
  - 2027-01-02
"""


def section(data: Any) -> Section:
    return Section(name="business_hours", data=data, file=FILE, base_dir=FILE.parent)


def hours_from(text: str = CONFIG, **changes: Any) -> BusinessHours:
    data = yaml.safe_load(text)
    data.update(changes)
    return BusinessHours.from_section(section(data))


def lj(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=LJ, fold=fold)  # type: ignore[misc]


@pytest.fixture(scope="module")
def hours() -> BusinessHours:
    return hours_from()


# --------------------------------------------------------------------- is_open

OPEN_CASES = [
    # (now, open?, why)
    (lj(2026, 3, 2, 7, 59), False, "Monday before opening"),
    (lj(2026, 3, 2, 8, 0), True, "opening minute is open"),
    (lj(2026, 3, 2, 11, 59, 59), True, "end of the morning range"),
    (lj(2026, 3, 2, 12, 0), False, "closing minute is closed (lunch)"),
    (lj(2026, 3, 2, 13, 0), True, "second range of the day"),
    (lj(2026, 3, 2, 18, 0), False, "evening"),
    (lj(2026, 3, 6, 15, 59), True, "Friday short day"),
    (lj(2026, 3, 6, 16, 0), False, "Friday after closing"),
    (lj(2026, 3, 7, 21, 59), False, "Saturday before the night shift"),
    (lj(2026, 3, 7, 22, 0), True, "Saturday night shift starts"),
    (lj(2026, 3, 7, 23, 59), True, "before midnight"),
    (lj(2026, 3, 8, 0, 0), True, "midnight, still Saturday's range"),
    (lj(2026, 3, 8, 1, 59), True, "Sunday early morning, Saturday's range"),
    (lj(2026, 3, 8, 2, 0), False, "Saturday's range ends Sunday 02:00"),
    (lj(2026, 3, 8, 12, 0), False, "Sunday closed"),
    (lj(2026, 12, 24, 11, 0), True, "special hours on Christmas Eve"),
    (lj(2026, 12, 24, 13, 0), False, "after the special hours (weekday would be open)"),
    (lj(2026, 12, 25, 10, 0), False, "holiday on a Friday"),
    (lj(2026, 12, 26, 23, 0), False, "holiday Saturday removes the night shift"),
    (lj(2026, 12, 27, 1, 0), False, "...including its part after midnight"),
    (datetime(2026, 3, 2, 7, 30, tzinfo=UTC), True, "now in UTC (08:30 in Ljubljana)"),
    (datetime(2026, 3, 2, 6, 30, tzinfo=UTC), False, "now in UTC (07:30 in Ljubljana)"),
]


@pytest.mark.parametrize(
    ("now", "expected"), [c[:2] for c in OPEN_CASES], ids=[c[2] for c in OPEN_CASES]
)
def test_is_open(hours: BusinessHours, now: datetime, expected: bool) -> None:
    assert hours.is_open(now) is expected


def test_holiday_on_sunday_keeps_saturday_night() -> None:
    hours = hours_from(holidays=[date(2026, 3, 8)])
    assert hours.is_open(lj(2026, 3, 8, 1, 0))  # the range belongs to Saturday


# --------------------------------------------------------------------- next_opening

NEXT_CASES = [
    (lj(2026, 3, 2, 7, 0), lj(2026, 3, 2, 8, 0), "later today"),
    (lj(2026, 3, 2, 12, 30), lj(2026, 3, 2, 13, 0), "after lunch"),
    (lj(2026, 3, 2, 9, 0), lj(2026, 3, 2, 13, 0), "open: the reopening after lunch"),
    (lj(2026, 3, 2, 18, 30), lj(2026, 3, 3, 8, 0), "tomorrow"),
    (lj(2026, 3, 6, 17, 0), lj(2026, 3, 7, 22, 0), "Friday evening -> Saturday night"),
    (lj(2026, 3, 8, 3, 0), lj(2026, 3, 9, 8, 0), "Sunday -> Monday"),
    (lj(2026, 3, 7, 23, 0), lj(2026, 3, 9, 8, 0), "open across midnight -> Monday"),
    (
        lj(2026, 12, 24, 12, 30), lj(2026, 12, 28, 8, 0),
        "long holiday weekend: special Thu, holiday Fri+Sat, Sunday closed",
    ),
    (
        lj(2026, 12, 31, 18, 30), lj(2027, 1, 4, 8, 0),
        "New Year: holiday Fri+Sat, Sunday closed",
    ),
    (lj(2026, 12, 25, 0, 0), lj(2026, 12, 28, 8, 0), "on the holiday itself"),
]


@pytest.mark.parametrize(
    ("now", "expected"), [c[:2] for c in NEXT_CASES], ids=[c[2] for c in NEXT_CASES]
)
def test_next_opening(hours: BusinessHours, now: datetime, expected: datetime) -> None:
    got = hours.next_opening(now)
    assert got == expected
    assert got is not None and got.tzinfo == LJ
    assert got.utcoffset() == expected.utcoffset()


CLOSES_CASES = [
    (lj(2026, 3, 2, 9, 0), lj(2026, 3, 2, 12, 0), "morning range"),
    (lj(2026, 3, 2, 8, 0), lj(2026, 3, 2, 12, 0), "at opening"),
    (lj(2026, 3, 7, 23, 0), lj(2026, 3, 8, 2, 0), "across midnight"),
    (lj(2026, 12, 24, 9, 0), lj(2026, 12, 24, 12, 0), "special hours"),
    (lj(2026, 3, 2, 12, 30), None, "closed"),
    (lj(2026, 12, 25, 10, 0), None, "holiday"),
]


@pytest.mark.parametrize(
    ("now", "expected"), [c[:2] for c in CLOSES_CASES], ids=[c[2] for c in CLOSES_CASES]
)
def test_closes_at(
    hours: BusinessHours, now: datetime, expected: datetime | None
) -> None:
    assert hours.closes_at(now) == expected


def test_status_bundles_the_three(hours: BusinessHours) -> None:
    now = lj(2026, 3, 2, 9, 0)
    assert hours.status(now) == HoursStatus(
        open=True, next_opening=lj(2026, 3, 2, 13, 0), closes_at=lj(2026, 3, 2, 12, 0)
    )
    closed = hours.status(lj(2026, 3, 2, 19, 0))
    assert closed == HoursStatus(False, lj(2026, 3, 3, 8, 0), None)


def test_ranges_touching_across_midnight_merge() -> None:
    hours = hours_from(
        weekly={**yaml.safe_load(CONFIG)["weekly"], "sun": ["00:00-06:00"]}
    )
    now = lj(2026, 3, 7, 23, 0)
    assert hours.closes_at(now) == lj(2026, 3, 8, 6, 0)
    assert hours.is_open(lj(2026, 3, 8, 3, 0))


def test_end_at_2400() -> None:
    week = {day: ["20:00-24:00"] for day in WEEKDAYS}
    hours = hours_from(weekly=week, holidays=[])
    assert hours.is_open(lj(2026, 3, 2, 23, 59))
    assert not hours.is_open(lj(2026, 3, 3, 0, 0))
    assert hours.closes_at(lj(2026, 3, 2, 21, 0)) == lj(2026, 3, 3, 0, 0)


def test_never_open() -> None:
    hours = hours_from(weekly={day: "closed" for day in WEEKDAYS}, holidays=[])
    now = lj(2026, 3, 2, 9, 0)
    assert hours.status(now) == HoursStatus(False, None, None)


def test_always_open() -> None:
    hours = hours_from(weekly={day: ["00:00-24:00"] for day in WEEKDAYS}, holidays=[])
    now = lj(2026, 3, 2, 9, 0)
    assert hours.status(now) == HoursStatus(True, None, None)


def test_next_opening_far_ahead_and_beyond_horizon() -> None:
    closed = {day: "closed" for day in WEEKDAYS}
    now = lj(2026, 3, 2, 9, 0)
    soon = now.date() + timedelta(days=300)
    hours = hours_from(
        weekly=closed, holidays=[{"date": soon, "hours": ["10:00-11:00"]}]
    )
    assert hours.next_opening(now) == lj(soon.year, soon.month, soon.day, 10, 0)
    late = now.date() + timedelta(days=400)
    hours = hours_from(
        weekly=closed, holidays=[{"date": late, "hours": ["10:00-11:00"]}]
    )
    assert hours.next_opening(now) is None


# --------------------------------------------------------------------- DST


def test_spring_forward_range_ending_in_the_gap(hours: BusinessHours) -> None:
    # Sat 2026-03-28 22:00 CET -> "Sun 02:00", which does not exist: clocks jump
    # 02:00 -> 03:00. The range ends at that instant (01:00 UTC), shown as 03:00 CEST.
    now = lj(2026, 3, 28, 23, 0)
    assert hours.is_open(now)
    end = hours.closes_at(now)
    assert end == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert end is not None and (end.hour, end.utcoffset()) == (3, timedelta(hours=2))
    assert hours.is_open(datetime(2026, 3, 29, 0, 59, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))


def test_spring_forward_next_monday_is_summer_time(hours: BusinessHours) -> None:
    got = hours.next_opening(lj(2026, 3, 29, 12, 0))
    assert got == lj(2026, 3, 30, 8, 0)
    assert got is not None and got.utcoffset() == timedelta(hours=2)
    assert got.astimezone(UTC).hour == 6


def test_opening_inside_the_gap_moves_forward() -> None:
    week = {day: "closed" for day in WEEKDAYS}
    week["sun"] = ["02:30-05:00"]
    hours = hours_from(weekly=week, holidays=[])
    got = hours.next_opening(lj(2026, 3, 28, 12, 0))
    # RFC 5545: 02:30 is read with the pre-gap offset -> 01:30 UTC = 03:30 CEST.
    assert got == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert not hours.is_open(datetime(2026, 3, 29, 1, 15, tzinfo=UTC))  # 03:15 CEST


def test_fall_back_range_ends_at_first_0200(hours: BusinessHours) -> None:
    # Sun 2026-10-25: 03:00 CEST -> 02:00 CET, so 02:00-02:59 happens twice.
    now = lj(2026, 10, 24, 23, 0)
    end = hours.closes_at(now)
    assert end is not None and (end.hour, end.fold) == (2, 0)
    # PEP 495: an ambiguous local time never == another zone's; compare in UTC.
    assert end.astimezone(UTC) == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    assert hours.is_open(lj(2026, 10, 25, 1, 59))
    assert not hours.is_open(lj(2026, 10, 25, 2, 30, fold=0))
    assert not hours.is_open(lj(2026, 10, 25, 2, 30, fold=1))


def test_fall_back_next_monday_is_winter_time(hours: BusinessHours) -> None:
    got = hours.next_opening(lj(2026, 10, 25, 12, 0))
    assert got == lj(2026, 10, 26, 8, 0)
    assert got is not None and got.utcoffset() == timedelta(hours=1)


def test_day_long_range_on_dst_days_follows_the_wall_clock() -> None:
    week = {day: ["08:00-18:00"] for day in WEEKDAYS}
    hours = hours_from(weekly=week, holidays=[])
    for day in (date(2026, 3, 29), date(2026, 10, 25)):
        start = hours.next_opening(datetime(day.year, day.month, day.day, tzinfo=LJ))
        assert start is not None and (start.hour, start.minute) == (8, 0)
        end = hours.closes_at(start)
        assert end is not None and (end.hour, end.minute) == (18, 0)


# --------------------------------------------------------------------- naive now


@pytest.mark.parametrize("method", ["is_open", "next_opening", "closes_at", "status"])
def test_naive_now_is_rejected(hours: BusinessHours, method: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(hours, method)(datetime(2026, 3, 2, 9, 0))


# --------------------------------------------------------------------- validation

WEEK = yaml.safe_load(CONFIG)["weekly"]

ERROR_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, changes to the valid config, key named, words in the problem)
    ("timezone missing", {"timezone": None}, "timezone", "missing"),
    ("timezone unknown", {"timezone": "Mars/Olympus"}, "timezone", "unknown"),
    ("timezone not text", {"timezone": 5}, "timezone", "timezone name"),
    ("timezone path", {"timezone": "../../etc/passwd"}, "timezone", "unknown"),
    ("unknown setting", {"weekdays": {}}, "weekdays", "not a business_hours"),
    ("weekly missing", {"weekly": None}, "weekly", "missing"),
    ("weekly a list", {"weekly": ["08:00-16:00"]}, "weekly", "mapping"),
    ("weekday spelled out", {"weekly": {**WEEK, "monday": "closed"}}, "weekly.monday",
     "not a weekday"),
    ("weekday missing", {"weekly": {k: v for k, v in WEEK.items() if k != "sun"}},
     "weekly.sun", "missing"),
    ("range malformed", {"weekly": {**WEEK, "mon": ["8-16"]}}, "weekly.mon[0]",
     "not a range"),
    ("second range bad hour",
     {"weekly": {**WEEK, "tue": ["08:00-12:00", "25:00-26:00"]}},
     "weekly.tue[1]", "start time"),
    ("bad end", {"weekly": {**WEEK, "wed": ["08:00-24:30"]}}, "weekly.wed[0]",
     "end time"),
    ("bad minutes", {"weekly": {**WEEK, "wed": ["08:61-12:00"]}}, "weekly.wed[0]",
     "start time"),
    ("empty range", {"weekly": {**WEEK, "thu": ["08:00-08:00"]}}, "weekly.thu[0]",
     "empty"),
    ("overlap", {"weekly": {**WEEK, "fri": ["08:00-12:00", "11:00-13:00"]}},
     "weekly.fri[1]", "overlaps"),
    ("overlap listed first",
     {"weekly": {**WEEK, "fri": ["11:00-13:00", "08:00-12:00"]}},
     "weekly.fri[0]", "overlaps"),
    ("sexagesimal number", {"weekly": {**WEEK, "sat": [480]}}, "weekly.sat[0]",
     "number 480"),
    ("single bad string", {"weekly": {**WEEK, "sun": "nope"}}, "weekly.sun",
     "not a range"),
    ("boolean day", {"weekly": {**WEEK, "sun": False}}, "weekly.sun", "bool"),
    ("holidays not a list", {"holidays": "2026-12-25"}, "holidays", "list"),
    ("holiday bad date", {"holidays": ["2026-12-25", "2026-13-01"]}, "holidays[1]",
     "not a date"),
    ("holiday datetime", {"holidays": [datetime(2026, 12, 25, 8, 0)]}, "holidays[0]",
     "date-time"),
    ("holiday without date", {"holidays": [{"hours": ["08:00-12:00"]}]},
     "holidays[0].date", "missing"),
    ("holiday without hours", {"holidays": [{"date": "2026-12-24"}]},
     "holidays[0].hours", "missing"),
    ("holiday bad hours", {"holidays": [{"date": "2026-12-24", "hours": ["8"]}]},
     "holidays[0].hours[0]", "not a range"),
    ("holiday unknown key", {"holidays": [{"date": "2026-12-24", "open": "x"}]},
     "holidays[0].open", "not a holiday setting"),
    ("holiday twice", {"holidays": ["2026-12-25", date(2026, 12, 25)]}, "holidays[1]",
     "twice"),
]


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_validation_error_names_the_key(
    changes: dict[str, Any], key: str, words: str
) -> None:
    data = yaml.safe_load(CONFIG)
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    with pytest.raises(ConfigError) as info:
        BusinessHours.from_section(section(data))
    err = info.value
    assert err.key == f"business_hours.{key}"
    assert words in err.problem
    assert err.fix, "every error says how to fix it"
    assert str(FILE) in str(err) and f"business_hours.{key}:" in str(err)


def test_valid_variants_parse() -> None:
    hours = hours_from(
        weekly={**WEEK, "mon": "08:00-16:00", "tue": [], "sun": "Closed"},
        holidays=["2026-12-25", {"date": date(2026, 12, 31), "hours": "closed"}],
    )
    assert hours.is_open(lj(2026, 3, 2, 15, 0))
    assert not hours.is_open(lj(2026, 3, 3, 9, 0))
    assert not hours.is_open(lj(2026, 12, 31, 9, 0))


def test_project_settings_file_parses() -> None:
    from bot.settings import load_settings

    settings = load_settings(Path(__file__).parents[2] / "supportbot.yml")
    BusinessHours.from_section(settings.section("business_hours"))


# --------------------------------------------------------------------- phrases

MON_8 = lj(2026, 3, 2, 8, 0)
PHRASES = [
    # (language, dt, now, expected)
    ("en", lj(2026, 3, 2, 14, 0), lj(2026, 3, 2, 12, 30), "today at 14:00"),
    ("en", lj(2026, 3, 3, 8, 0), lj(2026, 3, 2, 19, 0), "tomorrow at 08:00"),
    ("en", MON_8, lj(2026, 2, 27, 17, 0), "Monday at 08:00"),
    ("en", lj(2026, 12, 28, 8, 0), lj(2026, 12, 18, 17, 0),
     "Monday 28 December at 08:00"),
    ("sl", lj(2026, 3, 2, 14, 0), lj(2026, 3, 2, 12, 30), "danes ob 14:00"),
    ("sl", lj(2026, 3, 3, 8, 0), lj(2026, 3, 2, 19, 0), "jutri ob 8:00"),
    ("sl", MON_8, lj(2026, 2, 27, 17, 0), "v ponedeljek ob 8:00"),
    ("sl", lj(2026, 3, 4, 9, 30), lj(2026, 3, 2, 19, 0), "v sredo ob 9:30"),
    ("sl", lj(2026, 3, 7, 22, 0), lj(2026, 3, 5, 19, 0), "v soboto ob 22:00"),
    ("sl", lj(2026, 3, 8, 10, 0), lj(2026, 3, 5, 19, 0), "v nedeljo ob 10:00"),
    ("sl", lj(2026, 12, 28, 8, 0), lj(2026, 12, 18, 17, 0),
     "v ponedeljek, 28. decembra, ob 8:00"),
    ("ar", lj(2026, 3, 2, 14, 0), lj(2026, 3, 2, 12, 30), "اليوم الساعة 14:00"),
    ("ar", lj(2026, 3, 3, 8, 0), lj(2026, 3, 2, 19, 0), "غدًا الساعة 08:00"),
    ("ar", MON_8, lj(2026, 2, 27, 17, 0), "يوم الاثنين الساعة 08:00"),
    ("ar", lj(2026, 3, 6, 8, 0), lj(2026, 3, 2, 17, 0), "يوم الجمعة الساعة 08:00"),
    ("ar", lj(2026, 12, 28, 8, 0), lj(2026, 12, 18, 17, 0),
     "يوم الاثنين 28 ديسمبر الساعة 08:00"),
    ("de", MON_8, lj(2026, 2, 27, 17, 0), "Monday at 08:00"),
    (None, MON_8, lj(2026, 2, 27, 17, 0), "Monday at 08:00"),
    ("sl-SI", MON_8, lj(2026, 2, 27, 17, 0), "v ponedeljek ob 8:00"),
    ("ar_EG", MON_8, lj(2026, 3, 1, 9, 0), "غدًا الساعة 08:00"),
    # now given in UTC: 23:30 UTC Sunday is already Monday in Ljubljana.
    ("en", MON_8, datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "today at 08:00"),
]


@pytest.mark.parametrize(("language", "dt", "now", "expected"), PHRASES)
def test_format_opening(
    language: str | None, dt: datetime, now: datetime, expected: str
) -> None:
    assert format_opening(dt, language, now) == expected


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("sl", ["v ponedeljek", "v torek", "v sredo", "v četrtek", "v petek",
                "v soboto", "v nedeljo"]),
        ("ar", ["يوم الاثنين", "يوم الثلاثاء", "يوم الأربعاء", "يوم الخميس",
                "يوم الجمعة", "يوم السبت", "يوم الأحد"]),
    ],
)
def test_every_weekday_phrase(language: str, names: list[str]) -> None:
    for i, name in enumerate(names):
        dt = lj(2026, 3, 2 + i, 9, 0)  # Monday 2 March + i
        assert dt.weekday() == i
        phrase = format_opening(dt, language, dt - timedelta(days=3))
        assert phrase.startswith(name)


def test_format_opening_needs_aware_datetimes() -> None:
    with pytest.raises(ValueError):
        format_opening(datetime(2026, 3, 2, 8, 0), "en", MON_8)
