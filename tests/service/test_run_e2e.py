"""`bot run` end to end as a real process: the timer, the lane threads, signals, kill -9,
the process lock. (The same behaviours in process, with a manual clock: tests/core.)"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

import pytest

from tests.support.env import clean_env, token, x_env
from tests.support.feeds import SAMPLE, alternating
from tests.support.proc import BotProcess, actions, iso_in, run_bot

ACCOUNTS = ("telegraph", "kerensky", "lenin", "mrc")


def status(feed, ledger, env, cwd, *extra):
    out = run_bot("status", "--posts", feed, "--ledger", ledger, "--format", "json", *extra, cwd=cwd, env=env)
    assert out.code == 0, out.stderr
    return json.loads(out.stdout)


def stop(bot: BotProcess) -> tuple[int, float]:
    started = time.monotonic()
    code = bot.terminate()
    return code, time.monotonic() - started


def test_a_rehearsal_posts_on_time_and_stops_on_sigterm(tmp_path, x_server):
    feed = alternating(tmp_path / "feed", 6, gap_minutes=1, storm_at=3)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha", "beta"))
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", "+3s", "--speed", "120", "--ledger", str(ledger)],
                     env, tmp_path, "run")
    try:
        bot.wait_for(lambda: len(x_server.tweets()) >= 6, 30, "six posts")
        time.sleep(0.3)
    finally:
        code, took = stop(bot)
    assert code == 0 and took < 10
    # each account's posts in their order (two accounts are two lanes: on a busy machine one may
    # run half a second behind the other, which the feed's order across accounts allows)
    for n, who in enumerate(("alpha", "beta")):
        assert [r.json["text"] for r in x_server.requests("/2/tweets", token=token(who))] == \
            [f"entry number {i:04d}" for i in range(n, 6, 2)]
    posted = actions(bot.lines(), "posted")
    # on time, not at the next tick of some coarse timer; the lateness figures are the benchmark's
    assert len(posted) == 6 and max(int(a["late_ms"]) for a in posted) < 5000
    names = [r.params.get("name") for r in x_server.requests(token=token("beta")) if r.path.endswith("update_profile.json")]
    assert names[-1] == "Stormed Times"
    assert [line.split(" ")[1] for line in bot.lines()][-1] == "stopped"
    data = status(feed, ledger, env, tmp_path)
    assert (data["posted"], data["pending"], data["uncertain"]) == (6, 0, 0)


@pytest.mark.slow
def test_rehearsal_publishes_the_sample_feed_in_order(tmp_path, x_server):
    """The whole sample feed in real time (about 75 s); tests/core/test_sample_feed.py checks it in process."""
    out = run_bot("preview", "--posts", SAMPLE, "--years-later", "110", "--format", "json", cwd=tmp_path)
    expected = [json.loads(line) for line in out.stdout.splitlines()]
    posts = [e for e in expected if e["text"] is not None]
    span = (datetime.fromisoformat(expected[-1]["scheduled"]) - datetime.fromisoformat(expected[0]["scheduled"])).total_seconds() / 3600
    env = x_env(x_server.base_url, ACCOUNTS)
    bot = BotProcess(["run", "--posts", str(SAMPLE), "--years-later", "110", "--start-at", "+5s",
                      "--speed", "3600", "--ledger", str(tmp_path / "ledger.sqlite3")], env, tmp_path, "run")
    try:
        bot.wait_for(lambda: len(x_server.tweets()) >= len(posts), span + 40, "every post")
        time.sleep(0.5)
    finally:
        code, took = stop(bot)
    assert code == 0 and took < 10
    assert [r.json["text"] for r in x_server.tweets()] == [e["text"] for e in posts]
    late = [int(a["late_ms"]) for a in actions(bot.lines(), "posted")]
    assert len(late) == len(posts) and max(late) < 1000
    data = status(SAMPLE, tmp_path / "ledger.sqlite3", env, tmp_path, "--years-later", "110")
    assert (data["posted"], data["pending"], data["uncertain"]) == (len(expected), 0, 0)


@pytest.mark.slow  # the cross-posted fast crash run kills inside calls and restarts on every network
def test_kill_9_mid_call_then_restart_posts_nothing_twice(tmp_path, x_server):
    feed = alternating(tmp_path / "feed", 12, gap_minutes=1)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha", "beta"), X_TIMEOUT="30")
    args = ["run", "--posts", str(feed), "--start-at", iso_in(3), "--speed", "240", "--ledger", str(ledger)]  # 0.25 s apart
    bot = BotProcess(args, env, tmp_path, "run1")
    try:
        bot.wait_for(lambda: len(x_server.tweets()) >= 4, 30, "four posts")
        x_server.fail("hang", path="/2/tweets", hang_seconds=60)
        bot.wait_for(lambda: any(r.status is None for r in x_server.tweets()), 10, "a hanging request")
    finally:
        bot.kill()
    hung = next(r.json["text"] for r in x_server.tweets() if r.status is None)
    x_server.clear_faults()
    again = BotProcess(args, env, tmp_path, "run2")
    try:
        again.wait_for(lambda: len({r.json["text"] for r in x_server.tweets()}) >= 12, 30, "the rest")
        time.sleep(1)
    finally:
        code, _ = stop(again)
    assert code == 0
    texts = [r.json["text"] for r in x_server.tweets()]
    assert sorted(set(texts)) == [f"entry number {i:04d}" for i in range(12)]
    assert texts.count(hung) == 1 and len(texts) == 12, "no entry was sent twice"
    hung_id = f"e{int(hung.split()[-1]):04d}"
    assert [u["entry"] for u in actions(again.lines(), "uncertain")] == [hung_id]
    data = status(feed, ledger, env, tmp_path)
    # X without a timeline it may read cannot tell: it stays uncertain for `bot resolve`
    assert (data["posted"], data["uncertain"], data["pending"]) == (11, 1, 0)


def test_second_run_on_the_same_ledger_refuses_to_start(tmp_path, x_server):
    feed = alternating(tmp_path / "feed", 4, gap_minutes=60)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha", "beta"))
    args = ["run", "--posts", str(feed), "--start-at", iso_in(600), "--ledger", str(ledger)]
    first = BotProcess(args, env, tmp_path, "one")
    try:
        first.wait_for(lambda: any(" armed " in line for line in first.lines()), 20, "the first run to arm")
        second = run_bot(*args, cwd=tmp_path, env=env, timeout=30)
    finally:
        first.terminate()
    assert second.code == 1
    assert f"pid {first.pid}" in second.stderr


def test_dry_run_prints_the_sequence_and_leaves_the_default_ledger_alone(tmp_path):
    alternating(tmp_path / "posts", 6, gap_minutes=1, storm_at=3)
    bot = BotProcess(["run", "--dry-run", "--start-at", "+3s", "--speed", "240"], clean_env(), tmp_path, "dry")
    verbose = BotProcess(["run", "--dry-run", "--verbose", "--start-at", "+3s", "--speed", "240"], clean_env(), tmp_path, "dry-v")
    assert bot.reap(timeout=30) == 0  # it ends on its own once every post is out
    printed = bot.stdout()
    heads = [line for line in printed.splitlines() if " as " in line and "  [e" in line]
    assert [re.search(r"\[(e\d{4})\]", line).group(1) for line in heads] == [f"e{i:04d}" for i in range(6)]
    assert heads[0] == "2017-11-06 08:00:00 UTC  alpha as Alpha Paper  [e0000]  -> x"  # its anniversary, networks
    assert "*** beta is now Stormed Times (stormed) ***" in printed
    assert " posted " not in bot.stderr()  # each post shown once: the routine log lines are not repeated on stderr
    assert verbose.reap(timeout=30) == 0
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()
    actions = [line.split()[1] for line in verbose.stderr().splitlines() if len(line.split()) > 1]
    assert actions.count("posted") == 6 and "armed" in actions  # asked for: the action lines too


def test_a_rehearsal_ends_by_itself_with_a_summary_and_leaves_no_temporary_ledger(tmp_path):
    alternating(tmp_path / "posts", 5, gap_minutes=1, storm_at=2)
    env = clean_env({"TMPDIR": str(tmp_path / "tmp")})
    (tmp_path / "tmp").mkdir()
    bot = BotProcess(["run", "--dry-run", "--start-at", "+3s", "--speed", "240"], env, tmp_path, "dry")
    code = bot.reap(timeout=30)  # no signal: it ends on its own
    assert code == 0, bot.stderr()
    summary = bot.stdout().splitlines()[-4:]
    assert summary[0] == "done: posted: 5  failed: 0  missed: 0  uncertain: 0"
    assert summary[1].startswith("persona switches: ") and summary[2].startswith("lateness: p50 ")
    assert list((tmp_path / "tmp").iterdir()) == []  # the temporary ledger is gone


def test_a_sigterm_while_a_finished_rehearsal_winds_down_still_exits_0(tmp_path):
    """A supervisor (or a test) may stop a run the moment it ends by itself: the signal
    finds the stop under way, not the default action (exit -15)."""
    alternating(tmp_path / "posts", 3, gap_minutes=1)
    bot = BotProcess(["run", "--dry-run", "--start-at", "+1s", "--speed", "600"], clean_env(), tmp_path, "dry")
    bot.wait_for(lambda: "done: posted:" in bot.stdout(), 30, "the summary")
    code = bot.terminate()
    assert code == 0, bot.stderr()


def test_a_rehearsal_with_problems_keeps_its_ledger_and_says_where(tmp_path, x_server):
    feed = alternating(tmp_path / "feed", 3, gap_minutes=1)
    env = x_env(x_server.base_url, ("alpha", "beta"), TMPDIR=str(tmp_path))
    x_server.fail("401", count=10, path="/2/tweets")
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", "+1s", "--speed", "600"], env, tmp_path, "run")
    assert bot.reap(timeout=30) == 0, bot.stderr()
    lines = bot.stdout().splitlines()
    assert lines[0] == "done: posted: 0  failed: 3  missed: 0  uncertain: 0"
    kept = next(line for line in lines if line.startswith("ledger kept: "))
    path = kept.split()[2]
    assert f"(bot status --ledger {path})" in kept
    status = run_bot("status", "--posts", feed, "--ledger", path, "--format", "json", cwd=tmp_path, env=env)
    assert json.loads(status.stdout)["failed"] == 3


def test_a_start_in_the_past_is_refused_and_now_or_an_offset_is_taken(tmp_path, invoke_bot):
    from datetime import UTC, datetime, timedelta

    from bot.cli import parse_start

    alternating(tmp_path / "posts", 2)
    code, _, err = invoke_bot("run", "--dry-run", "--start-at", "2020-01-01T12:00:00+00:00", cwd=tmp_path)
    assert code == 2 and "--start-at" in err and "is in the past" in err and "Use now, +10s" in err
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert parse_start("now", now) == now
    assert parse_start("+10s", now) == now + timedelta(seconds=10)
    assert parse_start("+5m", now) == now + timedelta(minutes=5)
    assert parse_start("+1.5h", now) == now + timedelta(minutes=90)
    assert parse_start("2026-12-01T12:00:30+00:00", now) == now + timedelta(seconds=30)


def test_missing_credentials_are_one_line_per_account_and_no_ledger_is_made(tmp_path):
    feed = alternating(tmp_path / "feed", 2)
    ledger = tmp_path / "state" / "ledger.sqlite3"
    out = run_bot("run", "--posts", feed, "--ledger", ledger, cwd=tmp_path, env=clean_env())
    assert out.code == 1
    refused = [line for line in out.stderr.splitlines() if " not-started " in line]
    assert len(refused) == 2 and "account 'alpha' on x lacks" in refused[0] and "account 'beta' on x lacks" in refused[1]
    assert all(len(line) < 250 for line in refused)
    assert not ledger.exists() and not ledger.parent.exists()
