"""The service core in process (tests/support/engine.py): feeds, clock, networks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.engine import ManualClock, ScriptedNetwork

# entries of 1927-01-01 replay on 2027-01-01 (years_later 100, UTC)
T0 = datetime(2027, 1, 1, 9, 59, tzinfo=UTC)


def at(hh_mm: str, seconds: int = 0, day: int = 1) -> datetime:
    h, m = map(int, hh_mm.split(":"))
    return datetime(2027, 1, day, h, m, seconds, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def x():
    return ScriptedNetwork("x")


@pytest.fixture
def bluesky():
    return ScriptedNetwork("bluesky")


@pytest.fixture
def mastodon():
    return ScriptedNetwork("mastodon")
