"""bench/perf.py end to end on a small feed: the table is complete, and cached and
uncached runs agree. Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.replay.anniversary import replay
from bot.replay.timeline import DAY_MEMO_AFTER, _plain_instant

from bench.synth import generate
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[1]

ROWS = (
    "`bot check`, cold", "`bot check`, warm", "`bot preview --format json`, warm", "`bot run --dry-run`",
    "service RSS", "service CPU, idle", "reload:", "posting lateness p50", "posting lateness p99",
    "posting lateness max", "floor:", "cold check / floor",
)
NUMBER = re.compile(r"-?\d+(\.\d+)?")
# entries of the smoke feed: one file each, more than POOL_MIN_FILES (200), so that a cold
# parse may take the process pool
SMOKE = 600


@pytest.fixture(scope="module")
def bench_output(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("perf")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "perf.py"), "--entries", "2000", "--runs", "1", "--idle", "0.5",
         "--lateness", "20", "--ledger-rows", "20000", "--keep", str(work)],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow  # runs the benchmark itself (about 20 s); the cache's answers are checked below, in the default run
def test_table_has_every_row_with_numbers(bench_output):
    rows = [line for line in bench_output.splitlines() if line.startswith("| ") and not line.startswith(("| measurement", "| ---"))]
    assert len(rows) == len(ROWS)
    for name, row in zip(ROWS, rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].startswith(name), row
        measured = cells[1:4]
        assert any(NUMBER.match(c) for c in measured), f"no figure in: {row}"
    assert "Machine:" in bench_output and "cores" in bench_output and "Python" in bench_output


@pytest.mark.slow
def test_bench_reports_cached_and_uncached_identical(bench_output):
    assert "check output identical: yes; preview JSON identical: yes" in bench_output


def run_bot(args, cache: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`bot ARGS` in process (the cache lives on disk either way) with its own cache folder."""
    from tests.support.proc import invoke_bot

    out = invoke_bot(*args, cwd=cwd, env={"BOT_CACHE": str(cache), "NO_COLOR": "1"})
    return subprocess.CompletedProcess(args, out.code, out.stdout.encode(), out.stderr.encode())


def test_cached_and_uncached_runs_agree(tmp_path):
    feed = tmp_path / "feed"
    generate(feed, SMOKE)
    # a cold run (empty cache), a warm one (every file from the cache), and one after an edit
    check = [run_bot(["check", "feed"], tmp_path / "cache", tmp_path) for _ in range(2)]
    fresh = run_bot(["check", "feed"], tmp_path / "other-cache", tmp_path)
    assert check[0].returncode == check[1].returncode == fresh.returncode
    assert check[0].stdout == check[1].stdout == fresh.stdout
    assert f"{SMOKE} entries".encode() in check[0].stdout

    preview = ["preview", "--posts", "feed", "--format", "json"]
    cold = run_bot(preview, tmp_path / "preview-cache", tmp_path)
    warm = run_bot(preview, tmp_path / "preview-cache", tmp_path)
    assert cold.returncode == 0 and cold.stdout == warm.stdout
    assert cold.stdout.count(b"\n") == SMOKE


def test_edit_between_cached_runs_shows_up(tmp_path):
    feed = tmp_path / "feed"
    generate(feed, 300)
    first = run_bot(["check", "feed"], tmp_path / "cache", tmp_path)
    assert first.returncode == 0, first.stdout
    victim = sorted(feed.rglob("19*.yaml"))[5]
    victim.write_text(victim.read_text().replace('time: "', 'time: "9', 1))  # an impossible time
    after = run_bot(["check", "feed"], tmp_path / "cache", tmp_path)
    uncached = run_bot(["check", "feed"], tmp_path / "fresh", tmp_path)
    assert after.returncode == 1
    assert after.stdout == uncached.stdout
    assert victim.name.encode() in after.stdout


def _agree(tmp_path: Path, name: str, extra=()) -> None:
    """check and preview JSON with the warm cache, then with a fresh one: the same bytes."""
    for args in (["check", "feed", *extra], ["preview", "--posts", "feed", "--format", "json", *extra]):
        warm = run_bot(args, tmp_path / "cache", tmp_path)
        fresh = run_bot(args, tmp_path / f"fresh-{name}-{args[0]}", tmp_path)
        assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr), (name, args[0])


