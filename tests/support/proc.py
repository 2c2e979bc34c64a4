"""`bot` under test: as a subprocess (real signals, real kill -9) or in process
through click (fast), and the action lines it logs.

    run_bot("check", feed, cwd=tmp_path)           # a subprocess; unpacks as (code, stdout, stderr)
    invoke_bot("check", feed, cwd=tmp_path)        # the same through click's CliRunner
    bot = BotProcess(["run", ...], env, tmp_path)  # `bot run` in the background
    actions(bot.lines(), "posted")                 # its log lines, parsed
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.env import OWN_PREFIXES, clean_env

PYTHON = sys.executable
TRACEBACK = "Traceback (most recent call last)"


def iso_at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def iso_in(seconds: float) -> str:
    return iso_at(datetime.now(UTC) + timedelta(seconds=seconds))


class BotProcess:
    """`python -m bot ARGS` in the background; stdout and stderr go to files.

    `peak_rss` is the child's peak resident memory in bytes: the largest VmHWM read
    from /proc every 20 ms and just before each signal. (wait4's ru_maxrss would
    be simpler but counts the parent's memory: a vfork child inherits its high-water
    mark at exec.)
    """

    def __init__(self, args, env, cwd: Path, name: str):
        self.out_path = Path(cwd) / f"{name}.out"
        self.err_path = Path(cwd) / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([PYTHON, "-m", "bot", *args], env=env, cwd=cwd,
                                     stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.peak_rss = 0
        self.code: int | None = None
        threading.Thread(target=self._sample, name=f"rss-{self.pid}", daemon=True).start()

    def _hwm(self) -> None:
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        self.peak_rss = max(self.peak_rss, int(line.split()[1]) * 1024)
                        return
        except OSError:
            pass

    def _sample(self) -> None:
        while self.code is None:
            self._hwm()
            time.sleep(0.02)

    def lines(self) -> list[str]:
        return self.err_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.code is None and not self._poll()

    def _poll(self, block: bool = False) -> bool:
        """Reap the child if it has ended; True when it has."""
        if self.code is not None:
            return True
        pid, status, _ = os.wait4(self.pid, 0 if block else os.WNOHANG)
        if pid != self.pid:
            return False
        self.code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.code  # Popen must not wait again
        self._out.close()
        self._err.close()
        return True

    def wait_for(self, predicate, timeout: float, what: str, step: float = 0.03):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            if not self.alive():
                self.reap()
                result = predicate()  # what it did before it ended (a rehearsal ends by itself)
                if result:
                    return result
                raise AssertionError(f"bot exited ({self.code}) while waiting for {what}:\n"
                                     + "\n".join(self.lines()[-30:]))
            time.sleep(step)
        raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(self.lines()[-30:]))

    def reap(self, timeout: float = 15.0) -> int:
        """Wait for the child (SIGKILL after `timeout`); its exit code."""
        deadline = time.monotonic() + timeout
        while not self._poll():
            if time.monotonic() > deadline:
                self.kill_now()
                self._poll(block=True)
                break
            time.sleep(0.02)
        return self.code

    def terminate(self, timeout: float = 15.0) -> int:
        if self.alive():
            self._hwm()
            self.proc.send_signal(signal.SIGTERM)
        return self.reap(timeout)

    def kill_now(self) -> None:
        """SIGKILL without waiting (safe from any thread)."""
        if self.code is None:
            self._hwm()
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.kill_now()
        self.reap()


def run_command(args, env, cwd: Path, timeout: float = 60.0) -> tuple[int, str, str, int]:
    """(exit code, stdout, stderr, peak rss bytes) of `python -m bot ARGS`."""
    bot = BotProcess(args, env, cwd, name=f"cmd-{time.monotonic_ns()}")
    code = bot.reap(timeout)
    return code, bot.stdout(), bot.stderr(), bot.peak_rss


# ---- log lines ---------------------------------------------------------------

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def actions(lines, outcome: str | None = None) -> list[dict]:
    """Parsed `TIMESTAMP OUTCOME key=value...` lines (optionally only one outcome);
    each dict has `_outcome` and unquoted values."""
    found = []
    for line in lines:
        parts = line.split(" ", 2)
        if len(parts) < 2 or not re.match(r"\d{4}-\d\d-\d\dT", parts[0]):
            continue
        if outcome is not None and parts[1] != outcome:
            continue
        values = {k: (v[1:-1].replace('\\"', '"').replace("\\\\", "\\") if v.startswith('"') else v)
                  for k, v in _FIELD.findall(parts[2] if len(parts) == 3 else "")}
        values["_outcome"] = parts[1]
        found.append(values)
    return found


def tracebacks(*texts: str) -> int:
    return sum(text.count(TRACEBACK) for text in texts)




# ---- one command, as a subprocess or in process ------------------------------------

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


def run_bot(*args, cwd: Path | str, env: Mapping[str, str | None] | None = None, timeout: float = 60, measure: bool = False) -> BotRun:
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


def invoke_bot(*args, cwd: Path | str, env: Mapping[str, str | None] | None = None) -> BotRun:
    """The same through click's CliRunner, in this process."""
    from click.testing import CliRunner

    from bot.cli import cli

    unset = {k: None for k in os.environ if k.startswith(OWN_PREFIXES) or k in ("NO_COLOR", "FORCE_COLOR")}
    unset["XDG_CACHE_HOME"] = clean_env()["XDG_CACHE_HOME"]
    unset["BOT_NOW"] = clean_env()["BOT_NOW"]
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


