"""/healthz in process: 200 while the service is healthy; 503 with the reason when the
timer is stopped or stuck, a lane's thread is gone, or the ledger does not answer;
200 again once that is over."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from bot.errors import ConfigError
from bot.ops import Ops
from tests.ops.support import get, health, running, scripted_service, wait_until
from tests.support.engine import ScriptedNetwork
from tests.support.feeds import story


def feed(root, count=3):
    """Entries of 1927-01-01 at 10:00, 10:05, ... replayed in 2027: the service waits, armed."""
    return story(root, {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": f"10:{i * 5:02d}", "account": ("a", "b")[i % 2], "id": f"e{i}", "text": f"Entry {i}."}
        for i in range(count)])


@pytest.fixture
def service(tmp_path):
    return scripted_service(feed(tmp_path / "feed"), tmp_path / "ledger.sqlite3", {"x": ScriptedNetwork("x")},
                            env={"BOT_HTTP": "127.0.0.1:0"})


def test_healthy_then_the_timer_stopped_then_healthy_again(service):
    with running(service) as ops:
        status, body = health(ops)
        assert status == 200 and body["status"] == "ok" and body["lanes"] == 2
        assert body["next_due"].startswith("2027-01-01T10:00")
        service.scheduler.pause()
        status, body = health(ops)
        assert (status, body) == (503, {"status": "unhealthy", "reason": "the timer is not running"})
        service.scheduler.resume()
        assert health(ops)[0] == 200


def test_a_timer_stuck_in_a_tick_or_silent_is_unhealthy(service, monkeypatch):
    with running(service) as ops:
        ops.health.stuck_after = 0.3
        release = threading.Event()
        real = service.engine.tick
        monkeypatch.setattr(service.engine, "tick", lambda now: release.wait(10) and real(now))
        ticking = threading.Thread(target=service.tick)
        ticking.start()
        assert health(ops)[0] == 200  # a tick that just began is fine
        status, body = wait_until(lambda: (h := health(ops))[0] == 503 and h, 5, "the stuck tick")
        assert body["reason"].startswith("the timer has been stuck in one tick for ")
        release.set()
        ticking.join(5)
        assert health(ops)[0] == 200
        service.tick_started -= 100  # the timer's 30 s job has not run for 100 s
        service.tick_done -= 100
        status, body = health(ops)
        assert status == 503 and body["reason"].startswith("the timer has not run for 10")
        service.tick()
        assert health(ops)[0] == 200


def test_a_lane_whose_thread_is_gone_is_unhealthy(service):
    with running(service) as ops:
        alive = service._threads[1]
        gone = threading.Thread(target=lambda: None)
        gone.start()
        gone.join()
        service._threads[1] = gone
        status, body = health(ops)
        assert status == 503 and body["reason"] == "the lane of b on x has stopped"
        service._threads[1] = alive
        assert health(ops)[0] == 200


def test_a_ledger_that_does_not_answer_is_unhealthy_and_back(service, tmp_path):
    ledger = tmp_path / "ledger.sqlite3"
    with running(service) as ops:
        assert health(ops)[0] == 200
        ledger.rename(tmp_path / "moved.sqlite3")
        status, body = health(ops)
        assert status == 503 and body["reason"] == f"ledger {ledger}: No such file or directory"
        (tmp_path / "moved.sqlite3").rename(ledger)
        assert health(ops)[0] == 200
        ledger.rename(tmp_path / "moved.sqlite3")
        ledger.write_bytes((tmp_path / "moved.sqlite3").read_bytes())  # a copy in its place: not the file in use
        status, body = health(ops)
        assert status == 503 and body["reason"].endswith("the file was replaced while the service runs")
        (tmp_path / "moved.sqlite3").replace(ledger)
        assert health(ops)[0] == 200
        with service.engine.ledger._mutex:  # held by a write that does not end
            started = time.monotonic()
            status, body = health_in_thread(ops)
        assert status == 503 and body["reason"].endswith("busy for over 2 s") and time.monotonic() - started < 5
        assert health(ops)[0] == 200


def health_in_thread(ops):
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("h", health(ops)))
    thread.start()
    thread.join(10)
    return out["h"]


def test_before_the_timer_is_armed_it_says_starting(service):
    ops = Ops(service, env={})
    try:
        ops.starting()
        status, body = health(ops)
        assert (status, body) == (503, {"status": "unhealthy", "reason": "starting"})
        assert get(ops, "/")[0] == 200
    finally:
        ops.close()


def test_a_port_in_use_is_one_line(service, tmp_path):
    with running(service) as ops:
        port = ops.http.httpd.server_address[1]
        other = scripted_service(feed(tmp_path / "feed2"), tmp_path / "other.sqlite3", {"x": ScriptedNetwork("x")},
                                 env={"BOT_HTTP": f"127.0.0.1:{port}"})
        with pytest.raises(ConfigError, match=rf"^BOT_HTTP 127.0.0.1:{port}: cannot listen: Address already in use$"):
            Ops(other, env={}).starting()


def test_without_prometheus_client_the_error_names_the_extra(service, monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"^BOT_HTTP needs prometheus-client: pip install 'anniversary-bot\[http\]'$"):
        Ops(service, env={}).starting()


def test_unknown_paths_are_404_and_head_works(service):
    with running(service) as ops:
        assert get(ops, "/nothing")[0] == 404
        import urllib.request

        request = urllib.request.Request(ops.http.url + "healthz", method="HEAD")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200 and answer.read() == b""
