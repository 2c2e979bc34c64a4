"""The anniversary rule: DST, 29 February, Julian dates, years_later precedence, the default N.

Expected values are worked out independently (calendar facts, hand-computed UTC
offsets), not by calling the code under test.

What monotonicity holds (checked by the hypothesis properties at the end): let w(m) be
the replay wall-clock of a historical moment m (same month, day and time, N years on).
- w is non-decreasing, except that in a common replay year 29 February collapses onto
  28 February, so 29 Feb 10:00 replays before 28 Feb 23:00.
- Reading wall-clock times as instants with fold=0 is non-decreasing over the times that
  exist (an ambiguous time takes its first occurrence, which keeps the order), but a
  time inside a spring-forward gap is pushed forward by the gap: 02:30 becomes 03:30, i.e.
  after a moment written at 03:10. So replay_instant is NOT monotonic in general.
What holds: for m1 <= m2, outside the 28/29 February collapse, replay(m1) <= replay(m2)
whenever w(m1) exists in the zone; and in every case replay(m2) >= replay(m1) - push(m1),
where push(m1) is how far the gap moved m1 (zero outside gaps).
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.feed.dates import julian_to_gregorian, to_gregorian, valid_date
from bot.replay.anniversary import FEB29, FOLD, GAP, default_years_later, replay, replay_instant
from tests.support.examples import examples

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MOSCOW = ZoneInfo("Europe/Moscow")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- DST: 2027 has Berlin's gap on 28 March, fold on 31 October (last Sundays);
# New York's gap on 14 March (second Sunday), fold on 7 November (first Sunday).


@pytest.mark.parametrize(
    "zone, moment, instant, local",
    [
        # Berlin 02:00 CET -> 03:00 CEST: 02:30 does not exist, moves forward by the hour
        (BERLIN, datetime(1917, 3, 28, 2, 30), utc(2027, 3, 28, 1, 30), "2027-03-28T03:30:00+02:00"),
        (BERLIN, datetime(1917, 3, 28, 2, 0), utc(2027, 3, 28, 1, 0), "2027-03-28T03:00:00+02:00"),
        (BERLIN, datetime(1917, 3, 28, 2, 59, 59), utc(2027, 3, 28, 1, 59, 59), "2027-03-28T03:59:59+02:00"),
        # New York 02:00 EST -> 03:00 EDT
        (NEW_YORK, datetime(1917, 3, 14, 2, 30), utc(2027, 3, 14, 7, 30), "2027-03-14T03:30:00-04:00"),
        (NEW_YORK, datetime(1917, 3, 14, 2, 15, 7), utc(2027, 3, 14, 7, 15, 7), "2027-03-14T03:15:07-04:00"),
    ],
)
def test_a_time_in_the_spring_gap_moves_forward_by_the_gap(zone, moment, instant, local):
    result = replay(moment, 110, zone)
    assert result.instant == instant
    assert result.local.isoformat() == local
    assert result.adjustments == {GAP}
    assert replay_instant(moment, 110, zone) == instant


@pytest.mark.parametrize(
    "zone, moment, first, second",
    [
        # Berlin 03:00 CEST -> 02:00 CET: 02:30 happens at 00:30 and at 01:30 UTC
        (BERLIN, datetime(1917, 10, 31, 2, 30), utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30)),
        (BERLIN, datetime(1917, 10, 31, 2, 0), utc(2027, 10, 31, 0, 0), utc(2027, 10, 31, 1, 0)),
        # New York 02:00 EDT -> 01:00 EST: 01:30 happens at 05:30 and at 06:30 UTC
        (NEW_YORK, datetime(1917, 11, 7, 1, 30), utc(2027, 11, 7, 5, 30), utc(2027, 11, 7, 6, 30)),
        (NEW_YORK, datetime(1917, 11, 7, 1, 59, 59), utc(2027, 11, 7, 5, 59, 59), utc(2027, 11, 7, 6, 59, 59)),
    ],
)
def test_an_ambiguous_time_takes_its_first_occurrence(zone, moment, first, second):
    result = replay(moment, 110, zone)
    assert result.instant == first != second
    assert result.adjustments == {FOLD}
    assert result.local.replace(tzinfo=None) == moment.replace(year=2027)
    assert replay_instant(moment, 110, zone) == first


@pytest.mark.parametrize(
    "zone, moment, instant",
    [
        (BERLIN, datetime(1917, 3, 28, 1, 59, 59), utc(2027, 3, 28, 0, 59, 59)),  # just before the gap
        (BERLIN, datetime(1917, 3, 28, 3, 0), utc(2027, 3, 28, 1, 0)),  # just after it
        (BERLIN, datetime(1917, 10, 31, 1, 59, 59), utc(2027, 10, 30, 23, 59, 59)),  # before the fold
        (BERLIN, datetime(1917, 10, 31, 3, 0), utc(2027, 10, 31, 2, 0)),  # after it
        (NEW_YORK, datetime(1917, 11, 7, 2, 0), utc(2027, 11, 7, 7, 0)),
        (MOSCOW, datetime(1917, 11, 7, 14, 5), utc(2027, 11, 7, 11, 5)),  # no DST since 2011
    ],
)
def test_ordinary_times_are_not_adjusted(zone, moment, instant):
    result = replay(moment, 110, zone)
    assert (result.instant, result.adjustments) == (instant, frozenset())


def test_a_gap_time_lands_on_the_same_instant_as_the_time_one_gap_later():
    assert replay_instant(datetime(1917, 3, 28, 2, 40), 110, BERLIN) == replay_instant(datetime(1917, 3, 28, 3, 40), 110, BERLIN)


def test_the_mapping_is_not_monotonic_across_a_gap():
    """Written 02:30 and 03:10, replayed 03:30 and 03:10: the order flips (see the module docstring)."""
    early = replay_instant(datetime(1917, 3, 28, 2, 30), 110, BERLIN)
    later = replay_instant(datetime(1917, 3, 28, 3, 10), 110, BERLIN)
    assert early > later
    assert early - later == timedelta(minutes=20)


# --- 29 February -------------------------------------------------------------------


def test_29_february_in_a_common_replay_year_becomes_28_february_same_time():
    result = replay(datetime(1916, 2, 29, 12, 34, 56), 110, BERLIN)  # 2026 is not a leap year
    assert result.local.isoformat() == "2026-02-28T12:34:56+01:00"
    assert result.adjustments == {FEB29}


def test_29_february_in_a_leap_replay_year_stays():
    result = replay(datetime(1916, 2, 29, 12, 0), 108, BERLIN)  # 2024 is
    assert result.local.isoformat() == "2024-02-29T12:00:00+01:00"
    assert result.adjustments == frozenset()


def test_29_february_into_2100_which_is_not_a_leap_year():
    assert replay(datetime(2000, 2, 29, 8, 0), 100, ZoneInfo("UTC")).local.isoformat() == "2100-02-28T08:00:00+00:00"


# --- Julian to Gregorian -----------------------------------------------------------

KNOWN = [
    # (Julian, Gregorian): calendar history and the 10/11/12/13-day differences
    ((1582, 10, 4), (1582, 10, 14)),  # the last Julian day in Rome was followed by Gregorian 15 October
    ((1582, 10, 5), (1582, 10, 15)),
    ((1699, 12, 31), (1700, 1, 10)),
    ((1700, 2, 28), (1700, 3, 10)),
    ((1700, 2, 29), (1700, 3, 11)),  # exists only in the Julian calendar
    ((1700, 3, 1), (1700, 3, 12)),  # 11 days from here
    ((1752, 9, 2), (1752, 9, 13)),  # Britain: Wednesday 2 September was followed by Thursday 14 September
    ((1800, 2, 28), (1800, 3, 11)),
    ((1800, 2, 29), (1800, 3, 12)),
    ((1800, 3, 1), (1800, 3, 13)),  # 12 days
    ((1900, 2, 28), (1900, 3, 12)),
    ((1900, 2, 29), (1900, 3, 13)),
    ((1900, 3, 1), (1900, 3, 14)),  # 13 days
    ((1917, 10, 25), (1917, 11, 7)),  # the October Revolution
    ((1918, 1, 31), (1918, 2, 13)),  # Soviet Russia: 31 January 1918 was followed by 14 February
    ((2100, 2, 29), (2100, 3, 14)),
    ((2100, 3, 1), (2100, 3, 15)),  # 14 days
    ((1, 1, 3), (1, 1, 1)),  # the first day both calendars have
]


@pytest.mark.parametrize("julian, gregorian", KNOWN, ids=lambda v: "%04d-%02d-%02d" % v)
def test_known_julian_dates(julian, gregorian):
    assert julian_to_gregorian(*julian) == date(*gregorian)
    assert to_gregorian(*julian, "julian") == date(*gregorian)
    assert valid_date(*julian, "julian")


def _julian_day_count(y: int, m: int, d: int) -> int:
    """Days since Julian 0001-01-01, by plain counting (every 4th year leap)."""
    months = [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return 365 * (y - 1) + (y - 1) // 4 + sum(months[: m - 1]) + d - 1


def _julian_by_counting(y: int, m: int, d: int) -> date:
    return date(1582, 10, 14) + timedelta(days=_julian_day_count(y, m, d) - _julian_day_count(1582, 10, 4))


def _julian_days_between(start: int, end: int):
    for y in range(start, end + 1):
        for m in range(1, 13):
            last = [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
            for d in range(1, last + 1):
                yield y, m, d


def test_every_julian_day_across_1700_1800_and_1900_is_one_day_after_the_previous():
    previous = None
    for ymd in _julian_days_between(1695, 1905):
        gregorian = julian_to_gregorian(*ymd)
        if previous is not None:
            assert gregorian - previous == timedelta(days=1), ymd
        previous = gregorian
    assert previous == _julian_by_counting(1905, 12, 31)


@given(st.integers(1, 9999), st.integers(1, 12), st.integers(1, 31))
def test_julian_conversion_agrees_with_counting_days(y, m, d):
    assume(valid_date(y, m, d, "julian"))
    assert julian_to_gregorian(y, m, d) == _julian_by_counting(y, m, d)


@pytest.mark.parametrize(
    "ymd, calendar, ok",
    [
        ((1700, 2, 29), "julian", True),
        ((1700, 2, 29), "gregorian", False),
        ((1900, 2, 29), "julian", True),
        ((1900, 2, 29), "gregorian", False),
        ((2000, 2, 29), "gregorian", True),
        ((1917, 2, 30), "gregorian", False),
        ((1917, 2, 30), "julian", False),
        ((1700, 2, 30), "julian", False),
        ((1917, 4, 31), "julian", False),
        ((1917, 13, 1), "gregorian", False),
        ((0, 1, 1), "gregorian", False),
        ((1, 1, 1), "julian", False),  # Gregorian 30 December 1 BC: outside Python's dates
        ((1, 1, 2), "julian", False),
        ((9999, 12, 31), "julian", False),  # Gregorian 10000
    ],
)
def test_valid_dates(ymd, calendar, ok):
    assert valid_date(*ymd, calendar) is ok


# --- the default years_later, with an injected clock -----------------------------


def test_default_is_the_smallest_n_that_puts_the_last_entry_in_the_future():
    last = datetime(1917, 11, 8, 12, 0)  # Moscow wall-clock; UTC+3 in 2027
    assert default_years_later(last, MOSCOW, utc(2027, 11, 8, 8, 59, 59)) == 110
    assert default_years_later(last, MOSCOW, utc(2027, 11, 8, 9, 0)) == 111  # exactly now is not the future
    assert default_years_later(last, MOSCOW, utc(2027, 1, 1)) == 110
    assert default_years_later(last, MOSCOW, utc(2026, 11, 8, 8, 59)) == 109


def test_default_is_at_least_one_even_before_the_history():
    assert default_years_later(datetime(1917, 11, 8, 12, 0), MOSCOW, utc(1900, 1, 1)) == 1


def test_default_with_29_february_as_the_last_entry():
    last = datetime(1916, 2, 29, 12, 0)
    assert default_years_later(last, ZoneInfo("UTC"), utc(2026, 2, 28, 11, 0)) == 110  # replays 28 Feb 2026 12:00
    assert default_years_later(last, ZoneInfo("UTC"), utc(2026, 2, 28, 12, 0)) == 111


def test_default_past_year_9999_does_not_raise():
    assert default_years_later(datetime(9999, 6, 1), MOSCOW, utc(2027, 1, 1)) == 1


@settings(max_examples=examples(200), deadline=None)
@given(
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(2100, 12, 31)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(3000, 1, 1)),
    st.sampled_from(["Europe/Berlin", "America/New_York", "Europe/Moscow", "Australia/Lord_Howe", "UTC"]),
)
def test_default_property(last, now, zone_name):
    zone = ZoneInfo(zone_name)
    now = now.replace(tzinfo=UTC)
    n = default_years_later(last, zone, now)
    assert n >= 1
    assert replay_instant(last, n, zone) > now
    assert n == 1 or replay_instant(last, n - 1, zone) <= now


# --- years_later precedence -------------------------------------------------------

FEED = """\
title: Precedence
timezone: Europe/Berlin
{years}accounts:
  paper: {{platform: console, persona: daily}}
