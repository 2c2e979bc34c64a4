"""Uncertain posts reconcile themselves where the network can tell."""

from __future__ import annotations

import logging
import sqlite3

from bot.errors import TransientError, UncertainError
from tests.core.conftest import at
from tests.support.engine import Killed, drive, kill, make_engine
from tests.support.feeds import story


def state(ledger, entry, account="a", network="x"):
    with sqlite3.connect(ledger) as conn:
        return conn.execute("SELECT state, remote_id, reason FROM deliveries WHERE entry_id = ? AND account = ? AND network = ?",
                            (entry, account, network)).fetchone()


def feed_of(root):
    return story(root, {"a": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "one", "text": "One."},
        {"date": "1927-01-01", "time": "10:05", "account": "a", "id": "two", "text": "Two."},
    ])


def test_killed_after_the_post_was_made_it_is_found_at_restart_and_never_posted_twice(tmp_path, clock, x):
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.fail("post", ("create", Killed()))  # the post is made, the process dies before its answer
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    try:
        drive(engine, clock, at("10:01"))
    except Killed:
        kill(engine)
    assert state(ledger, "one")[0] == "claimed"
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    assert state(ledger, "one")[0] == "uncertain"  # recovered, then looked up first thing
    drive(engine, clock, at("10:10"))
    (remote, _), = x.by_entry("one")
    assert state(ledger, "one")[:2] == ("posted", remote)
    assert [c.post.entry_id for c in x.calls if c.kind == "post"] == ["one", "two"]


def test_killed_before_the_post_was_made_it_is_sent_after_the_lookup(tmp_path, clock, x):
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.fail("post", Killed())
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    try:
        drive(engine, clock, at("10:01"))
    except Killed:
        kill(engine)
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:10"))
    assert len(x.by_entry("one")) == 1 and state(ledger, "one")[0] == "posted"


def test_absent_past_the_grace_is_missed_not_sent(tmp_path, clock, x):
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.fail("post", Killed())
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "60"})
    engine.start()
    try:
        drive(engine, clock, at("10:01"))
    except Killed:
        kill(engine)
    clock.now = at("10:30")
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "60"})
    engine.start()
    drive(engine, clock, at("10:31"))
    assert x.by_entry("one") == [] and state(ledger, "one")[0] == "missed"
    assert "not on the network" in state(ledger, "one")[2]


def test_a_timeout_while_running_is_looked_up_and_settled(tmp_path, clock, x, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.fail("post", ("create", UncertainError("no answer within 30 s")))
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:10"))
    assert len(x.by_entry("one")) == 1 and state(ledger, "one")[0] == "posted"
    assert "uncertain entry=one" in caplog.text and "reconciled entry=one account=a platform=x outcome=posted" in caplog.text


def test_lookups_during_an_outage_are_retried_until_the_network_answers(tmp_path, clock, x):
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.fail("post", ("create", UncertainError("no answer")))
    x.down("lookup", lambda: TransientError("connection refused"), until=at("10:03"))
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:10"))
    lookups = [c for c in x.calls if c.kind == "lookup"]
    assert len(lookups) > 3 and lookups[-1].at >= at("10:03")
    assert state(ledger, "one")[0] == "posted"


def test_a_network_that_cannot_tell_leaves_it_uncertain_for_bot_resolve(tmp_path, clock, x, caplog):
    feed, ledger = feed_of(tmp_path / "feed"), tmp_path / "ledger.sqlite3"
    x.can_look_up = False
    x.fail("post", ("create", UncertainError("no answer")))
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:10"))
    assert state(ledger, "one")[0] == "uncertain"
    assert len([c for c in x.calls if c.kind == "lookup"]) == 1  # a final "cannot tell": asked once
    assert "reconcile-unknown entry=one" in caplog.text and len(x.by_entry("one")) == 1
