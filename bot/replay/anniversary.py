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
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# adjustments reported with a replay instant
FEB29 = "feb29"
GAP = "gap"
FOLD = "fold"


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
