"""Commands that read or settle the ledger: check's edit warning, resolve, status."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, datetime

from bot.run.ledger import Ledger

FEED = """title: T
timezone: UTC
years_later: 110
accounts:
  wire: {platform: console, persona: w}
personas:
  w: {name: Wire, bio: Historical reenactment.}
"""
POSTS = """date: 1917-11-06
posts:
  - time: "10:00"
    account: wire
    text: "the original text"
  - time: "11:00"
    account: wire
    text: "second"
"""
NOW = datetime(2026, 11, 26, tzinfo=UTC)


def bot(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def feed(tmp_path):
    root = tmp_path / "posts"
    root.mkdir()
    (root / "feed.yaml").write_text(FEED)
    (root / "day.yaml").write_text(POSTS)
    return root


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_check_warns_when_a_posted_entry_was_edited(tmp_path):
    root = feed(tmp_path)
    ledger = tmp_path / "ledger.sqlite3"
    with Ledger.open(ledger) as handle:
        handle.claim("1917-11-06T1000-wire", "wire", "console", scheduled=NOW, now=NOW, text_hash=text_hash("the original text"))
        handle.settle("1917-11-06T1000-wire", "wire", "console", "posted", now=NOW, remote_id="1")
    untouched = bot("check", "--posts", "posts", "--ledger", str(ledger), cwd=tmp_path)
    assert untouched.returncode == 0 and ": warning:" not in untouched.stdout

    (root / "day.yaml").write_text(POSTS.replace("the original text", "an edited text"))
    edited = bot("check", "--posts", "posts", "--ledger", str(ledger), cwd=tmp_path)
    assert edited.returncode == 0
    assert "posts/day.yaml:3: warning: entry '1917-11-06T1000-wire' was already posted with another text" in edited.stdout


def test_resolve_settles_an_uncertain_entry_and_status_tells(tmp_path):
    feed(tmp_path)
    ledger = tmp_path / "ledger.sqlite3"
    with Ledger.open(ledger) as handle:
        handle.claim("1917-11-06T1000-wire", "wire", "console", scheduled=NOW, now=NOW, text_hash=None)
        assert [r.entry_id for r in handle.recover(NOW)] == ["1917-11-06T1000-wire"]  # died mid-call

    def status():
        out = bot("status", "--posts", "posts", "--ledger", str(ledger), "--format", "json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    before = status()
    assert (before["uncertain"], before["posted"], before["pending"]) == (1, 0, 1)
    assert before["next"]["id"] == "1917-11-06T1100-wire"
    assert before["next"]["scheduled"] == "2027-11-06T11:00:00+00:00"

    usage = bot("resolve", "1917-11-06T1000-wire", "--ledger", str(ledger), cwd=tmp_path)
    assert usage.returncode == 2
    done = bot("resolve", "1917-11-06T1000-wire", "--posted", "--remote-id", "777", "--ledger", str(ledger), cwd=tmp_path)
    assert done.returncode == 0 and "posted" in done.stdout
    after = status()
    assert (after["uncertain"], after["posted"]) == (0, 1)
    assert after["last"]["remote_id"] == "777"

    again = bot("resolve", "1917-11-06T1000-wire", "--not-posted", "--ledger", str(ledger), cwd=tmp_path)
    assert again.returncode == 1 and "no uncertain delivery" in again.stderr and "Traceback" not in again.stderr


STORM_FEED = FEED.replace("  w: {name: Wire, bio: Historical reenactment.}\n",
                          "  w: {name: Wire, bio: Historical reenactment.}\n  red: {name: Red Wire, bio: Historical reenactment, stormed.}\n")
STORM_POSTS = POSTS + """  - time: "12:00"
    account: wire
    storm: red
    text: "stormed"
