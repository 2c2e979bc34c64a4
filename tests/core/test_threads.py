"""Replies wait for their parents (issue: a reply went out detached, before its parent)."""

from __future__ import annotations

import sqlite3

from bot.errors import RejectedError, TransientError, UncertainError
from tests.core.conftest import at
from tests.support.engine import drive, make_engine
from tests.support.feeds import story


def rows(ledger):
    with sqlite3.connect(ledger) as conn:
        return {(e, a, n): (s, r, reason) for e, a, n, s, r, reason in conn.execute(
            "SELECT entry_id, account, network, state, remote_id, reason FROM deliveries")}


def test_a_reply_due_at_its_parents_instant_on_another_account_is_threaded(tmp_path, clock, x, bluesky):
    """telegraph's same-root and mrc's same-reply share 10:00; mrc's lane is stepped first."""
    feed = story(tmp_path / "feed", {"mrc": ["x", "bluesky"], "telegraph": ["x", "bluesky"]}, [
        {"date": "1927-01-01", "time": "10:00", "account": "telegraph", "id": "same-root", "text": "The root."},
        {"date": "1927-01-01", "time": "10:00", "account": "mrc", "id": "same-reply", "reply_to": "same-root", "text": "The reply."},
    ])
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    assert sorted(engine.lanes)[0][0] == "mrc"  # the reply's lane goes first in every round
    drive(engine, clock, at("10:05"))
    for net in (x, bluesky):
        (root_id, _), = net.by_entry("same-root")
        (_, reply), = net.by_entry("same-reply")
        assert reply.reply_to_remote == root_id and reply.thread_root_remote == root_id
        order = [c.post.entry_id for c in net.calls if c.kind == "post"]
        assert order == ["same-root", "same-reply"]
    assert {k: v[0] for k, v in rows(ledger).items()} == {
        ("same-root", "telegraph", n): "posted" for n in ("x", "bluesky")} | {
        ("same-reply", "mrc", n): "posted" for n in ("x", "bluesky")}


def test_a_reply_waits_while_its_parent_is_retried(tmp_path, clock, x):
    """The parent's lane is held up by retries (server down 38 s): the reply waits for it,
    then goes out threaded, 3 s after the parent, never detached."""
    feed = story(tmp_path / "feed", {"mrc": "x", "telegraph": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "telegraph", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:00", "account": "mrc", "id": "reply", "reply_to": "root", "text": "Reply."},
        {"date": "1927-01-01", "time": "10:00", "account": "mrc", "id": "other", "text": "After the reply."},
    ])
    x.down("post", lambda: TransientError("HTTP 503"), until=at("10:00", 38))
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_RETRIES": "10", "BOT_BACKOFF": "2"})
    engine.start()
    drive(engine, clock, at("10:05"))
    posts = [c for c in x.calls if c.kind == "post"]
    assert [c.post.entry_id for c in posts if c.post.entry_id != "root"] == ["reply", "other"]
    root_calls = [c for c in posts if c.post.entry_id == "root"]
    assert len(root_calls) > 3 and root_calls[-1].at >= at("10:00", 38)  # retried through the outage
    (root_id, _), = x.by_entry("root")
    (_, reply), = x.by_entry("reply")
    assert reply.reply_to_remote == root_id
    assert posts[-2].post.entry_id == "reply" and posts[-2].at >= root_calls[-1].at


def test_a_failed_parent_lets_the_reply_go_alone_saying_why(tmp_path, clock, x, caplog):
    feed = story(tmp_path / "feed", {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:01", "account": "b", "id": "reply", "reply_to": "root", "text": "Reply."},
    ])
    x.fail("post", RejectedError("HTTP 403 code 187"))
    engine = make_engine(feed, tmp_path / "ledger.sqlite3", clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:05"))
    (_, reply), = x.by_entry("reply")
    assert reply.reply_to_remote is None
    assert "reply-standalone entry=reply" in caplog.text and "parent root was failed on x (HTTP 403 code 187)" in caplog.text


def test_a_reply_to_an_uncertain_parent_waits_for_the_lookup_and_is_threaded(tmp_path, clock, x):
    """The parent's answer is lost (it exists on the network): the lookup finds it, the reply threads."""
    feed = story(tmp_path / "feed", {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:00", "account": "b", "id": "reply", "reply_to": "root", "text": "Reply."},
    ])
    x.fail("post", ("create", UncertainError("no answer within 30 s")))
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:05"))
    assert len(x.by_entry("root")) == 1  # never posted twice
    (root_id, _), = x.by_entry("root")
    (_, reply), = x.by_entry("reply")
    assert reply.reply_to_remote == root_id
    state, remote, reason = rows(ledger)[("root", "a", "x")]
    assert (state, remote) == ("posted", root_id) and reason.startswith("reconciled: found on the network")


def test_a_reply_to_a_parent_nobody_can_look_up_waits_for_bot_resolve_until_its_grace_ends(tmp_path, clock, x, caplog):
    feed = story(tmp_path / "feed", {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:00", "account": "b", "id": "reply", "reply_to": "root", "text": "Reply."},
    ])
    x.can_look_up = False
    x.fail("post", ("create", UncertainError("no answer within 30 s")))
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "120"})
    engine.start()
    drive(engine, clock, at("10:01"))
    assert x.by_entry("reply") == []  # still waiting (for bot resolve)
    drive(engine, clock, at("10:05"))
    (_, reply), = x.by_entry("reply")
    assert reply.reply_to_remote is None
    reply_call = next(c for c in x.calls if c.kind == "post" and c.post.entry_id == "reply")
    assert reply_call.at == at("10:02")  # at the end of its own grace, not before
    assert "parent root is still uncertain on x at the end of the reply's grace" in caplog.text
    assert rows(ledger)[("root", "a", "x")][0] == "uncertain"


def test_bot_resolve_during_the_wait_threads_the_reply(tmp_path, clock, x):
    from bot.run.ledger import Ledger

    feed = story(tmp_path / "feed", {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:00", "account": "b", "id": "reply", "reply_to": "root", "text": "Reply."},
    ])
    x.can_look_up = False
    x.fail("post", ("create", UncertainError("no answer within 30 s")))
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "600"})
    engine.start()
    drive(engine, clock, at("10:01"))
    (root_id, _), = x.by_entry("root")
    with Ledger.open(ledger, lock=False) as other:  # what `bot resolve` does, from another process
        other.resolve("root", posted=True, remote_id=root_id, now=clock())
    drive(engine, clock, at("10:02"))
    (_, reply), = x.by_entry("reply")
    assert reply.reply_to_remote == root_id
    assert next(c.at for c in x.calls if c.kind == "post" and c.post.entry_id == "reply") <= at("10:01", 10)


def test_other_lanes_stay_on_time_while_a_reply_waits(tmp_path, clock, x):
    feed = story(tmp_path / "feed", {"a": "x", "b": "x", "c": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "root", "text": "Root."},
        {"date": "1927-01-01", "time": "10:00", "account": "b", "id": "reply", "reply_to": "root", "text": "Reply."},
        {"date": "1927-01-01", "time": "10:01", "account": "c", "id": "elsewhere", "text": "On time."},
    ])
    x.down("post", lambda: TransientError("HTTP 503"), until=at("10:00", 5))
    x.fail("post", None)
    engine = make_engine(feed, tmp_path / "ledger.sqlite3", clock, {"x": x}, env={"BOT_RETRIES": "10"})
    engine.start()
    drive(engine, clock, at("10:05"))
    elsewhere = next(c for c in x.calls if c.kind == "post" and c.post.entry_id == "elsewhere")
    assert elsewhere.at == at("10:01")
