"""What every reliability engine shares: the bot as a subprocess, the fake X server
with hooks, credentials, log parsing and a direct look into the SQLite ledger.

Importable from the tests (as `reliability.common`) and from bench/reliability.py,
which puts `tests/` on sys.path first.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fakes.x_server import FakeXServer, _Handler  # noqa: E402

PYTHON = sys.executable
TRACEBACK = "Traceback (most recent call last)"
MB = 1024 * 1024

# Fake credentials: distinctive, long, with characters that URL-encoding changes.
APP_SECRETS = {
    "X_API_KEY": "appkey+Kq7/ZZ-LEAKCHECK-1",
    "X_API_SECRET": "appsecret=Vw9/ZZ-LEAKCHECK-2",
}


def env_name(account: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", account.upper())


def token(account: str) -> str:
    return f"tok-{account}-ZZ-LEAKCHECK-T"


def token_secret(account: str) -> str:
    return f"toksecret/{account}+ZZ-LEAKCHECK-S"


def account_secrets(account: str) -> dict[str, str]:
    name = env_name(account)
    return {f"X_{name}_ACCESS_TOKEN": token(account), f"X_{name}_ACCESS_TOKEN_SECRET": token_secret(account)}


def base_env(base_url: str | None, accounts, **extra) -> dict[str, str]:
    """The parent's environment without any bot setting, plus fake X credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("X_", "BOT_", "MASTODON_", "BLUESKY_"))}
    env.update(APP_SECRETS)
    for account in accounts:
        env.update(account_secrets(account))
    if base_url:
        env["X_API_BASE_URL"] = base_url
    env.setdefault("X_TIMEOUT", "5")
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def iso_at(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def iso_in(seconds: float) -> str:
    return iso_at(datetime.now(UTC) + timedelta(seconds=seconds))


# ---- the bot as a subprocess -------------------------------------------------

class Bot:
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
    bot = Bot(args, env, cwd, name=f"cmd-{time.monotonic_ns()}")
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


# ---- the ledger, read directly -------------------------------------------------

@dataclass(frozen=True)
class LedgerRow:
    entry_id: str
    account: str
    state: str
    reason: str | None
    remote_id: str | None


def open_ledger(path: Path, *, readonly: bool = False) -> sqlite3.Connection | None:
    """The ledger, or None while it does not exist or has no schema yet.

    The bot creates the file a moment before its tables, so a reader polling a
    starting bot (or one killed in between) can find an empty database. A
    read-write connection lets SQLite replay the WAL of a killed process."""
    if not Path(path).exists():
        return None
    target = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(target, uri=True, timeout=5)
    try:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('deliveries', 'switches')").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    if tables < 2:
        conn.close()
        return None
    return conn


def ledger_rows(path: Path) -> dict[str, LedgerRow]:
    """Delivery rows by entry id (X only here), read with plain sqlite3."""
    conn = open_ledger(path, readonly=True)
    if conn is None:
        return {}
    try:
        return {r[0]: LedgerRow(*r) for r in conn.execute(
            "SELECT entry_id, account, state, reason, remote_id FROM deliveries")}
    finally:
        conn.close()


def ledger_switches(path: Path) -> list[tuple]:
    """(id, account, persona, entry_id, state, reason) of every persona switch, oldest first."""
    conn = open_ledger(path, readonly=True)
    if conn is None:
        return []
    try:
        return list(conn.execute(
            "SELECT id, account, persona, entry_id, state, reason FROM switches ORDER BY id"))
    finally:
        conn.close()


def claimed_after_crash(path: Path) -> tuple[list[str], int]:
    """(entry ids of claimed deliveries, number of claimed switches) of a dead bot's ledger."""
    conn = open_ledger(path)
    if conn is None:
        return [], 0
    try:
        entries = [r[0] for r in conn.execute("SELECT entry_id FROM deliveries WHERE state = 'claimed'")]
        switches = conn.execute("SELECT count(*) FROM switches WHERE state = 'claimed'").fetchone()[0]
        return entries, switches
    finally:
        conn.close()


# ---- the fake X server with hooks ------------------------------------------------

class _HookedHandler(_Handler):
    def _answer(self, status, payload, headers=None):
        try:
            super()._answer(status, payload, headers)
        finally:
            self.server.fake._answered()


class Holding:
    """Delay, hooks and the open-request table shared by the hooked fakes."""

    def _init_holding(self, delay: float) -> None:
        self.delay = delay
        self.on_request = None
        self.on_answer = None
        self._held: dict[int, object] = {}  # handler thread -> request acted on, not answered
        self._held_lock = threading.Lock()

    def _hold(self, rec) -> None:
        with self._held_lock:
            self._held[threading.get_ident()] = rec
        hook = self.on_request
        if hook is not None:
            hook(rec)
        if self.delay:
            time.sleep(self.delay)

    def _answered(self) -> None:
        with self._held_lock:
            rec = self._held.pop(threading.get_ident(), None)
        hook = self.on_answer
        if hook is not None and rec is not None:
            hook(rec)

    def open_requests(self) -> list:
        with self._held_lock:
            return list(self._held.values())


class HookedX(Holding, FakeXServer):
    """FakeXServer that can slow every request down and calls hooks.

    `delay`: seconds each recorded request waits before its answer (so a kill can
    land inside a publish call). `on_request(rec)` runs when a request has been
    read, `on_answer(rec)` once its answer is written. `open_requests()` lists the
    requests read and not yet answered.
    """

    def __init__(self, *args, delay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._httpd.RequestHandlerClass = _HookedHandler
        self._httpd.handle_error = lambda request, address: None  # a killed client's broken pipe
        self._init_holding(delay)

    def _record(self, rec) -> None:
        super()._record(rec)
        if rec.fault in ("hang", "reset_after_read"):
            return  # never answered: not an open request, no hooks
        self._hold(rec)


@dataclass
class Figures:
    """One row of the bench table."""

    suite: str
    cases: int = 0
    duplicates: int = 0
    silent_losses: int = 0
    uncertain: int = 0
    tracebacks: int = 0
    leaked: int = 0
    peak_rss: int = 0  # bytes, the largest of any bot process
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what was tried, for the reader
    problems: list[str] = field(default_factory=list)  # every broken promise, one line each
