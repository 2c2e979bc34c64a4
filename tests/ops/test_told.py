"""What the notifier tells on its own: the daily summary (its content from a real engine,
its timing through the notifier's thread) and an unhealthy service (a stopped timer)
and its recovery; Apprise is imported only when BOT_NOTIFY is set."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from bot.errors import RejectedError
from bot.ops.notify import Notifier, Targets
from bot.ops.summary import summary
from tests.core.conftest import at
from tests.ops.receiver import Receiver
from tests.ops.support import running, scripted_service
from tests.support.engine import ManualClock, ScriptedNetwork, drive, make_engine
from tests.support.feeds import story


def test_the_summary_tells_yesterday_today_and_the_problems(tmp_path):
    posts = [{"date": f"1927-01-0{d}", "time": f"1{h}:00", "account": "a", "id": f"d{d}h{h}", "text": "x"}
             for d in (1, 2) for h in range(4)]
    root = story(tmp_path / "feed", {"a": "x"}, posts)
    clock = ManualClock(at("09:00"))
    net = ScriptedNetwork("x")
    net.fail("post", None, RejectedError("403"))
    engine = make_engine(root, tmp_path / "ledger.sqlite3", clock, {"x": net})
    engine.start()
    drive(engine, clock, at("23:00"))
    message = summary(engine, datetime(2027, 1, 2, 8, 0, tzinfo=UTC), title="Story", health="ok")
    engine.close()
    assert message.title == "Story: daily summary" and message.severity == "warning"
    assert message.body.splitlines() == [
        "yesterday (2027-01-01): posted 3, missed 0, failed 1, uncertain 0",
        "today (2027-01-02): 4 due, first 10:00, last 13:00 (UTC)",
        "next due: 2027-01-02 10:00 (UTC)",
        "problems in the ledger: 0 uncertain (bot resolve), 1 failed, 0 missed",
        "health: ok",
    ]


def test_the_notifier_sends_the_summary_when_it_is_due():
    from bot.ops.digest import Message

    due_at = datetime.now(UTC) + timedelta(seconds=0.3)
    asked = []
    with Receiver() as rx:
        notifier = Notifier(Targets([rx.url], {}), summary=lambda due: asked.append(due) or Message("summary", "daily summary", "all quiet", "info"),
                            next_summary=lambda now: due_at if not asked else now + timedelta(days=1))
        notifier.start()
        try:
            rx.wait_for(lambda m: m["title"] == "daily summary", 5)
        finally:
            notifier.close()
    assert asked == [due_at] and rx.titles() == ["daily summary"]


def test_an_unhealthy_service_is_told_and_its_recovery_too(tmp_path, monkeypatch):
    import bot.ops.notify

    monkeypatch.setattr(bot.ops.notify, "HEALTH_EVERY", 0.2)
    root = story(tmp_path / "feed", {"a": "x"}, [{"date": "1927-06-01", "time": "10:00", "account": "a", "id": "e0", "text": "x"}])
    with Receiver() as rx:
        service = scripted_service(root, tmp_path / "ledger.sqlite3", {"x": ScriptedNetwork("x")},
                                   {"BOT_NOTIFY": rx.url, "BOT_NOTIFY_SUMMARY": "08:00"})
        with running(service) as ops:
            assert ops.notifier.next_summary(datetime(2027, 5, 1, 9, 0, tzinfo=UTC)) == datetime(2027, 5, 2, 8, 0, tzinfo=UTC)
            service.scheduler.pause()
            sick = rx.wait_for(lambda m: "service unhealthy" in m["title"], 5)
            service.scheduler.resume()
            rx.wait_for(lambda m: "service healthy again" in m["title"], 5)
    assert sick[0]["message"] == "the timer is not running" and sick[0]["type"] == "failure"
    assert [t.split(": ", 1)[1] for t in rx.titles() if ": service " in t] == [
        "service started", "service unhealthy", "service healthy again", "service stopped"]


def test_apprise_and_prometheus_client_are_imported_only_when_asked():
    code = ("import sys, logging; from bot.run.logs import setup; from bot.ops import Ops; from bot.run.service import Service;"
            "from bot.settings import Settings; s = Settings.resolve({}); o = Ops(Service(s), env={}); o.starting(); o.close();"
            "print(sorted(m for m in ('apprise', 'prometheus_client') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