def test_feed_level_cache_follows_every_kind_of_change(tmp_path):
    """The whole-feed records (timeline, preview lines) are never used stale."""
    feed = tmp_path / "feed"
    generate(feed, 240)
    _agree(tmp_path, "start")
    _agree(tmp_path, "again")  # now from the records
    days = sorted(feed.rglob("19*.yaml"))
    first, second = days[1], days[2]

    # an edit that changes the order: the first entry of a day moves to its end
    text = first.read_text()
    at = text.index('time: "') + len('time: "')
    first.write_text(text[:at] + "23:59" + text[at + 5:])
    _agree(tmp_path, "order")

    # a storm, and a reply to an entry of another file
    with second.open("a") as out:
        out.write('  - time: "23:58"\n    account: desk00\n    storm: special-edition\n')
        out.write('  - time: "23:59"\n    account: desk01\n    id: smoke-reply\n    text: "A reply."\n')
    parent = next(line.split("id: ")[1] for d in days for line in d.read_text().splitlines() if "    id: " in line)
    with days[-1].open("a") as out:
        out.write(f'  - time: "23:59"\n    account: desk02\n    reply_to: {parent}\n    text: "A late reply."\n')
    _agree(tmp_path, "storm-reply")

    # a media file deleted, no post file touched
    used = sorted({line.split("file: ")[1] for d in days for line in d.read_text().splitlines() if "file: " in line})
    assert used, "the synthetic feed has media"
    (feed / used[0]).unlink()
    _agree(tmp_path, "media")
    after = run_bot(["check", "feed"], tmp_path / "cache", tmp_path)
    assert after.returncode == 1 and b"not found" in after.stdout

    # another years_later (the option; the same files)
    _agree(tmp_path, "years", ["--years-later", "150"])


# -- the fast paths of the timeline give what the slow ones give ------------------

ZONES = ("Europe/London", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata", "America/Santiago", "Europe/Dublin")


@settings(max_examples=examples(400), deadline=None)
@given(
    minutes=st.integers(0, 200 * 365 * 1440),
    seconds=st.integers(0, 59),
    years=st.integers(1, 300),
    zone=st.sampled_from(ZONES),
)
def test_plain_instant_is_replay_without_adjustments(minutes, seconds, years, zone):
    moment = datetime(1800, 1, 1) + timedelta(minutes=minutes, seconds=seconds)
    tz = ZoneInfo(zone)
    fast = _plain_instant(moment, years, tz)
    slow = replay(moment, years, tz)
    if fast is not None:
        assert not slow.adjustments
        assert fast == slow.instant and fast.isoformat() == slow.instant.isoformat()
    else:
        assert slow.adjustments or moment.month == 2 and moment.day == 29


@settings(max_examples=examples(400), deadline=None)
@given(
    minutes=st.integers(0, 200 * 365 * 1440),
    seconds=st.integers(0, 59),
    other=st.integers(0, 86399),
    years=st.integers(1, 300),
    zone=st.sampled_from(ZONES),
)
def test_the_daily_memo_gives_the_same_instants(minutes, seconds, other, years, zone):
    """A moment replayed through the memo of its day (filled by another moment of
    that day) gets what it gets alone: same instant, or None for both."""
    moment = datetime(1800, 1, 1) + timedelta(minutes=minutes, seconds=seconds)
    neighbour = moment.replace(hour=other // 3600, minute=other // 60 % 60, second=other % 60)
    tz = ZoneInfo(zone)
    days: dict = {}
    for _ in range(DAY_MEMO_AFTER + 1):  # enough entries that day for the memo to check the day
        _plain_instant(neighbour, years, tz, days)
    assert type(days.get(moment.toordinal())) is not int  # checked (or 29 February: never memoised)
    memoised = _plain_instant(moment, years, tz, days)
    alone = _plain_instant(moment, years, tz)
    assert memoised == alone and (memoised is None or memoised.isoformat() == alone.isoformat())


def test_the_daily_memo_declines_a_day_with_a_transition():
    london = ZoneInfo("Europe/London")
    gap_day, next_day = datetime(1926, 3, 29), datetime(1926, 3, 30)
    days: dict = {gap_day.toordinal(): DAY_MEMO_AFTER, next_day.toordinal(): DAY_MEMO_AFTER}  # days seen often
    assert _plain_instant(datetime(1926, 3, 29, 0, 59, 59), 100, london, days) == datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)
    assert _plain_instant(datetime(1926, 3, 29, 1, 30), 100, london, days) is None  # the gap
    assert _plain_instant(datetime(1926, 3, 29, 2, 0), 100, london, days) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert _plain_instant(datetime(1926, 3, 30, 2, 0), 100, london, days) == datetime(2026, 3, 30, 1, 0, tzinfo=UTC)
    assert days == {gap_day.toordinal(): None, next_day.toordinal(): datetime(2026, 3, 29, 23, 0, tzinfo=UTC)}


def test_the_daily_memo_waits_for_a_busy_day():
    london = ZoneInfo("Europe/London")
    days: dict = {}
    moment = datetime(1926, 7, 1, 12, 0)
    for seen in range(1, DAY_MEMO_AFTER + 1):
        _plain_instant(moment, 100, london, days)
        assert days == {moment.toordinal(): seen}
    assert _plain_instant(moment, 100, london, days) == datetime(2026, 7, 1, 11, 0, tzinfo=UTC)
    assert days == {moment.toordinal(): datetime(2026, 6, 30, 23, 0, tzinfo=UTC)}


def test_plain_instant_declines_gaps_and_folds():
    london = ZoneInfo("Europe/London")
    assert _plain_instant(datetime(1926, 3, 29, 1, 30), 100, london) is None  # 2026-03-29 01:30: a gap
    assert _plain_instant(datetime(1926, 10, 25, 1, 30), 100, london) is None  # 2026-10-25 01:30: a fold
    assert _plain_instant(datetime(1926, 7, 1, 12, 0), 100, london) == replay(datetime(1926, 7, 1, 12, 0), 100, london).instant
