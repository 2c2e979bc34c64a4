"""Crash suite: kill -9 at seeded instants, restart until the feed is done (see crash.py).

Both slow: 5 kills on a 60-entry feed, 55 kills on a 300-entry feed (the default run has
the cross-posting suite's fast subset, tests/reliability/test_crosscrash.py).
"""

from __future__ import annotations

import pytest

from tests.reliability.crash import CrashConfig, run_crash


def check(report, kills: int) -> None:
    assert report.problems == []
    assert len(report.kills) == kills
    assert report.duplicates == 0 and max(report.requests_per_entry.values()) <= 1
    assert set(report.states.values()) <= {"posted", "missed", "uncertain"}
    assert all(report.reasons[e] for e, s in report.states.items() if s != "posted")
    assert report.uncertain <= report.in_flight_hits
    assert report.tracebacks == 0
    assert report.states and list(report.states.values()).count("posted") >= len(report.states) // 3


@pytest.mark.slow  # the default run has the cross-posting crash suite's fast subset (kills on every network)
def test_crash_fast(tmp_path):
    report = run_crash(tmp_path, CrashConfig(entries=60, kills=5, seed=7, gap=0.15))
    check(report, 5)
    assert any(k.claimed for k in report.kills), "at least one kill hit a call in flight"


@pytest.mark.slow
def test_crash_full(tmp_path):
    report = run_crash(tmp_path, CrashConfig())
    check(report, 55)
    modes = {k.mode for k in report.kills}
    assert {"timer", "request", "answer"} <= modes
    assert any(k.claimed_switches for k in report.kills), "some kill landed inside a persona switch"
