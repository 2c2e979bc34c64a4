"""/metrics and the status page in process, after a rehearsal on a scripted network with
every outcome: the counters parse with prometheus_client's own parser and match what
`bot status` says; the page shows the same, with no secret."""

from __future__ import annotations

import json
import re

import pytest

from bot.errors import RejectedError, TransientError, UncertainError
from tests.ops.support import get, rehearsal, running, scripted_service, wait_until
from tests.support.engine import ScriptedNetwork
from tests.support.env import APP_SECRETS, account_secrets
from tests.support.feeds import story

SECRET = account_secrets("a")["X_A_ACCESS_TOKEN"]


def families(text: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}


def total(family, **labels) -> float:
    return sum(s.value for s in family.samples
               if s.name.endswith("_total") and all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(scope="module")
def after_a_run(tmp_path_factory):
    """Seven entries of account a, half a second apart in the rehearsal: posted, failed (403),
    posted, missed (backing off past the grace), uncertain (left for bot resolve), posted, posted."""
    tmp = tmp_path_factory.mktemp("run")
    feed = story(tmp / "feed", {"a": "x"}, [
        {"date": "1927-01-01", "time": f"10:0{i}", "account": "a", "id": f"e{i}", "text": f"Entry {i}."} for i in range(7)])
    net = ScriptedNetwork("x", can_look_up=False)
    net.fail("post", None, RejectedError(f"403 Forbidden for {SECRET}"), None, TransientError("503"),
             UncertainError("no answer within 30 s"))
    env = {"BOT_HTTP": "127.0.0.1:0", "BOT_GRACE": "1", "BOT_BACKOFF": "1.5", "BOT_RETRIES": "2",
           **APP_SECRETS, **account_secrets("a")}
    service = scripted_service(feed, tmp / "ledger.sqlite3", {"x": net}, env, rehearsal(0.5, speed=120))
    with running(service) as ops:
        wait_until(service.finished, 20, "the rehearsal to settle")
        metrics = get(ops, "/metrics")
        page = get(ops, "/")
        openmetrics = get(ops, "/metrics", accept="application/openmetrics-text; version=1.0.0")
    assert openmetrics[1]["Content-Type"].startswith("application/openmetrics-text")
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    assert "bot_deliveries" in {f.name for f in text_string_to_metric_families(openmetrics[2].decode())}
    from tests.support.proc import invoke_bot

    status_json = invoke_bot("status", "--posts", feed, "--ledger", tmp / "ledger.sqlite3", "--format", "json", cwd=tmp)
    assert status_json.code == 0, status_json.stderr
    return metrics, page, json.loads(status_json.stdout), feed


def test_metrics_parse_and_match_bot_status(after_a_run):
    (code, headers, body), _, status, _ = after_a_run
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(body.decode())
    deliveries = found["bot_deliveries"]
    for state in ("posted", "failed", "missed", "uncertain"):
        assert total(deliveries, state=state) == status[state], state
    assert (status["posted"], status["failed"], status["missed"], status["uncertain"]) == (4, 1, 1, 1)
    ledger = {s.labels["state"]: s.value for s in found["bot_ledger_deliveries"].samples}
    assert all(ledger[state] == status[state] for state in ("posted", "failed", "missed", "uncertain"))
    lateness = {s.name: s.value for s in found["bot_publish_lateness_seconds"].samples if not s.labels.get("le")}
    assert lateness["bot_publish_lateness_seconds_count"] == 4
    assert total(found["bot_retries"], kind="post") == 1
    assert total(found["bot_persona_switches"], outcome="switched") == 1
    assert total(found["bot_reconciled"], outcome="unknown") == 1
    assert "bot_next_due_seconds" not in found  # nothing left to post
    assert found["bot_pending_deliveries"].samples[0].value == 0
    assert found["bot_healthy"].samples[0].value == 1
    assert "process_resident_memory_bytes" in {s.name for f in found.values() for s in f.samples}


def test_metrics_carry_no_secret(after_a_run):
    (_, _, body), _, _, _ = after_a_run
    for value in (*APP_SECRETS.values(), *account_secrets("a").values()):
        assert value not in body.decode()


def test_the_status_page_says_what_bot_status_says(after_a_run):
    _, (code, headers, body), status, feed = after_a_run
    html = body.decode()
    assert code == 200 and headers["Refresh"] == "30" and headers["Content-Type"] == "text/html; charset=utf-8"
    counts = re.findall(r'<span class="n">(\d+)</span><span class="label">([a-z ]+)</span>', html)
    assert {label: int(n) for n, label in counts} == {
        "posted": status["posted"], "missed": status["missed"], "failed": status["failed"],
        "uncertain": status["uncertain"], "pending": status["pending"], "in flight": status["claimed"]}
    assert "Story" in html and "healthy" in html
    assert f"failed: e1 (a on x) at {feed}/1927-01-01.yaml:7: 403 Forbidden for ***" in html
    assert "uncertain: e4 (a on x) at " in html
    for value in (*APP_SECRETS.values(), *account_secrets("a").values()):
        assert value not in html
