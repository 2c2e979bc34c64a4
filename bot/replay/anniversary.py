"""The anniversary rule: a historical moment to its replay instant. Pure functions.

- With the Julian calendar the written date is first converted to Gregorian.
- The replay has the same month, day, hour, minute and second, `years_later`
  years later, as wall-clock time in the replay zone.
- 29 February in a common replay year becomes 28 February, same time.
- A wall-clock time in a spring-forward gap moves forward by the gap; an
  ambiguous time takes its first occurrence (zoneinfo's fold=0 rules).
"""

from __future__ import annotations

import calendar as _calendar
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

CALENDARS = ("gregorian", "julian")

# adjustments reported with a replay instant
FEB29 = "feb29"
GAP = "gap"
FOLD = "fold"


def is_julian_leap(year: int) -> bool:
    return year % 4 == 0


def valid_date(year: int, month: int, day: int, calendar: str) -> bool:
    if not (1 <= month <= 12 and day >= 1 and 1 <= year <= 9999):
        return False
    if calendar != "julian":
        return day <= _calendar.monthrange(year, month)[1]
    if day > ((29 if is_julian_leap(year) else 28) if month == 2 else _calendar.monthrange(year, month)[1]):
        return False
    try:  # Julian 0001-01-01 and -02 fall before Gregorian year 1, the end of Julian 9999 after 9999
        julian_to_gregorian(year, month, day)
    except (ValueError, OverflowError):
        return False
    return True


def julian_to_gregorian(year: int, month: int, day: int) -> date:
    """The Gregorian date of a Julian calendar date (proleptic, years from 1)."""
    # Julian Day Number of the Julian date, then back to a Gregorian ordinal.
    a = (14 - month) // 12
    y = year + 4800 - a
    m = month + 12 * a - 3
    jdn = day + (153 * m + 2) // 5 + 365 * y + y // 4 - 32083
    return date.fromordinal(jdn - 1721425)


def to_gregorian(year: int, month: int, day: int, calendar: str) -> date:
    if calendar == "julian":
        return julian_to_gregorian(year, month, day)
    return date(year, month, day)


@dataclass(frozen=True, slots=True)
class Replay:
    instant: datetime  # aware, UTC
    local: datetime  # aware, in the replay zone
    adjustments: frozenset[str]


def shift(moment: datetime, years_later: int) -> datetime:
    """The year shift, the one place it is done: the naive wall-clock `years_later`
    years after `moment`, same month, day and time; 29 February becomes 28 February
    in a common year. ValueError past year 9999."""
    year = moment.year + years_later
    if moment.month == 2 and moment.day == 29 and not _calendar.isleap(year):
        return moment.replace(year=year, day=28)
    return moment.replace(year=year)


def replay(moment: datetime, years_later: int, zone: ZoneInfo) -> Replay:
    """The replay of a naive Gregorian wall-clock `moment`, `years_later` years on, in `zone`."""
    shifted = shift(moment, years_later)
    adjustments = {FEB29} if shifted.day != moment.day else set()
    wall = shifted.replace(tzinfo=zone)
    instant = wall.astimezone(UTC)
    local = instant.astimezone(zone)
    if local.replace(tzinfo=None) != shifted:
        adjustments.add(GAP)
    elif wall.replace(fold=1).utcoffset() != wall.utcoffset():
        adjustments.add(FOLD)
    return Replay(instant, local, frozenset(adjustments))


def replay_instant(moment: datetime, years_later: int, zone: ZoneInfo) -> datetime:
    """Only the UTC instant of `replay`."""
    return shift(moment, years_later).replace(tzinfo=zone).astimezone(UTC)


def default_years_later(first: datetime, zone: ZoneInfo, now: datetime) -> int:
    """The smallest N >= 1 that puts the replay of `first` (naive Gregorian: the feed's
    first entry) after `now`, so the replay starts at the beginning of the feed."""
    n = max(1, now.year - first.year - 1)
    while True:
        try:
            if replay_instant(first, n, zone) > now:
                return n
        except (ValueError, OverflowError):
            return n  # past year 9999: the timeline reports those entries as out of range
        n += 1


_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\Z")


@functools.lru_cache(maxsize=4096)
def parse_time(text: str) -> time | None:
    """HH:MM or HH:MM:SS to a time, or None when it is not one (ASCII digits only)."""
    match = _TIME.match(text)
    if match is None:
        return None
    h, m, s = match.groups("0")
    h, m, s = int(h), int(m), int(s)
    if h > 23 or m > 59 or s > 59:
        return None
    return time(h, m, s)