personas:
  daily: {{name: The Daily, bio: A historical reenactment.}}
"""
POSTS = """\
date: 1917-11-06
posts:
  - {time: "10:00", account: paper, text: First.}
  - {time: "12:00", account: paper, text: Last., date: 1917-11-08}
"""
NOW = utc(2027, 11, 8, 10, 0)  # 11:00 in Berlin: the 110th anniversary of the first entry (6 November) is past


@pytest.fixture
def feed_with_years(tmp_path, make_feed):
    return make_feed(tmp_path, FEED.format(years="years_later: 50\n"), {"1917-11-06.yaml": POSTS})


@pytest.fixture
def feed_without_years(tmp_path, make_feed):
    return make_feed(tmp_path, FEED.format(years=""), {"1917-11-06.yaml": POSTS}, name="plain")


def _years(feed_root, env, option=None, now=None, kept=None):
    from bot.feed.folder import load_feed
    from bot.load import years_later
    from bot.settings import Settings

    feed = load_feed(feed_root)
    assert feed.ok
    settings = Settings.resolve(env, posts=str(feed_root), years_later=option)
    return years_later(settings, feed.config, (e.moment for e in feed.entries), now or NOW, kept)


def test_resolve_precedence(feed_with_years, feed_without_years):
    assert _years(feed_with_years, {"BOT_YEARS_LATER": "60"}, option=70) == 70
    assert _years(feed_with_years, {"BOT_YEARS_LATER": "60"}) == 60
    assert _years(feed_with_years, {"BOT_YEARS_LATER": " "}) == 50  # blank: unset
    assert _years(feed_with_years, {}) == 50
    # the default rule: the smallest N that puts the feed's first entry in the future
    assert _years(feed_without_years, {}) == 111
    assert _years(feed_without_years, {}, now=utc(2027, 11, 6, 8, 59)) == 110  # 09:59 in Berlin, the first is at 10:00
    assert _years(feed_without_years, {}, now=utc(2027, 11, 6, 9, 0)) == 111  # exactly now is not the future
    assert _years(feed_without_years, {}, kept=105) == 105  # a ledger's kept value beats the rule
    assert _years(feed_with_years, {}, kept=105) == 50  # an explicit value beats the kept one (the service refuses a clash)
    assert _years(feed_without_years, {"BOT_YEARS_LATER": "60"}) == 60


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "5001"])
def test_resolve_rejects_a_bad_environment_value(feed_with_years, value):
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="BOT_YEARS_LATER"):
        _years(feed_with_years, {"BOT_YEARS_LATER": value})


def test_resolve_without_entries_is_none(tmp_path, make_feed):
    assert _years(make_feed(tmp_path, FEED.format(years="")), {}) is None


def _first_scheduled(stdout: str) -> str:
    return json.loads(stdout.splitlines()[0])["scheduled"]


@pytest.mark.parametrize(
    "args, env, scheduled",
    [
        (["--years-later", "70"], {"BOT_YEARS_LATER": "60"}, "1987-11-06T10:00:00+01:00"),
        ([], {"BOT_YEARS_LATER": "60"}, "1977-11-06T10:00:00+01:00"),
        ([], {}, "1967-11-06T10:00:00+01:00"),
    ],
    ids=["option-beats-env", "env-beats-feed", "feed"],
)
def test_precedence_through_the_cli(feed_with_years, invoke_bot, args, env, scheduled):
    code, out, err = invoke_bot("preview", "--posts", feed_with_years, "--format", "json", *args, cwd=feed_with_years.parent, env=env)
    assert code == 0, err
    assert _first_scheduled(out) == scheduled


def test_default_rule_through_the_cli_with_an_injected_clock(feed_without_years, invoke_bot, monkeypatch):
    import bot.cli

    monkeypatch.setattr(bot.cli, "clock", lambda: NOW)
    code, out, err = invoke_bot("preview", "--posts", "plain", "--format", "json", cwd=feed_without_years.parent)
    assert code == 0, err
    assert _first_scheduled(out) == "2028-11-06T10:00:00+01:00"  # the 2027 replay of the first entry is past
    monkeypatch.setattr(bot.cli, "clock", lambda: utc(2027, 11, 6, 8, 0))  # an hour before the first entry's replay
    code, out, err = invoke_bot("preview", "--posts", "plain", "--format", "json", cwd=feed_without_years.parent)
    assert _first_scheduled(out) == "2027-11-06T10:00:00+01:00"


def test_a_julian_feed_through_the_cli(tmp_path, make_feed, invoke_bot):
    feed = make_feed(
        tmp_path,
        FEED.format(years="calendar: julian\nyears_later: 300\n"),
        {"1700.yaml": 'date: 1700-02-29\nposts:\n  - {time: "09:15", account: paper, text: "Leap day, Old Style."}\n'},
    )
    code, out, err = invoke_bot("preview", "--posts", feed, "--format", "json", cwd=tmp_path)
    assert code == 0, err
    event = json.loads(out)
    assert event["historical"] == "1700-02-29T09:15:00"  # as written
    assert event["scheduled"] == "2000-03-11T09:15:00+01:00"  # Gregorian 1700-03-11, 300 years on


# --- hypothesis properties of replay_instant ---------------------------------------

ALL_ZONES = sorted(available_timezones())
DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "America/Santiago", "Europe/Moscow"]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.sampled_from(ALL_ZONES),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9998, 12, 31, 23, 59, 59)),
    st.integers(1, 9997),
)
def test_replay_never_raises_for_valid_inputs(zone_name, moment, years_later):
    """Valid: any zone, any moment, any N whose replay year is 2..9998 (years 1 and 9999
    can leave datetime's range once converted to UTC; the timeline reports those)."""
    moment = moment.replace(microsecond=0)
    assume(2 <= moment.year + years_later <= 9998)
    zone = ZoneInfo(zone_name)
    instant = replay_instant(moment, years_later, zone)
    full = replay(moment, years_later, zone)
    assert instant.utcoffset() == timedelta(0)
    assert full.instant == instant
    assert full.local == instant.astimezone(zone)
    wall = full.local.replace(tzinfo=None)
    if not full.adjustments & {GAP, FEB29}:
        assert wall == moment.replace(year=moment.year + years_later)


@functools.cache
def _transitions(zone_name: str, year: int) -> tuple[datetime, ...]:
    """Wall-clock times (naive, in the old offset) at which the zone changes offset in `year`:
    day by day, then hour by hour inside a day whose offset changed."""
    zone = ZoneInfo(zone_name)

    def offset(instant):
        return instant.astimezone(zone).utcoffset()

    found = []
    start = utc(year, 1, 1) - timedelta(days=1)
    for day in range(368):
        a, b = start + timedelta(days=day), start + timedelta(days=day + 1)
        if offset(a) == offset(b):
            continue
        for hour in range(24):
            x, y = a + timedelta(hours=hour), a + timedelta(hours=hour + 1)
            if offset(x) != offset(y):
                found.append((y + offset(x)).replace(tzinfo=None))
    return tuple(t for t in found if t.year == year)


@st.composite
def near_transitions(draw, zone_name: str, years_later: int):
    """Historical moments whose replay falls within two hours of one of the zone's transitions."""
    year = draw(st.integers(1970, 2037))
    transitions = _transitions(zone_name, year)
    assume(transitions)
    wall = draw(st.sampled_from(transitions)) + timedelta(minutes=draw(st.integers(-120, 120)))
    assume((wall.month, wall.day) != (2, 29))
    return wall.replace(year=wall.year - years_later)


def _moments(zone_name: str, years_later: int):
    anywhere = st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(1935, 12, 31)).map(lambda d: d.replace(microsecond=0))
    return st.one_of(anywhere, near_transitions(zone_name, years_later))


