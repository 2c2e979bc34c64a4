"""systemd's notify protocol against a Unix datagram socket of the test's own: READY=1
once armed, WATCHDOG=1 from the timer's loop while healthy (a stuck timer stops them),
STOPPING=1 on SIGTERM; nothing without NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from pathlib import Path

import pytest

from bot.ops.systemd import Notify, watchdog_interval
from tests.ops.support import running, scripted_service, wait_until
from tests.support.engine import ScriptedNetwork
from tests.support.env import clean_env
from tests.support.feeds import story
from tests.support.proc import BotProcess


class Socket:
    """What systemd listens on: a datagram socket; `messages` is every datagram so far."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.closed:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _, text in list(self.messages) for line in text.splitlines()]

    def count(self, line: str) -> int:
        return self.lines().count(line)

    def close(self) -> None:
        self.closed = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def listener(tmp_path):
    sock = Socket(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def future_feed(root: Path, platform: str = "console") -> Path:
    return story(root, {"a": platform}, [{"date": "1927-06-01", "time": "10:00", "account": "a", "id": "e0", "text": "Later."}])


def test_bot_run_says_ready_pings_the_watchdog_and_says_stopping(tmp_path, listener):
    env = clean_env({"NOTIFY_SOCKET": listener.sock.getsockname(), "WATCHDOG_USEC": "400000"})
    bot = BotProcess(["run", "--posts", str(future_feed(tmp_path / "feed")), "--ledger", str(tmp_path / "l.sqlite3")],
                     env, tmp_path, "run")
    try:
        bot.wait_for(lambda: listener.count("READY=1"), 20, "READY=1")
        bot.wait_for(lambda: listener.count("WATCHDOG=1") >= 3, 10, "three watchdog pings")
    finally:
        code = bot.terminate()
    assert code == 0
    lines = listener.lines()
    assert lines[0] == "READY=1" and lines[1].startswith("STATUS=armed, next due 2027-06-01T10:00")
    assert lines[-1] == "STOPPING=1" and lines.count("STOPPING=1") == 1
    pings = [at for at, text in listener.messages if text == "WATCHDOG=1"]
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    # every WATCHDOG_USEC / 2 = 0.2 s: paced, neither a burst nor stalled (a ping a busy machine
    # delayed is followed by one on time, so single gaps may be short; the median is not)
    assert gaps and 0.1 < statistics.median(gaps) < 1.0 and max(gaps) < 2.0, gaps


def test_a_stuck_timer_stops_the_pings(tmp_path, listener, monkeypatch):
    service = scripted_service(future_feed(tmp_path / "feed", "x"), tmp_path / "l.sqlite3", {"x": ScriptedNetwork("x")})
    env = {"NOTIFY_SOCKET": listener.sock.getsockname(), "WATCHDOG_USEC": "200000"}
    with running(service, env) as ops:
        ops.health.stuck_after = 0.3
        wait_until(lambda: listener.count("WATCHDOG=1") >= 2, 5, "pings")
        release = threading.Event()
        monkeypatch.setattr(service.engine, "tick", lambda now: release.wait(10))
        threading.Thread(target=service.tick, daemon=True).start()
        time.sleep(0.6)  # past stuck_after: the pings stop
        before = listener.count("WATCHDOG=1")
        time.sleep(0.8)
        assert listener.count("WATCHDOG=1") == before
        release.set()
        wait_until(lambda: listener.count("WATCHDOG=1") > before, 5, "the pings again")


def test_abstract_socket_names_and_no_socket():
    name = f"bot-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notify({"NOTIFY_SOCKET": "@" + name}).ready("armed")
        assert sock.recv(100) == b"READY=1\nSTATUS=armed"
    quiet = Notify({})
    assert not quiet.enabled and not quiet.ready() and not quiet.ping() and not quiet.stopping()
    assert not Notify({"NOTIFY_SOCKET": "/nonexistent/socket"}).ping()  # systemd gone: no error


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process():
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None and watchdog_interval({"WATCHDOG_USEC": "x"}) is None
