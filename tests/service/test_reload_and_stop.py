"""Hot reload of feed files while `bot run` runs, and the graceful stop on SIGTERM."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from conftest import BotProcess, actions, iso_in, write_feed, x_env

FEED = """title: Reload
timezone: UTC
years_later: 100
accounts:
  alpha: {platform: console, persona: a}
personas:
  a: {name: Alpha, bio: Historical reenactment.}
"""


def post(time_, id_, text):
    return f'  - {{time: "{time_}", account: alpha, id: {id_}, text: "{text}"}}\n'


def test_added_edited_deleted_and_broken_files_take_effect_without_restart(tmp_path):
    feed = tmp_path / "posts"
    feed.mkdir()
    (feed / "feed.yaml").write_text(FEED)
    # one minute of history is half a second of rehearsal
    (feed / "a.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:00", "first", "first") + post("08:40", "edited", "before the edit"))
    (feed / "b.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:20", "deleted", "never posted"))
    (feed / "c.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:30", "kept", "kept from the last valid version"))
    env = x_env("http://127.0.0.1:9", ())
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", iso_in(3), "--speed", "120", "--ledger", str(tmp_path / "l.sqlite3")],
                     env, tmp_path, tmp_path / "run.log")
    try:
        bot.wait_for(lambda: any(line.split(" ")[1:2] == ["armed"] for line in bot.lines()), 20, "armed")
        (feed / "d.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:10", "added", "added while running"))
        (feed / "a.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:00", "first", "first") + post("08:40", "edited", "after the edit"))
        (feed / "b.yaml").unlink()
        (feed / "c.yaml").write_text("date: 1917-11-06\nposts:\n  - {time: [broken\n")
        bot.wait_for(lambda: len(actions(bot.lines(), "reloaded")) >= 1, 5, "a reload")
        time.sleep(0.5)
        (feed / "c.yaml").write_text("date: 1917-11-06\nposts:\n  - {time: [broken\n")  # saved again unchanged
        bot.wait_for(lambda: {"first", "added", "kept", "edited"} <= {a["entry"] for a in actions(bot.lines(), "posted")}, 60, "four posts")
    finally:
        code, _ = bot.terminate()
    assert code == 0
    out = bot.stdout()
    posted = [a["entry"] for a in actions(bot.lines(), "posted")]
    assert posted == ["first", "added", "kept", "edited"]
    assert "after the edit" in out and "before the edit" not in out
    assert "never posted" not in out
    broken = [line for line in bot.lines() if "c.yaml:" in line and ": error: " in line]
    assert len(broken) == 1, "an invalid file is reported once"
    assert "Traceback" not in "\n".join(bot.lines())


def test_sigterm_during_a_call_exits_0_within_10_s_and_records_it_uncertain(tmp_path, x_server):
    feed = write_feed(tmp_path / "feed", 3, accounts=("alpha",), gap_minutes=1)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha",), X_TIMEOUT="60")
    x_server.fail("hang", path="/2/tweets", hang_seconds=60)
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", iso_in(2), "--speed", "60", "--ledger", str(ledger)],
                     env, tmp_path, tmp_path / "run.log")
    bot.wait_for(lambda: x_server.tweets(), 20, "the first call")
    code, took = bot.terminate(timeout=15)
    assert code == 0 and took < 10
    status = subprocess.run([sys.executable, "-m", "bot", "status", "--posts", str(feed), "--ledger", str(ledger), "--format", "json"],
                            capture_output=True, text=True, env=env, check=True)
    data = json.loads(status.stdout)
    assert data["uncertain"] == 1 and data["posted"] == 0
    assert [p["id"] for p in data["problems"]] == ["e0000"]
