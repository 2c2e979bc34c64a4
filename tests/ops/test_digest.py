"""bot.ops.digest and bot.ops.summary: what becomes a message, bursts, repeats,
repairs, and when the daily summary falls. Pure: time is passed in."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.ops.digest import KINDS, Digest
from bot.ops.summary import next_summary

BERLIN = ZoneInfo("Europe/Berlin")


def action(entry="e1", **extra) -> dict:
    return {"entry": entry, "account": "paper", "platform": "x", "path": "posts/1917-11-06.yaml", "line": 12, **extra}


# one of each kind, as its event line carries it, and what its message must say
EXAMPLES = {
    "failed": (action(reason="403 Forbidden"), "post failed: e1", ["e1 (paper on x) at posts/1917-11-06.yaml:12", "403 Forbidden"]),
    "uncertain": (action(reason="timeout after sending"), "post uncertain", ["posts/1917-11-06.yaml:12", "timeout"]),
    "missed": (action(reason="20 min late"), "entry missed: e1", ["posts/1917-11-06.yaml:12", "20 min late"]),
    "not-recorded": (action(reason="ledger unavailable"), "post not recorded", ["posts/1917-11-06.yaml:12"]),
    "switch-failed": (action(persona="evening", reason="403 code 453"), "persona switch failed", ["persona evening", "453"]),
    "switch-retry": ({"account": "paper", "platform": "x", "persona": "evening", "reason": "503"}, "persona switch failing",
                     ["switch to evening (paper on x)", "503"]),
    "persona-drift": ({"account": "paper", "platform": "x", "persona": "daily", "reason": "the bio differs"},
                      "persona drifted", ["the bio differs"]),
    "reconciled": (action(outcome="posted", remote_id="1001"), "uncertain post reconciled", ["outcome: posted", "1001"]),
    "reconcile-unknown": (action(reason="cannot tell"), "left for `bot resolve`", ["cannot tell"]),
    "ledger-error": ({"account": "paper", "platform": "x", "reason": "disk I/O error"}, "ledger unavailable", ["disk I/O error"]),
    "tick-failed": ({"reason": "database is locked"}, "timer cannot read the ledger", ["database is locked"]),
    "internal-error": ({"account": "paper", "platform": "x", "reason": "KeyError: 'x'"}, "internal error", ["KeyError"]),
    "watch-failed": ({"reason": "inotify limit"}, "feed watcher stopped", ["inotify limit"]),
    "not-started": ({"reason": "missing credentials: account 'paper' on x lacks X_API_KEY"}, "service did not start",
                    ["lacks X_API_KEY"]),
    "started": ({"feed": "posts", "entries": 3, "deliveries": 4}, "service started", ["3 entries, 4 deliveries"]),
    "stopped": ({}, "service stopped", ["service stopped"]),
    "unhealthy": ({"reason": "the timer has not run for 50 s"}, "service unhealthy", ["has not run for 50 s"]),
    "healthy": ({"reason": ""}, "service healthy again", []),
    "deposed": ({"epoch": 4, "reason": "another process took the lease over", "note": "standing by"},
                "lost the lease", ["another process took the lease over"]),
}


def test_every_kind_is_covered():
    assert set(EXAMPLES) == set(KINDS) - {"repaired"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_kind_gives_its_message_once(name):
    data, title, said = EXAMPLES[name]
    digest = Digest(title="Petrograd 1917")
    digest.add(name, dict(data), now=0.0)
    assert digest.due(1.0) == []  # the burst is not over yet
    messages = digest.due(2.5)
    assert len(messages) == 1 and messages[0].kind == name
    assert messages[0].title.startswith("Petrograd 1917: ") and title in messages[0].title
    for text in said:
        assert text in messages[0].body
    assert digest.due(100.0) == []  # told once


def test_a_burst_of_200_missed_entries_is_one_message_with_count_first_and_last():
    digest = Digest()
    for i in range(200):  # as lanes log them, one by one, 10 ms apart
        digest.add("missed", action(f"e{i:04d}", line=i + 1, reason="backing off past the grace period"), now=i * 0.01)
    # and the engine's summary lines of a catch-up, one per lane, in the same burst
    digest.add("missed", {"count": 50, "account": "crier", "platform": "console", "first": "c0000", "path": "posts/c.yaml",
                          "line": 3, "last": "c0049", "last_path": "posts/c.yaml", "last_line": 199}, now=2.0)
    messages = digest.due(10.0)
    assert len(messages) == 1
    body = messages[0].body
    assert messages[0].title == "250 entries missed"
    assert body.splitlines()[0] == ("250 entries missed, first e0000 (posts/1917-11-06.yaml:1), "
                                    "last c0049 (posts/c.yaml:199)")
    assert "crier on console, paper on x" in body


def test_a_burst_ends_after_a_quiet_spell_or_at_the_latest_after_longest():
    digest = Digest(quiet=2.0, longest=10.0)
    for t in range(0, 30):  # one failure a second: never quiet
        digest.add("failed", action(f"e{t}"), now=float(t))
        if t == 9:
            assert digest.due(9.5) == []
        if t == 10:
            first = digest.due(10.0)
            assert len(first) == 1 and first[0].title == "11 posts failed"
            assert "... and 1 more" in first[0].body
    assert digest.next_check() == 21.0  # the next burst began at 11 s: over 10 s later, however busy


def test_several_kinds_in_one_burst_are_one_message_each():
    digest = Digest()
    digest.add("failed", action("a"), now=0.0)
    digest.add("uncertain", action("b"), now=0.1)
    digest.add("failed", action("c"), now=0.2)
    titles = [m.title for m in digest.due(5.0)]
    assert titles == ["2 posts failed", "post uncertain: it may or may not be online: b"]


def test_a_repeating_problem_is_told_again_only_after_repeat_seconds():
    digest = Digest(repeat=600.0)
    for t in range(0, 300, 5):  # the ledger fails every 5 s for 5 minutes
        digest.add("ledger-error", {"account": "paper", "platform": "x", "reason": "disk I/O error"}, now=float(t))
        digest.due(float(t) + 3)
    digest.add("ledger-error", {"account": "paper", "platform": "x", "reason": "disk I/O error"}, now=700.0)
    again = digest.due(703.0)
    assert len(again) == 1 and "(and 59 more times since the last message)" in again[0].body


def test_a_switch_that_works_after_trouble_is_repaired_and_a_plain_switch_is_silent():
    digest = Digest()
    digest.add("switched", {"account": "paper", "platform": "x", "persona": "daily"}, now=0.0)
    assert digest.due(5.0) == []  # an ordinary storm: nothing to tell
    digest.add("switch-retry", {"account": "paper", "platform": "x", "persona": "evening", "reason": "503"}, now=10.0)
    digest.add("switch-retry", {"account": "paper", "platform": "x", "persona": "evening", "reason": "503"}, now=11.0)
    digest.add("switched", {"account": "paper", "platform": "x", "persona": "evening", "attempts": 3}, now=12.0)
    messages = digest.due(20.0)
    assert [m.kind for m in messages] == ["switch-retry", "repaired"]  # the retry once, then the repair
    assert messages[1].severity == "success" and "switch to evening (paper on x)" in messages[1].body
    digest.add("switched", {"account": "paper", "platform": "x", "persona": "daily"}, now=30.0)
    assert digest.due(40.0) == []


def test_flush_gives_the_burst_at_once():
    digest = Digest()
    digest.add("stopped", {}, now=0.0)
    assert [m.kind for m in digest.due(0.0, flush=True)] == ["stopped"]


def test_next_summary_in_the_replay_zone():
    at = time(8, 30)
    assert next_summary(datetime(2027, 11, 6, 7, 0, tzinfo=UTC), at, BERLIN) == datetime(2027, 11, 6, 8, 30, tzinfo=BERLIN)
    assert next_summary(datetime(2027, 11, 6, 7, 30, tzinfo=UTC), at, BERLIN) == datetime(2027, 11, 7, 8, 30, tzinfo=BERLIN)
    # across the change to summer time the summary stays at 08:30 local
    spring = next_summary(datetime(2027, 3, 28, 7, 0, tzinfo=UTC), at, BERLIN)
    assert spring == datetime(2027, 3, 29, 8, 30, tzinfo=BERLIN) and spring.utcoffset().total_seconds() == 7200
    late = time(23, 59)  # 22:58:30 UTC is 23:58:30 in Berlin
    assert next_summary(datetime(2027, 12, 31, 22, 58, 30, tzinfo=UTC), late, BERLIN) == datetime(2027, 12, 31, 23, 59, tzinfo=BERLIN)
