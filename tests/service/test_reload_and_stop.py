"""File watching and signals, which only a real process can show: a file added or edited
while `bot run` runs is picked up through OS file events; SIGTERM during a hung call
ends the process within 10 s and records the call uncertain. (What a reload does to
the schedule is tested in process: tests/core/test_reload.py.)"""

from __future__ import annotations

import json
import time

from tests.support.env import clean_env, x_env
from tests.support.feeds import alternating
from tests.support.proc import BotProcess, actions, run_bot

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


def test_files_added_and_edited_while_running_take_effect(tmp_path):
    feed = tmp_path / "posts"
    feed.mkdir()
    (feed / "feed.yaml").write_text(FEED)
    # one minute of history is a fifth of a second of rehearsal
    (feed / "a.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:00", "first", "first") + post("08:20", "edited", "before the edit"))
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", "+3s", "--speed", "300", "--ledger", str(tmp_path / "l.sqlite3")],
                     clean_env(), tmp_path, "run")
    try:
        bot.wait_for(lambda: any(line.split(" ")[1:2] == ["watching"] for line in bot.lines()), 20, "the watcher")
        (feed / "d.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:10", "added", "added while running"))
        (feed / "a.yaml").write_text("date: 1917-11-06\nposts:\n" + post("08:00", "first", "first") + post("08:20", "edited", "after the edit"))
        bot.wait_for(lambda: {"added", "edited"} <= {a["entry"] for a in actions(bot.lines(), "posted")}, 30, "the changed posts")
    finally:
        code = bot.terminate()
    assert code == 0
    out = bot.stdout()
    assert "after the edit" in out and "before the edit" not in out and "added while running" in out
    assert actions(bot.lines(), "reloaded") and "Traceback" not in "\n".join(bot.lines())


def test_sigterm_during_a_call_exits_0_within_10_s_and_records_it_uncertain(tmp_path, x_server):
    feed = alternating(tmp_path / "feed", 3, accounts=("alpha",), gap_minutes=1)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha",), X_TIMEOUT="60")
    x_server.fail("hang", path="/2/tweets", hang_seconds=60)
    bot = BotProcess(["run", "--posts", str(feed), "--start-at", "+2s", "--speed", "60", "--ledger", str(ledger)],
                     env, tmp_path, "run")
    bot.wait_for(lambda: x_server.tweets(), 20, "the first call")
    started = time.monotonic()
    code = bot.terminate(timeout=15)
    assert code == 0 and time.monotonic() - started < 10
    out = run_bot("status", "--posts", feed, "--ledger", ledger, "--format", "json", cwd=tmp_path, env=env)
    data = json.loads(out.stdout)
    assert data["uncertain"] == 1 and data["posted"] == 0
    assert [p["id"] for p in data["problems"]] == ["e0000"]
