"""Helpers for tests that run `bot run` as a real subprocess against fake networks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "posts"
SECRETS = {
    "X_API_KEY": "fake-app-key-KEYVALUE",
    "X_API_SECRET": "fake-app-secret-SECRETVALUE",
}


def token(account: str) -> str:
    return f"token-{account}-TOKENVALUE"


def x_env(base_url: str, accounts, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "BOT_", "MASTODON_", "BLUESKY_"))}
    env.update(SECRETS)
    env["X_API_BASE_URL"] = base_url
    env["X_TIMEOUT"] = "5"
    for account in accounts:
        name = re.sub(r"[^A-Z0-9]", "_", account.upper())
        env[f"X_{name}_ACCESS_TOKEN"] = token(account)
        env[f"X_{name}_ACCESS_TOKEN_SECRET"] = f"secret-{account}-TOKENSECRET"
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def iso_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


class BotProcess:
    """`bot run` in a subprocess; stderr (the action log) goes to a file we can read any time."""

    def __init__(self, args, env, cwd, log: Path):
        self.log = log
        self.handle = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", *args], env=env, cwd=cwd,
            stdout=subprocess.PIPE, stderr=self.handle,
        )

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def wait_for(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            if self.proc.poll() is not None:
                raise AssertionError(f"bot run exited ({self.proc.returncode}) while waiting for {what}:\n" + "\n".join(self.lines()[-30:]))
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(self.lines()[-30:]))

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.handle.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.handle.close()

    def stdout(self) -> str:
        return self.proc.stdout.read().decode()


def actions(lines: list[str], outcome: str) -> list[dict]:
    """Parsed `key=value` fields of the log lines with this outcome."""
    found = []
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == outcome:
            found.append(dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', parts[2])))
    return found


def preview_json(posts: Path, *extra, env=None) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "bot", "preview", "--posts", str(posts), "--format", "json", *extra],
                         capture_output=True, text=True, env=env, check=True)
    return [json.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture
def x_server():
    sys.path.insert(0, str(ROOT / "tests"))
    from fakes.x_server import FakeXServer

    with FakeXServer() as server:
        yield server


def write_feed(root: Path, entries: int, accounts=("alpha", "beta"), gap_minutes: int = 1, storm_at: int | None = None) -> Path:
    """A synthetic feed: `entries` posts alternating between accounts, `gap_minutes` apart."""
    root.mkdir(parents=True, exist_ok=True)
    personas = "\n".join(f"  {a}-p: {{name: {a.title()} Paper, bio: Historical reenactment.}}" for a in accounts)
    accounts_yaml = "\n".join(f"  {a}: {{platform: x, persona: {a}-p}}" for a in accounts)
    (root / "feed.yaml").write_text(
        f"title: Synthetic\ntimezone: UTC\nyears_later: 100\naccounts:\n{accounts_yaml}\npersonas:\n{personas}\n"
        f"  stormed: {{name: Stormed Times, bio: Historical reenactment after the storm.}}\n")
    start = datetime(1917, 11, 6, 8, 0)
    lines = ["posts:"]
    for i in range(entries):
        moment = start + timedelta(minutes=i * gap_minutes)
        account = accounts[i % len(accounts)]
        lines.append(f'  - {{date: "{moment:%Y-%m-%d}", time: "{moment:%H:%M}", account: {account}, id: e{i:04d}, text: "entry number {i:04d}"'
                     + (", storm: stormed" if storm_at == i else "") + "}")
    (root / "posts.yaml").write_text("\n".join(lines) + "\n")
    return root