def _feb_collapse(m1: datetime, m2: datetime, years_later: int) -> bool:
    """m2 on 29 February collapsing onto 28 February of a common replay year that m1 is on."""
    import calendar

    return (m2.month, m2.day) == (2, 29) and not calendar.isleap(m2.year + years_later) and (m1.year, m1.month, m1.day) == (m2.year, 2, 28)


def _push(moment: datetime, years_later: int, zone: ZoneInfo) -> timedelta:
    """How far a gap moved the replay's wall-clock (zero outside gaps)."""
    result = replay(moment, years_later, zone)
    if GAP not in result.adjustments:
        return timedelta(0)
    target = moment.replace(year=moment.year + years_later, day=28 if FEB29 in result.adjustments else moment.day)
    return result.local.replace(tzinfo=None) - target


@pytest.mark.parametrize("zone_name", DST_ZONES)
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_monotonic_where_the_replay_time_exists(zone_name, data):
    years_later = 110
    zone = ZoneInfo(zone_name)
    m1 = data.draw(_moments(zone_name, years_later), label="m1")
    m2 = m1 + data.draw(st.one_of(st.timedeltas(timedelta(0), timedelta(hours=3)), st.timedeltas(timedelta(0), timedelta(days=400))), label="delta")
    m2 = m2.replace(microsecond=0)
    assume(not _feb_collapse(m1, m2, years_later))
    assume(GAP not in replay(m1, years_later, zone).adjustments)
    assert replay_instant(m1, years_later, zone) <= replay_instant(m2, years_later, zone)


