"""Does a notification target that is down delay a post? `bot run` as a real process
against the fake X server: alpha's posts go out, every one of beta's is refused (401),
so the notifier has something to send all along. Alpha's lateness (the bot's own
late_ms, due instant to call) is compared across targets:

    none      BOT_NOTIFY unset
    refused   nothing listens at the target's port (connection refused at once)
    hanging   the target accepts and never answers (Apprise waits its 4 s read timeout)

    figures = measure("hanging", tmp_path, entries=40, gap=0.1)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.fakes.x_server import FakeXServer
from tests.ops.receiver import Receiver, dead_url
from tests.support.env import token, x_env
from tests.support.feeds import story
from tests.support.proc import BotProcess, actions


@dataclass
class Lateness:
    target: str
    posts: int
    p50: float
    p95: float
    max: float
    failed: int
    notify_failures: int  # notify-failed lines: one per burst that could not be sent
    seconds: float

    def row(self) -> str:
        return (f"{self.target:8} {self.posts:5d} posts  p50 {self.p50:5.1f} ms  p95 {self.p95:5.1f} ms  "
                f"max {self.max:6.1f} ms  ({self.failed} failed, {self.notify_failures} notify-failed lines)")


def feed(root: Path, entries: int) -> Path:
    """`entries` entries a second apart in history, alternating alpha and beta."""
    start = datetime(1917, 11, 6, 8, 0)
    posts = []
    for i in range(entries):
        moment = start + timedelta(seconds=i)
        posts.append({"date": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M:%S}", "account": ("alpha", "beta")[i % 2],
                      "id": f"e{i:04d}", "text": f"entry number {i:04d}"})
    return story(root, {"alpha": "x", "beta": "x"}, posts)


def measure(target: str, workdir: Path, *, entries: int = 40, gap: float = 0.1) -> Lateness:
    workdir.mkdir(parents=True, exist_ok=True)
    root = feed(workdir / "feed", entries)
    started = time.monotonic()
    with FakeXServer() as x, Receiver() as rx:
        rx.hang = target == "hanging"
        url = {"none": None, "refused": dead_url(), "hanging": rx.url}[target]
        env = x_env(x.base_url, ("alpha", "beta"), BOT_RETRIES="0", **({"BOT_NOTIFY": url} if url else {}))
        x.fail("401", count=10 * entries, path="/2/tweets", token=token("beta"))
        bot = BotProcess(["run", "--posts", str(root), "--start-at", "+1.5s", "--speed", str(1 / gap),
                          "--ledger", str(workdir / "ledger.sqlite3")], env, workdir, f"run-{target}")
        try:
            settled = lambda: len(actions(bot.lines(), "posted")) + len(actions(bot.lines(), "failed")) >= entries  # noqa: E731
            bot.wait_for(settled, 1.5 + entries * gap + 30, "every entry settled")
            rx.release.set()  # the hanging target lets go: the service's last messages fail at once
            bot.wait_for(lambda: not bot.alive(), 30, "the rehearsal to end")
        finally:
            bot.terminate()
    lines = bot.lines()
    late = sorted(float(a["late_ms"]) for a in actions(lines, "posted"))
    return Lateness(target, len(late), statistics.median(late), late[int(0.95 * (len(late) - 1))], late[-1],
                    len(actions(lines, "failed")), len(actions(lines, "notify-failed")), time.monotonic() - started)
