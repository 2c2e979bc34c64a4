"""Dates as a feed writes them: the calendars (`gregorian`, `julian`), which dates
exist in them, the Gregorian date of a Julian one, and the time of day of a post.
Pure functions; the anniversary rule (`bot.replay.anniversary`) builds on them.
"""

from __future__ import annotations

import calendar as _calendar
import functools
import re
from datetime import date, time

CALENDARS = ("gregorian", "julian")


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
