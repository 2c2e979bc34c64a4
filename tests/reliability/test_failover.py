"""Failover suite: `bot run` processes on one feed and one PostgreSQL ledger, the active
one killed or paused again and again (see failover.py).

The default run has the fast subset (two processes, 3 kills and 1 pause); the full suite
(three processes, 30 kills, 5 pauses longer than the lease, the server restarted once)
is marked slow and runs as its own step in CI (.ci/run).
"""

from __future__ import annotations

import pytest

from tests.reliability.failover import FAST, FailoverConfig, run_failover


def check(report, kills: int, stops: int) -> None:
    assert report.problems == []
    assert (report.kills, report.stops) == (kills, stops)
    assert report.duplicates == 0 and max(report.created_per_entry.values()) <= 1
    assert report.lost == 0
    assert set(report.states.values()) <= {"posted", "missed", "uncertain"}
    assert report.woken_posts == 0
    assert report.tracebacks == 0
    limit = report.config.failover + report.config.grace
    assert all(0 <= t.seconds <= limit for t in report.takeovers), [t.seconds for t in report.takeovers]
    assert all(t.epochs[1] > t.epochs[0] for t in report.takeovers)
    assert list(report.states.values()).count("posted") >= len(report.states) // 2


def test_failover_fast(tmp_path, pg_cluster):
    report = run_failover(tmp_path, FAST, cluster=pg_cluster)
    print(report.summary())
    check(report, 3, 1)


@pytest.mark.slow
def test_failover_full(tmp_path, pg_cluster):
    report = run_failover(tmp_path, FailoverConfig(), cluster=pg_cluster)
    print(report.summary())
    check(report, 30, 5)
    assert report.restart_outage is not None
    assert {t.mode for t in report.takeovers} == {"timer", "request"}
    assert any(t.in_flight for t in report.takeovers), "at least one signal landed inside a post request"
