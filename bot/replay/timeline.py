"""Entries in replay order, with the persona each account wears at each moment.

`build(feed, years_later)` places every valid entry at its replay instant,
orders them (instant, then file path, then position in the file), follows
storms to know which persona is worn when, and reports what only the whole
feed can tell: duplicate ids, replies to unknown or later entries, storms to
the persona already worn, DST and 29 February adjustments, and accounts over
the daily cap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from zoneinfo import ZoneInfo

from bot.replay.anniversary import FEB29, FOLD, GAP, replay, shift
from bot.feed.diagnostics import Diagnostic, error, warning
from bot.feed.ids import Suggester, unique_ids
from bot.feed.postfile import Entry

DAY = timedelta(hours=24)
CLOSE_REPLY = 10  # seconds: a reply this close to its parent is warned about (it waits for the parent)


@dataclass(slots=True)
class Event:
    entry: Entry
    instant: datetime  # aware UTC
    persona: str | None  # persona key worn when published (for a storm: the new one)
    previous: str | None = None  # for a storm: the persona worn before

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def account(self) -> str:
        return self.entry.account


@dataclass
class Timeline:
    events: list[Event]
    zone: ZoneInfo
    years_later: int
    diagnostics: list[Diagnostic] = field(default_factory=list)
    initial: dict[str, str | None] = field(default_factory=dict)  # persona each account starts with

    def by_id(self) -> dict[str, Event]:
        return {event.id: event for event in self.events}

    def persona_at(self, account: str, instant: datetime) -> str | None:
        """The persona `account` wears at `instant` (after every storm at or before it)."""
        current = self.initial.get(account)
        for event in self.events:
            if event.instant > instant:
                break
            if event.account == account and event.entry.storm:
                current = event.persona
        return current


def build(feed, years_later: int, *, daily_limit: int, file_rank: dict[str, int] | None = None,
          instants: dict | None = None) -> Timeline:
    """`instants`, a dict kept by the caller between builds, remembers the replay
    instants of plain moments (the running service's reload reuses them)."""
    config = feed.config
    zone = config.replay_zone
    memo = {} if instants is None else instants.setdefault((years_later, zone.key), {})
    out: list[Diagnostic] = []
    rank = file_rank or {}
    if not rank:
        for entry in feed.entries:
            rank.setdefault(entry.path, len(rank))

    first, placed_entries = unique_ids(feed.entries, out)

    staged = []
    days: dict = {}
    for entry in placed_entries:
        instant = memo.get(entry.moment)
        if instant is None:
            instant = _plain_instant(entry.moment, years_later, zone, days)
            if instant is not None and instants is not None:
                memo[entry.moment] = instant
        if instant is not None:
            staged.append((instant, rank[entry.path], entry.position, entry))
            continue
        try:
            result = replay(entry.moment, years_later, zone)
        except (ValueError, OverflowError):
            out.append(error(entry.path, entry.line, f"replay year {entry.moment.year + years_later} is out of range"))
            continue
        if result.adjustments:
            local = result.local.strftime("%Y-%m-%d %H:%M:%S")
            if FEB29 in result.adjustments:
                out.append(warning(entry.path, entry.line, f"29 February does not exist in {result.local.year}: replayed on {local}"))
            if GAP in result.adjustments:
                out.append(warning(entry.path, entry.line, f"replay time falls in a daylight-saving gap in {zone.key}: moved to {local}"))
            if FOLD in result.adjustments:
                out.append(warning(entry.path, entry.line, f"replay time {local} is ambiguous in {zone.key} (clocks go back): the first occurrence is used"))
        staged.append((result.instant, rank[entry.path], entry.position, entry))
    staged.sort(key=itemgetter(0, 1, 2))

    initial = {key: account.persona for key, account in config.accounts.items()}
    wearing = dict(initial)
    placed: dict[str, Event] = {}
    dropped: set[str] = set(feed.broken)
    events = []
    suggest = None
    for instant, _, _, entry in staged:
        if entry.reply_to is not None:
            parent = entry.reply_to
            if parent == entry.id:
                out.append(error(entry.path, entry.line, "entry replies to itself"))
                dropped.add(entry.id)
                continue
            if parent not in placed:
                if parent in dropped:
                    out.append(warning(entry.path, entry.line, f"reply_to {parent!r} names an entry left out for its errors: this reply is left out too"))
                elif parent in first:
                    later = first[parent]
                    out.append(error(entry.path, entry.line, f"reply_to {parent!r} names a later entry ({later.path}:{later.line}): a reply must come after its parent"))
                else:
                    suggest = suggest or Suggester(first, feed.broken)
                    out.append(error(entry.path, entry.line, f"reply_to {parent!r} names no entry of this feed{suggest.hint(parent)}"))
                dropped.add(entry.id)
                continue
        previous = wearing.get(entry.account)
        if entry.storm is not None:
            if entry.storm == previous:
                out.append(error(entry.path, entry.line, f"storm to {entry.storm!r}, the persona {entry.account!r} already wears"))
                dropped.add(entry.id)
                continue
            wearing[entry.account] = entry.storm
        event = Event(entry, instant, wearing.get(entry.account), previous if entry.storm else None)
        if entry.reply_to is not None and (gap := (instant - placed[entry.reply_to].instant).total_seconds()) < CLOSE_REPLY:
            out.append(warning(entry.path, entry.line, f"reply to {entry.reply_to!r} is due {gap:.0f} s after its parent:"
                                                       " it waits for the parent's outcome on each network, so it may go out late"))
        placed[entry.id] = event
        events.append(event)

    out.extend(_daily_limit(events, daily_limit))
    return Timeline(events, zone, years_later, out, initial)


def remember_instants(entries, years_later: int, zone: ZoneInfo, instants: dict) -> None:
    """Fill `instants` (as `build(..., instants=)` keeps it) for these entries."""
    memo = instants.setdefault((years_later, zone.key), {})
    days: dict = {}
    for entry in entries:
        moment = entry.moment
        if moment not in memo:
            instant = _plain_instant(moment, years_later, zone, days)
            if instant is not None:
                memo[moment] = instant


DAY_MEMO_AFTER = 8  # entries of a day replayed one by one before its whole day is checked


def _plain_instant(moment: datetime, years_later: int, zone: ZoneInfo, days: dict | None = None) -> datetime | None:
    """`replay(...).instant` when the replay needs no adjustment (the common case,
    about three times faster); None on 29 February, in a DST gap or fold, or out of range.
    `days` (a dict the caller keeps across calls) remembers, for each historical day
    with many entries, whether its whole replay day has one UTC offset: then a
    moment of it is that day's first instant plus its time of day. (Checking a
    day costs as much as a dozen moments, so a day's first few are done alone.)"""
    if moment.day == 29 and moment.month == 2:
        return None
    if days is not None:
        key = moment.toordinal()
        start = days.get(key, 0)
        if type(start) is int:  # entries seen so far
            if start < DAY_MEMO_AFTER:
                days[key] = start + 1
            else:
                start = days[key] = _plain_day(moment, years_later, zone)
        if type(start) is datetime:
            return start + timedelta(0, moment.hour * 3600 + moment.minute * 60 + moment.second)
    try:
        wall = shift(moment, years_later)  # naive, in `zone`
        offset = zone.utcoffset(wall)
        if zone.utcoffset(wall.replace(fold=1)) != offset:
            return None
        return (wall - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


_DAY_POINTS = [timedelta(hours=h) for h in range(24)] + [timedelta(hours=23, minutes=59, seconds=59)]


def _plain_day(moment: datetime, years_later: int, zone: ZoneInfo) -> datetime | None:
    """The UTC instant at which `moment`'s replay day begins, when the zone keeps one
    offset (no gap, no fold) at the start of each of its hours and at its last second;
    else None. (Time zones change offset at most once in an hour.)"""
    try:
        first = shift(datetime(moment.year, moment.month, moment.day), years_later)
        offset = zone.utcoffset(first)
        for step in _DAY_POINTS:
            wall = first + step
            if zone.utcoffset(wall) != offset or zone.utcoffset(wall.replace(fold=1)) != offset:
                return None
        return (first - offset).replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _daily_limit(events: list[Event], limit: int) -> list[Diagnostic]:
    """A warning where an account passes `limit` posts inside a sliding 24 hours."""
    windows: dict[str, deque] = {}
    warned_until: dict[str, datetime] = {}
    out = []
    for event in events:
        if event.entry.text is None:
            continue
        window = windows.setdefault(event.account, deque())
        window.append(event.instant)
        while window[0] <= event.instant - DAY:
            window.popleft()
        if len(window) > limit and event.instant >= warned_until.get(event.account, event.instant):
            entry = event.entry
            out.append(warning(entry.path, entry.line, f"account {entry.account!r} has {len(window)} posts within 24 hours of replay time, over the daily limit of {limit}"))
            warned_until[event.account] = window[0] + DAY
    return out
