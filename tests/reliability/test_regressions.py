"""Regression tests for defects the reliability suites found in bot/."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess

import pytest

from reliability import feeds
from reliability.common import Bot, actions, base_env, iso_in, ledger_switches, token
from reliability.faults import _mount, _umount

PROFILE = "/1.1/account/update_profile.json"
IMAGE = "/1.1/account/update_profile_image.json"


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

        from bot.ledger import Ledger

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
