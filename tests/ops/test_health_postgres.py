"""/healthz and /metrics of two services on one PostgreSQL ledger: the active one is
healthy with its timer and lanes, the standby is healthy without them (it answers and
can take over), and says so; a standby whose leadership thread died or whose ledger
does not answer is unhealthy. When the active one stops, the standby takes over."""

from __future__ import annotations

import json
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.support import get, health, running, scripted_service, wait_until
from tests.ops.test_health import feed
from tests.support.engine import ScriptedNetwork


@pytest.fixture
def pair(tmp_path, pg_url):
    root = feed(tmp_path / "feed")
    network = ScriptedNetwork("x")
    made = []
    for name in ("one", "two"):
        env = {"BOT_HTTP": "127.0.0.1:0", "BOT_FAILOVER": "2", "BOT_CACHE": str(tmp_path / "cache"),
               "BOT_STATE": str(tmp_path / name)}
        made.append(scripted_service(root, pg_url, {"x": network}, env=env))
    return made


def active_gauge(ops) -> float:
    _, _, body = get(ops, "/metrics")
    found = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return found["bot_active"].samples[0].value


def test_the_active_one_and_the_standby_are_both_healthy_and_say_which(pair):
    one, two = pair
    with running(one) as first:
        wait_until(lambda: one.active, 10, "the first service to take the lease")
        with running(two) as second:
            status, body = health(first)
            assert status == 200 and body["role"] == "active" and body["lanes"] == 2
            status, body = health(second)
            assert status == 200 and body["role"] == "standby" and "lanes" not in body
            assert (active_gauge(first), active_gauge(second)) == (1.0, 0.0)
            one.stop()  # a clean stop hands the lease over
            wait_until(lambda: two.active, 10, "the standby to take over")
            status, body = wait_until(lambda: (h := health(second))[0] == 200 and h, 10, "the new active one healthy")
            assert body["role"] == "active" and body["lanes"] == 2
            assert active_gauge(second) == 1.0


def test_a_standby_that_cannot_take_over_is_unhealthy(pair, pg_cluster):
    one, two = pair
    with running(one):
        wait_until(lambda: one.active, 10, "the first service to take the lease")
        with running(two) as second:
            assert health(second)[0] == 200
            alive = two._leader
            gone = threading.Thread(target=lambda: None)  # what a leadership thread that died leaves
            gone.start()
            gone.join()
            two._leader = gone
            status, body = health(second)
            assert status == 503 and body["reason"] == "the leadership thread has stopped: this process cannot take over"
            two._leader = alive
            assert health(second)[0] == 200


def test_a_standby_whose_ledger_does_not_answer_is_unhealthy(pair):
    one, two = pair
    with running(one):
        wait_until(lambda: one.active, 10, "the first service to take the lease")
        with running(two) as second:
            two.engine.ledger._closed = True
            status, _, raw = get(second, "/healthz")
            body = json.loads(raw)
            assert status == 503 and body["reason"].endswith("already closed")
            two.engine.ledger._closed = False
            assert health(second)[0] == 200
