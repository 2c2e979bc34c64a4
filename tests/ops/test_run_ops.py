"""The wiring, in a real `bot run`: a rehearsal against the fake X server with BOT_HTTP,
BOT_NOTIFY (a JSON receiver on 127.0.0.1) and BOT_LOG_FORMAT=json, fake credentials
in the environment. Problems arrive as messages naming file and line; /healthz,
/metrics and the status page answer; the counters match `bot status`; every log
line is JSON; no secret anywhere."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from tests.ops.receiver import Receiver, free_port
from tests.ops.support import get, wait_until
from tests.reliability.leaks import find_leaks
from tests.support.env import APP_SECRETS, account_secrets, x_env
from tests.support.feeds import story
from tests.support.proc import BotProcess, run_bot, tracebacks


def feed(root):
    """12 entries a minute apart (a quarter second at x240), alternating alpha and beta, beta
    storming at the fourth; then one a day later, so the run is still going when asked."""
    start = datetime(1917, 11, 6, 8, 0)
    posts = []
    for i in range(12):
        moment = start + timedelta(minutes=i)
        posts.append({"date": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M}", "account": ("alpha", "beta")[i % 2],
                      "id": f"e{i:04d}", "text": f"entry number {i:04d}", **({"storm": "stormed"} if i == 3 else {})})
    posts.append({"date": "1917-11-07", "time": "08:00", "account": "alpha", "id": "later", "text": "The next day."})
    return story(root, {"alpha": "x", "beta": "x"}, posts, personas={"stormed": "Stormed Times"})


def test_a_rehearsal_with_every_operations_setting(tmp_path, x_server):
    root = feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    port = free_port()
    secrets = {**APP_SECRETS, **account_secrets("alpha"), **account_secrets("beta")}
    with Receiver() as rx:
        env = x_env(x_server.base_url, ("alpha", "beta"), BOT_HTTP=f"127.0.0.1:{port}", BOT_NOTIFY=rx.url,
                    BOT_LOG_FORMAT="json", BOT_RETRIES="2", BOT_BACKOFF="0.1")
        x_server.fail("401", path="/2/tweets")  # the first post is refused for good: failed
        bot = BotProcess(["run", "--posts", str(root), "--start-at", "+2s", "--speed", "240", "--ledger", str(ledger)],
                         env, tmp_path, "run")
        base = f"http://127.0.0.1:{port}"
        try:
            bot.wait_for(lambda: rx.wait_for(lambda m: "service started" in m["title"], 15), 20, "started message")
            failed = rx.wait_for(lambda m: "post failed" in m["title"], 15)
            bot.wait_for(lambda: len([r for r in x_server.tweets() if r.status == 201]) >= 11, 20, "eleven posts")
            wait_until(lambda: get(base, "/healthz")[0] == 200, 5, "healthy")
            health = json.loads(get(base, "/healthz")[2])
            metrics = get(base, "/metrics")[2].decode()
            page = get(base, "/")[2].decode()
            status = json.loads(run_bot("status", "--posts", root, "--ledger", ledger, "--format", "json",
                                        cwd=tmp_path, env=env).stdout)
        finally:
            code = bot.terminate()
        stopped = rx.wait_for(lambda m: "service stopped" in m["title"], 5)
    assert code == 0
    # the failure, told once, with the entry's file and line
    assert len(failed) == 1 and failed[0]["type"] == "failure"
    assert failed[0]["title"] == "Story: post failed: e0000"
    assert f"e0000 (alpha on x) at {root}/1917-11-06.yaml:3" in failed[0]["message"]
    assert len(stopped) == 1
    # health and metrics
    assert health["status"] == "ok" and health["next_due"]
    from prometheus_client.parser import text_string_to_metric_families

    found = {f.name: f for f in text_string_to_metric_families(metrics)}
    by_state = {}
    for sample in found["bot_deliveries"].samples:
        by_state[sample.labels["state"]] = by_state.get(sample.labels["state"], 0) + sample.value
    assert (by_state.get("posted"), by_state.get("failed")) == (status["posted"], status["failed"]) == (11, 1)
    assert found["bot_next_due_seconds"].samples[0].value > 60  # the entry of the next day
    assert "<h1>Story</h1>" in page
    # the log: one JSON object per line, no traceback, no secret anywhere
    lines = bot.lines()
    parsed = [json.loads(line) for line in lines]
    assert [p["event"] for p in parsed if p["event"] in ("started", "stopped")] == ["started", "stopped"]
    posted = [p for p in parsed if p["event"] == "posted"]
    assert len(posted) == 11 and all(isinstance(p["late_ms"], int) and isinstance(p["line"], int) for p in posted)
    assert all(set(p) >= {"time", "level", "event"} for p in parsed)
    everything = "\n".join(lines) + bot.stdout() + metrics + page + json.dumps(rx.messages)
    assert find_leaks(everything, secrets) == []
    assert tracebacks(bot.stderr()) == 0


def test_json_logs_of_a_whole_rehearsal_parse_and_carry_no_secret(tmp_path, x_server):
    """A rehearsal that ends by itself, with a retry, a refusal, a storm and a feed edit
    with an error (reload diagnostics are lines too): every stderr line is one JSON object."""
    from tests.support.feeds import alternating

    root = alternating(tmp_path / "feed", 8, gap_minutes=1, storm_at=3)
    secrets = {**APP_SECRETS, **account_secrets("alpha"), **account_secrets("beta")}
    env = x_env(x_server.base_url, ("alpha", "beta"), BOT_LOG_FORMAT="json", BOT_RETRIES="2", BOT_BACKOFF="0.05")
    x_server.fail("503", path="/2/tweets")
    x_server.fail("401", path="/2/tweets")
    bot = BotProcess(["run", "--posts", str(root), "--start-at", "+1.5s", "--speed", "240", "--ledger",
                      str(tmp_path / "ledger.sqlite3")], env, tmp_path, "run")
    try:
        bot.wait_for(lambda: '"event": "posted"' in bot.stderr(), 15, "a first post")
        (root / "1917-11-07.yaml").write_text("date: 1917-11-07\nposts:\n  - time: 25:00\n    account: alpha\n    text: x\n")
        bot.wait_for(lambda: not bot.alive(), 30, "the rehearsal to end by itself")
    finally:
        bot.terminate()
    assert bot.code == 0
    lines = bot.lines()
    parsed = [json.loads(line) for line in lines]  # every line
    events = [p["event"] for p in parsed]
    assert {"started", "retry", "failed", "posted", "switched", "reloaded", "stopped", "log"} <= set(events), events
    diagnostic = next(p for p in parsed if p["event"] == "log")
    assert diagnostic["level"] == "error" and "1917-11-07.yaml:3: error: impossible time" in diagnostic["message"]
    assert find_leaks("\n".join(lines) + bot.stdout(), secrets) == []
    assert tracebacks(bot.stderr()) == 0
