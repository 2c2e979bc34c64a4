"""Notifications through Apprise to a JSON receiver on 127.0.0.1 (json://): each kind
once, bursts as one message, nothing waits on a dead target, no secret in a message,
`bot notify --test`."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager

import pytest

from bot.errors import ConfigError
from bot.ops.notify import Notifier, Targets, mask_urls, masked, send_test
from bot.run.logs import LOGGER, event
from tests.core.conftest import at
from tests.ops.receiver import Receiver, dead_url
from tests.ops.test_digest import EXAMPLES
from tests.support.engine import ManualClock, ScriptedNetwork, make_engine
from tests.support.env import APP_SECRETS, account_secrets
from tests.support.feeds import story

SECRETS = {**APP_SECRETS, **account_secrets("paper")}


@contextmanager
def notifying(urls, env=None, **options):
    """A Notifier on the `bot` logger, as `bot run` has it (its secrets masked), quick bursts."""
    notifier = Notifier(Targets(urls, env or {}), title="Test feed", quiet=0.2, longest=2.0, **options)
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(notifier)
    notifier.start()
    try:
        yield notifier
    finally:
        notifier.close()
        logger.removeHandler(notifier)
        logger.setLevel(level)


def test_each_event_kind_gives_its_message_once(caplog):
    with Receiver() as rx, notifying([rx.url]):
        for name, (data, _, _) in EXAMPLES.items():
            if name not in ("unhealthy", "healthy"):  # the notifier's own health watch says those (test_ops_health)
                event(logging.WARNING, name, **data)
        event(logging.INFO, "posted", entry="e9", account="paper", platform="x")  # nothing to tell
        event(logging.INFO, "retry", entry="e9", account="paper", platform="x")
        rx.wait_for(lambda m: "service stopped" in m["title"], 10)
        time.sleep(0.3)
    kinds = {name: title for name, (_, title, _) in EXAMPLES.items() if name not in ("unhealthy", "healthy")}
    titles = rx.titles()
    assert len(titles) == len(kinds), titles
    for name, title in kinds.items():
        assert sum(title in t for t in titles) == 1, (name, titles)
    failed = next(m for m in rx.messages if "post failed" in m["title"])
    assert failed["type"] == "failure" and "e1 (paper on x) at posts/1917-11-06.yaml:12" in failed["message"]


def test_a_burst_of_200_missed_entries_is_one_message(tmp_path):
    """The engine starts long after 200 entries: it records them missed in one tick."""
    posts = [{"date": "1927-01-01", "time": f"{10 + i // 60:02d}:{i % 60:02d}", "account": ("a", "b")[i % 2],
              "id": f"e{i:04d}", "text": f"Entry {i}."} for i in range(200)]
    feed = story(tmp_path / "feed", {"a": "x", "b": "x"}, posts)
    clock = ManualClock(at("23:00"))
    engine = make_engine(feed, tmp_path / "ledger.sqlite3", clock, {"x": ScriptedNetwork("x")})
    with Receiver() as rx, notifying([rx.url]):
        engine.start()
        engine.tick(clock())
        rx.wait_for(lambda m: "missed" in m["title"], 10)
        time.sleep(0.5)
    engine.close()
    missed = [m for m in rx.messages if "missed" in m["title"]]
    assert len(missed) == 1
    assert missed[0]["title"] == "Test feed: 200 entries missed"
    first = missed[0]["message"].splitlines()[0]
    assert first.startswith("200 entries missed, first e0000 (") and ", last e0199 (" in first
    assert "1927-01-01.yaml:" in first


def test_a_dead_target_never_holds_up_the_logging_thread_and_is_logged_once_per_burst(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    url = dead_url()
    with notifying([url]) as notifier:
        started = time.perf_counter()
        for i in range(300):
            event(logging.ERROR, "failed", entry=f"e{i}", account="paper", platform="x", reason="HTTP 403")
        spent = time.perf_counter() - started
        time.sleep(1.5)  # the burst ends (0.2 s quiet) and its send fails
        event(logging.ERROR, "failed", entry="late", account="paper", platform="x", reason="HTTP 403")
    assert spent < 0.5, f"300 actions took {spent:.3f} s to log"
    failures = [r for r in caplog.records if getattr(r, "event", None) == "notify-failed"]
    assert len(failures) == 2  # one per burst, not one per action or message
    assert failures[0].data["reason"].startswith("json://***: ")
    assert url.split("//")[1] not in caplog.text.replace("127.0.0.1", "")  # the port... and no part of the URL
    assert notifier.failed == 2 and notifier.sent == 0


def test_a_full_queue_drops_and_says_how_many(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    with Receiver() as rx:
        rx.hang = True  # the first send blocks the notifier's thread
        with notifying([rx.url], queue_size=5) as notifier:
            event(logging.ERROR, "failed", entry="first", account="paper", platform="x")
            assert rx.hung.wait(5)
            for i in range(50):
                event(logging.ERROR, "failed", entry=f"e{i}", account="paper", platform="x")
            assert notifier.dropped >= 45
            rx.hang = False
            rx.release.set()
    dropped = [r for r in caplog.records if getattr(r, "event", None) == "notify-dropped"]
    assert len(dropped) == 1 and dropped[0].data["count"] >= 45


def test_messages_and_log_lines_carry_no_secret(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    from bot.run.logs import Redact, secrets_in

    token = "hooktoken-ZZ-LEAKCHECK-N"
    with Receiver() as rx:
        url = f"json://user:{token}@127.0.0.1:{rx.port}/hook/{token}"
        with notifying([url, dead_url() + token], env=SECRETS) as notifier:
            notifier.addFilter(Redact(secrets_in(SECRETS)))
            event(logging.ERROR, "failed", entry="e1", account="paper", platform="x",
                  reason=f"401 for token {SECRETS['X_PAPER_ACCESS_TOKEN']} and key {APP_SECRETS['X_API_KEY']}")
            rx.wait_for(lambda m: "post failed" in m["title"], 10)
            time.sleep(0.5)
    text = repr([{k: v for k, v in m.items() if k != "_path"} for m in rx.messages]) + caplog.text
    for name, value in {**SECRETS, "URL token": token}.items():
        assert value not in text, name
    assert "401 for token *** and key ***" in rx.messages[0]["message"]


def test_masking_keeps_the_scheme_only():
    assert masked("mailto://user:pass@example.org") == "mailto://***"
    text = "Failed to send to hooks.example.org/abc/SECRETPART: 404"
    assert mask_urls(text, ["json://hooks.example.org/abc/SECRETPART"]) == "Failed to send to hooks.example.org/abc/***: 404"


def test_a_url_apprise_does_not_know_is_one_line_naming_its_scheme_only():
    with pytest.raises(ConfigError, match=r"^BOT_NOTIFY: Apprise does not know the URL nosuchscheme://\*\*\*$"):
        Targets(["nosuchscheme://token-ZZ"], {})


def test_without_apprise_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "apprise", None)
    with pytest.raises(ConfigError, match=r"pip install 'anniversary-bot\[notify\]'"):
        send_test(["json://127.0.0.1:1/"], {})


def test_bot_notify_test_says_whether_it_arrived(tmp_path, run_bot):
    token = "testtoken-ZZ-LEAKCHECK-Q"
    with Receiver() as rx:
        good = f"json://user:{token}@127.0.0.1:{rx.port}/"
        out = run_bot("notify", "--test", cwd=tmp_path, env={"BOT_NOTIFY": good})
        assert out.code == 0, out.stderr
        assert out.stdout.strip() == "json://***: arrived"
        assert len(rx.messages) == 1 and "test notification" in rx.messages[0]["title"]
        out = run_bot("notify", "--test", cwd=tmp_path, env={"BOT_NOTIFY": f"{good} {dead_url()}"})
    assert out.code == 1
    lines = out.stdout.splitlines()
    assert lines[0] == "json://***: arrived" and lines[1].startswith("json://***: not delivered")
    assert token not in out.stdout + out.stderr
    out = run_bot("notify", "--test", cwd=tmp_path)
    assert out.code == 1 and "BOT_NOTIFY is not set" in out.stderr
    out = run_bot("notify", "--test", cwd=tmp_path, env={"BOT_NOTIFY": "not a url"})
    assert out.code == 2 and "BOT_NOTIFY must be Apprise URLs" in out.stderr