"""


def test_status_shows_personas_worn_and_due_and_drops_switch_problems_that_converged(tmp_path):
    root = feed(tmp_path)
    (root / "feed.yaml").write_text(STORM_FEED)
    (root / "day.yaml").write_text(STORM_POSTS)
    ledger = tmp_path / "ledger.sqlite3"
    with Ledger.open(ledger) as handle:  # the storm's switch: uncertain (killed mid-call), then done at the next start
        handle.claim_switch("wire", "console", "red", "1917-11-06T1200-wire", now=NOW)
        handle.recover(NOW)

    def status(*extra):
        out = bot("status", "--posts", "posts", "--ledger", str(ledger), *extra, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    data = json.loads(status("--format", "json"))
    assert [(p["kind"], p["state"], p["persona"]) for p in data["problems"]] == [("switch", "uncertain", "red")]
    # the service's clock is the real one: in 2026 the storm of 2027 is still to come
    assert data["personas"] == [{"account": "wire", "platform": "console", "worn": "w", "due": "w"}]
    with Ledger.open(ledger) as handle:
        done = handle.claim_switch("wire", "console", "red", None, now=NOW)
        handle.settle_switch(done, "posted", now=NOW)
    data = json.loads(status("--format", "json"))
    assert data["problems"] == []  # superseded by the successful switch to the same persona
    assert data["personas"] == [{"account": "wire", "platform": "console", "worn": "red", "due": "w"}]
    assert "  wire on console: red (due: w)" in status().splitlines()


def test_status_of_a_dry_run_ledger_counts_its_console_deliveries(tmp_path):
    root = feed(tmp_path)
    (root / "feed.yaml").write_text(FEED.replace("platform: console", "platform: x"))
    ledger = tmp_path / "dry.sqlite3"
    with Ledger.open(ledger) as handle:  # what `bot run --dry-run --ledger dry.sqlite3` leaves
        for entry in ("1917-11-06T1000-wire", "1917-11-06T1100-wire"):
            handle.claim(entry, "wire", "console", scheduled=NOW, now=NOW, text_hash=None)
            handle.settle(entry, "wire", "console", "posted", now=NOW, remote_id=f"console:{entry}")
    out = bot("status", "--posts", "posts", "--ledger", str(ledger), "--format", "json", cwd=tmp_path)
    data = json.loads(out.stdout)
    assert (data["posted"], data["pending"]) == (2, 0)


def test_durations_read_as_people_say_them():
    from bot.units import duration

    assert [duration(s) for s in (0, 0.9, 59, 60, 200, 3600, 3725, 86399, 156558, 900)] == [
        "0 s", "0 s", "59 s", "1 min", "3 min 20 s", "1 h", "1 h 2 min", "23 h 59 min", "1 d 19 h", "15 min"]


def test_status_of_a_finished_rehearsal_reads_it_on_the_rehearsals_clock(tmp_path):
    """The rehearsal played the storm: its ledger wears the stormed persona, which is the one
    due on the rehearsal's clock (on the replay's clock, 2017 or later, it would not be yet)."""
    from tests.support.feeds import alternating
    from tests.support.proc import run_bot

    alternating(tmp_path / "posts", 4, gap_minutes=60, storm_at=2)
    ledger = tmp_path / "rehearsal.sqlite3"
    env = {"BOT_NOW": None}  # the real clock: the rehearsal runs now
    out = run_bot("run", "--dry-run", "--years-later", "110", "--start-at", "+1s", "--speed", "36000", "--ledger", str(ledger),
                  cwd=tmp_path, env=env)  # replayed from 2027: on the replay's clock nothing is due yet
    assert out.code == 0, out.stderr
    data = json.loads(run_bot("status", "--years-later", "110", "--ledger", str(ledger), "--format", "json", cwd=tmp_path, env=env).stdout)
    assert (data["posted"], data["pending"], data["next"]) == (4, 0, None)
    alpha = next(p for p in data["personas"] if p["account"] == "alpha")  # entry 2 storms alpha
    assert alpha["worn"] == alpha["due"] == "stormed"
