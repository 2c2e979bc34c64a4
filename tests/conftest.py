"""Shared fixtures: build small feeds, run `bot` as a real subprocess or in-process.

Each fixture below hands out a plain function (tests/service has a conftest of its
own, so test modules must not `import conftest`):

- `make_feed(tmp_path, feed_yaml=BASE_FEED, files=None)` writes a feed folder, returns its path;
- `run_bot(*args, cwd=..., env=..., measure=False)` runs `python -m bot ...` as a child
  process and returns a `BotRun`: unpacks as `(code, stdout, stderr)`; with `measure`,
  `.peak_mb` is the child's own peak resident memory;
- `invoke_bot(*args, cwd=..., env=...)` the same in-process through click's CliRunner
  (fast); an unexpected exception is re-raised, so a traceback fails the test;
- `base_feed_yaml`: BASE_FEED, a valid feed.yaml (accounts paper on x, crier on console;
  personas daily, evening, crier; Europe/Berlin, Gregorian).

Both runners start from a clean environment: no inherited `BOT_*` variable, no NO_COLOR;
`env` values of None unset a variable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "posts"

BASE_FEED = """\
title: Test feed
timezone: Europe/Berlin
accounts:
  paper:
    platform: x
    persona: daily
  crier:
    platform: console
    persona: crier
personas:
  daily:
    name: The Daily
    bio: Historical reenactment of a daily paper.
  evening:
    name: The Evening
    bio: Historical reenactment of an evening paper.
  crier:
    name: Town Crier
    bio: Historical reenactment of a town crier.
"""

def _make_feed(tmp_path: Path, feed_yaml: str | bytes | None = BASE_FEED, files: Mapping[str, str | bytes] | None = None, name: str = "feed") -> Path:
    """Write a feed folder `tmp_path/name`: feed.yaml (none when None) and `files` (relative path: content)."""
    root = Path(tmp_path) / name
    root.mkdir(parents=True, exist_ok=True)
    all_files = dict(files or {})
    if feed_yaml is not None:
        all_files["feed.yaml"] = feed_yaml
    for relative, content in all_files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def clean_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_") and k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONIOENCODING"] = "utf-8"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class BotRun:
    code: int
    stdout: str
    stderr: str
    peak_mb: float | None = None

    def __iter__(self):
        return iter((self.code, self.stdout, self.stderr))


# Runs `bot` exactly as `python -m bot` does, then writes the process's own peak RSS
# (VmHWM) to a file at exit. Why not getrusage/wait4 of the child: Linux starts a
# child's ru_maxrss at its parent's RSS (the memory it had at fork/vfork is counted at
# exec), so that figure is max(pytest, child), not the child's own.
_MEASURED = """\
import atexit, runpy, sys
out = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as status, open(out, "w") as f:
        f.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(report)
sys.argv[0] = "bot"
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


def _run_bot(*args, cwd: Path | str, env: Mapping[str, str | None] | None = None, timeout: float = 60, measure: bool = False) -> BotRun:
    """`python -m bot ARGS` as a child process (killed after `timeout` seconds).
    With `measure`, `.peak_mb` is the child's own peak resident memory (Linux)."""
    with tempfile.TemporaryDirectory() as scratch:
        hwm = Path(scratch) / "hwm"
        measure = measure and Path("/proc/self/status").exists()
        head = [sys.executable, "-c", _MEASURED, str(hwm)] if measure else [sys.executable, "-m", "bot"]
        done = subprocess.run(
            [*head, *map(str, args)], cwd=cwd, env=clean_env(env), stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout,
        )
        peak = int(hwm.read_text()) / 1024 if measure else None  # VmHWM is in kB
    return BotRun(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"), peak)


def _invoke_bot(*args, cwd: Path | str, env: Mapping[str, str | None] | None = None) -> BotRun:
    """The same through click's CliRunner, in this process."""
    from click.testing import CliRunner

    from bot.cli import cli

    unset = {k: None for k in os.environ if k.startswith("BOT_") or k in ("NO_COLOR", "FORCE_COLOR")}
    runner = CliRunner()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(cli, [str(a) for a in args], env={**unset, **(env or {})}, prog_name="bot")
    finally:
        os.chdir(before)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return BotRun(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def make_feed():
    return _make_feed


@pytest.fixture(scope="session")
def run_bot():
    return _run_bot


@pytest.fixture(scope="session")
def invoke_bot():
    return _invoke_bot


@pytest.fixture(scope="session")
def base_feed_yaml():
    return BASE_FEED


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def bot_env():
    """`bot_env(extra)`: the clean environment the runners use, for tests that spawn `bot` themselves."""
    return clean_env


# ---- X's published API: a request to the fake X server that breaks it fails the test

def _x_spec_violations() -> list[str]:
    found: list[str] = []
    for name in ("fakes.x_server", "tests.fakes.x_server"):
        module = sys.modules.get(name)
        if module is not None:
            found += module.pending_violations()
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    finally:
        _fail_on_x_spec_violations()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:
        _fail_on_x_spec_violations()


def _fail_on_x_spec_violations() -> None:
    """Every FakeXServer of this process (tests/fakes/x_server.py) records requests and
    answers that break X's OpenAPI document; any not yet reported fail the test now."""
    if found := _x_spec_violations():
        from fakes.x_spec import SpecViolation

        raise SpecViolation(f"{len(found)} request(s) or answer(s) to the fake X server broke "
                            "X's published API:\n" + "\n".join(found))
