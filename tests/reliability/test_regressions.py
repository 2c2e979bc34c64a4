"""Regression tests for defects the reliability suites found in bot/."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess

import pytest

from tests.reliability import feeds
from tests.reliability.common import HookedX
from tests.support.env import x_env as base_env, token
from tests.support.ledger import ledger_switches
from tests.support.proc import BotProcess as Bot, actions, iso_at, iso_in
from tests.reliability.faults import _mount, _umount

PROFILE = "/1.1/account/update_profile.json"
IMAGE = "/1.1/account/update_profile_image.json"


@pytest.mark.slow  # in process, in the default run: tests/core/test_personas.py
def test_a_persona_switch_killed_mid_call_is_applied_again_at_the_next_start(tmp_path, fake_x):
    """Found by the crash suite: the start-up correction skipped a switch left
    uncertain by kill -9, so the account kept half of its old profile forever."""
    spec = feeds.Spec({"alpha": "home"}, {"home": "Home Paper"},
                      [feeds.Item("a1", "alpha", 600, "alpha: a post in ten minutes")])
    feed = feeds.write(spec, tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    env = base_env(fake_x.base_url, spec.accounts)
    args = ["run", "--posts", str(feed), "--start-at", iso_in(60), "--ledger", str(ledger)]
    fake_x.fail("hang", path=PROFILE, token=token("alpha"), hang_seconds=30)
    first = Bot(args, env, tmp_path, "first")
    first.wait_for(lambda: fake_x.requests(PROFILE), 20, "the profile update to hang")
    first.kill()
    assert [s[4] for s in ledger_switches(ledger)] == ["claimed"]  # the kill hit the switch mid-call

    again = Bot(args, env, tmp_path, "again")
    again.wait_for(lambda: fake_x.requests(IMAGE), 20, "the switch to be made again")
    assert again.terminate() == 0
    assert [r.params.get("name") for r in fake_x.requests(PROFILE)] == ["Home Paper", "Home Paper"]
    assert fake_x.requests(IMAGE)[-1].files["image"]["sha256"] == hashlib.sha256(feeds.png("home")).hexdigest()
    assert [s[4] for s in ledger_switches(ledger)] == ["uncertain", "posted"]
    assert [a["persona"] for a in actions(again.lines(), "switched")] == ["home"]


def test_bot_status_reads_a_ledger_on_a_read_only_filesystem(tmp_path):
    """Found by the fault suite: with no -wal/-shm beside it (a clean close), a WAL
    ledger on read-only media could not be opened at all, even to read it."""
    mount = tmp_path / "ro"
    why = _mount(mount, "4m")
    if why:
        pytest.skip(why)
    try:
        feed = feeds.write(feeds.Spec({"alpha": "home"}, {"home": "Home"}, [feeds.Item("a1", "alpha", 0, "hello")],
                                      avatars=False), tmp_path / "feed")
        from datetime import UTC, datetime

        from bot.run.ledger import Ledger

        now = datetime.now(UTC)
        with Ledger.open(mount / "ledger.sqlite3", now=now) as ledger:
            ledger.claim("a1", "alpha", "x", scheduled=now, now=now, text_hash=None)
            ledger.settle("a1", "alpha", "x", "posted", now=now, remote_id="42")
        assert sorted(p.name for p in mount.iterdir()) == ["ledger.sqlite3", "ledger.sqlite3.lock"]
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        with pytest.raises(sqlite3.OperationalError):  # what SQLite does without help
            sqlite3.connect(f"file:{mount / 'ledger.sqlite3'}?mode=ro", uri=True).execute("SELECT 1 FROM deliveries")
        status = Bot(["status", "--posts", str(feed), "--ledger", str(mount / "ledger.sqlite3"), "--format", "json"],
                     base_env(None, ()), tmp_path, "status")
        assert status.reap(30) == 0, status.stderr()
        assert '"posted": 1' in status.stdout()
    finally:
        _umount(mount)


@pytest.mark.slow  # in process, in the default run: tests/core/test_personas.py
def test_a_storm_missed_at_start_does_not_undo_a_later_storm_of_the_same_tick(tmp_path):
    """Found with the cross-posting crash suite: at a start, a storm too late to post
    queued its persona switch behind the later deliveries of the same tick, so an
    account switched back by a later storm ended wearing the earlier storm's persona."""
    from datetime import UTC, datetime, timedelta

    from tests.reliability.crosscrash import ledger_keys, switch_rows
    from tests.reliability.networks import NETWORKS, Networks

    spec = feeds.Spec({"alpha": "home"}, {"home": "Home Paper", "storm": "Storm Paper"}, [
        feeds.Item("s1", "alpha", 0, "alpha: the palace is taken", storm="storm"),
        feeds.Item("s2", "alpha", 1, "alpha: the old editors are back", storm="home"),
        feeds.Item("later", "alpha", 600, "alpha: ten hours later")], platforms=NETWORKS)
    feed = feeds.write(spec, tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    # s1 is 20 s overdue at launch (over the grace of 10 s), s2 2 s: both fall in the first tick
    start_at = datetime.now(UTC) - timedelta(seconds=20)
    args = ["run", "--posts", str(feed), "--start-at", iso_at(start_at), "--speed", f"{60 / 18:g}", "--ledger", str(ledger)]
    with Networks(spec.accounts) as nets:
        bot = Bot(args, nets.env(BOT_GRACE=10), tmp_path, "run")

        def done():
            rows = ledger_keys(ledger)
            switched = {s[2] for s in switch_rows(ledger) if s[4] == "s1" and s[5] != "claimed"}
            return (all(rows.get(("s1", "alpha", n), ("",))[0] == "missed" for n in NETWORKS)
                    and all(rows.get(("s2", "alpha", n), ("",))[0] == "posted" for n in NETWORKS)
                    and switched == set(NETWORKS))

        bot.wait_for(done, 30, "s1 missed with its switch made, s2 posted, on every network")
        assert bot.terminate() == 0
        for network, (name, avatar, _) in nets.worn("alpha").items():
            assert name == "Home Paper", f"{network} wears {name!r} after the later storm"
        posted = [a["platform"] for a in actions(bot.lines(), "posted") if a["entry"] == "s2"]
        assert sorted(posted) == sorted(NETWORKS)



@pytest.mark.slow  # in process, in the default run: tests/core/test_personas.py
def test_a_storm_that_falls_late_in_its_lane_still_switches_the_persona(tmp_path):
    """Found with the cross-posting crash suite: a storm that became too late while its
    lane was busy (a slow network) was recorded missed without its persona switch, so
    the account went on posting under the old persona until the next start."""
    spec = feeds.Spec({"alpha": "home"}, {"home": "Home Paper", "storm": "Storm Paper"}, [
        feeds.Item("a1", "alpha", 0, "alpha: first news"),
        feeds.Item("a2", "alpha", 0.02, "alpha: the palace is taken", storm="storm"),
        feeds.Item("a3", "alpha", 600, "alpha: ten hours later")], avatars=False)
    feed = feeds.write(spec, tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    with HookedX(delay=1.5) as slow:  # every request takes 1.5 s: a2 waits behind a1 past the grace of 1 s
        args = ["run", "--posts", str(feed), "--start-at", "+6s", "--speed", "60", "--ledger", str(ledger)]
        bot = Bot(args, base_env(slow.base_url, spec.accounts, BOT_GRACE=1), tmp_path, "run")
        bot.wait_for(lambda: [a for a in actions(bot.lines(), "missed") if a["entry"] == "a2"], 30, "a2 missed")
        bot.wait_for(lambda: len(slow.requests(PROFILE)) == 2 and not slow.open_requests(), 10, "the storm's switch")
        assert bot.terminate() == 0
    assert [r.params.get("name") for r in slow.requests(PROFILE)] == ["Home Paper", "Storm Paper"]
    assert [s[2:5] for s in ledger_switches(ledger)] == [("home", None, "posted"), ("storm", "a2", "posted")]