@pytest.mark.parametrize("zone_name", DST_ZONES)
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_gap_never_moves_a_replay_back_by_more_than_its_push(zone_name, data):
    years_later = 110
    zone = ZoneInfo(zone_name)
    m1 = data.draw(near_transitions(zone_name, years_later), label="m1")
    m2 = (m1 + data.draw(st.timedeltas(timedelta(0), timedelta(hours=3)), label="delta")).replace(microsecond=0)
    assume(not _feb_collapse(m1, m2, years_later))
    push = _push(m1, years_later, zone)
    assert push >= timedelta(0)
    assert replay_instant(m2, years_later, zone) >= replay_instant(m1, years_later, zone) - push


@settings(max_examples=examples(100), deadline=None)
@given(st.integers(1801, 1935).filter(lambda y: y % 4 == 0 and (y % 100 or y % 400 == 0)), st.times(), st.integers(1, 200))
def test_29_february_replays_with_28_february_in_a_common_year(year, clock, years_later):
    feb29 = datetime.combine(date(year, 2, 29), clock).replace(microsecond=0)
    feb28 = feb29.replace(day=28)
    a = replay_instant(feb29, years_later, BERLIN)
    b = replay_instant(feb28, years_later, BERLIN)
    import calendar

    if calendar.isleap(year + years_later):
        assert a - b == timedelta(days=1)
    else:
        assert a == b
