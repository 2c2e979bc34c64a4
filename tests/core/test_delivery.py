"""The timer, catch-up, grace, retries and the ledger, in process with a manual clock."""

from __future__ import annotations

import sqlite3

import pytest

from bot.errors import ConfigError, RateLimited, RejectedError, TransientError
from tests.core.conftest import T0, at
from tests.support.engine import drive, make_engine
from tests.support.feeds import story


def states(ledger):
    with sqlite3.connect(ledger) as conn:
        return {e: (s, reason) for e, s, reason in conn.execute("SELECT entry_id, state, reason FROM deliveries")}


def feed_of(root, count=3, gap=5, accounts=("a",)):
    return story(root, {a: "x" for a in accounts}, [
        {"date": "1927-01-01", "time": f"10:{i * gap:02d}", "account": accounts[i % len(accounts)], "id": f"e{i}", "text": f"Entry {i}."}
        for i in range(count)])


def test_each_entry_goes_out_at_its_instant_in_order(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed"), ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("11:00"))
    posts = [c for c in x.calls if c.kind == "post"]
    assert [(c.post.entry_id, c.at) for c in posts] == [("e0", at("10:00")), ("e1", at("10:05")), ("e2", at("10:10"))]
    assert {e: s for e, (s, _) in states(ledger).items()} == {"e0": "posted", "e1": "posted", "e2": "posted"}
    assert all(c.post.scheduled == c.at for c in posts)


def test_a_start_within_the_grace_catches_up_and_later_ones_are_missed(tmp_path, clock, x):
    clock.now = at("10:11")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed"), ledger, clock, {"x": x}, env={"BOT_GRACE": "400"})
    engine.start()
    drive(engine, clock, at("11:00"))
    got = states(ledger)
    assert got["e0"][0] == "missed" and got["e0"][1] == "11 min late, over the grace of 6 min 40 s"
    assert got["e1"][0] == "posted" and got["e2"][0] == "posted"
    assert [c.post.entry_id for c in x.calls if c.kind == "post"] == ["e1", "e2"]


def test_transient_errors_are_retried_with_backoff_then_given_up(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=1), ledger, clock, {"x": x}, env={"BOT_RETRIES": "2", "BOT_BACKOFF": "3"})
    engine.start()
    x.fail("post", *[TransientError("HTTP 503")] * 5)
    drive(engine, clock, at("11:00"))
    calls = [c.at for c in x.calls if c.kind == "post"]
    assert calls == [at("10:00"), at("10:00", 3), at("10:00", 9)]
    assert states(ledger)["e0"] == ("failed", "gave up after 3 attempts: HTTP 503")


def test_a_rate_limit_waits_for_the_reset(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=1), ledger, clock, {"x": x})
    engine.start()
    x.fail("post", RateLimited("429", retry_after=42))
    drive(engine, clock, at("11:00"))
    assert [c.at for c in x.calls if c.kind == "post"] == [at("10:00"), at("10:00", 42)]
    assert states(ledger)["e0"][0] == "posted"


def test_backing_off_past_the_grace_is_missed(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=1), ledger, clock, {"x": x}, env={"BOT_GRACE": "30"})
    engine.start()
    x.fail("post", RateLimited("429", retry_after=600))
    drive(engine, clock, at("11:00"))
    assert states(ledger)["e0"] == ("missed", "backing off past the grace period: 429")


def test_a_refusal_fails_the_delivery_and_the_next_goes_on(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=2), ledger, clock, {"x": x})
    engine.start()
    x.fail("post", RejectedError("HTTP 401 code 32"))
    drive(engine, clock, at("11:00"))
    assert states(ledger) == {"e0": ("failed", "HTTP 401 code 32"), "e1": ("posted", None)}


def test_one_account_backing_off_never_holds_up_another(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=4, gap=1, accounts=("a", "b")), ledger, clock, {"x": x},
                         env={"BOT_RETRIES": "20"})
    engine.start()
    x.fail("post", RateLimited("429", retry_after=300))  # a's first post: rate limited for 5 minutes
    drive(engine, clock, at("11:00"))
    b_posts = [(c.post.entry_id, c.at) for c in x.calls if c.kind == "post" and c.account == "b"]
    assert b_posts == [("e1", at("10:01")), ("e3", at("10:03"))]


def test_an_entry_with_a_ledger_row_is_never_handed_out_again(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    feed = feed_of(tmp_path / "feed", count=2)
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("11:00"))
    engine.ledger.close()
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("12:00"))
    assert [c.post.entry_id for c in x.calls if c.kind == "post"] == ["e0", "e1"]


def test_missing_credentials_refuse_to_start_and_create_no_ledger(tmp_path, clock, x):
    ledger = tmp_path / "state" / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed"), ledger, clock, {"x": x}, env={"X_A_ACCESS_TOKEN": ""})
    with pytest.raises(ConfigError, match="account 'a' on x lacks X_A_ACCESS_TOKEN"):
        engine.start()
    assert not ledger.exists()


def test_an_edited_file_is_rescheduled_on_reload(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    feed = feed_of(tmp_path / "feed", count=2)
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:02"))
    text = (feed / "1927-01-01.yaml").read_text()
    (feed / "1927-01-01.yaml").write_text(text.replace("'10:05'", "'10:07'").replace("Entry 1.", "Entry one, edited."))
    engine.reload([feed / "1927-01-01.yaml"])
    drive(engine, clock, at("11:00"))
    assert [(c.post.text, c.at) for c in x.calls if c.kind == "post"] == [("Entry 0.", at("10:00")), ("Entry one, edited.", at("10:07"))]


def test_a_ledger_that_cannot_be_written_holds_the_post_until_it_can(tmp_path, clock, x):
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed_of(tmp_path / "feed", count=1), ledger, clock, {"x": x})
    engine.start()
    real_claim = engine.ledger.claim
    from bot.errors import LedgerError

    fails = iter([True, True])

    def claim(*args, **kwargs):
        if next(fails, False):
            raise LedgerError("ledger: disk I/O error")
        return real_claim(*args, **kwargs)

    engine.ledger.claim = claim
    drive(engine, clock, at("11:00"))
    assert [c.at for c in x.calls if c.kind == "post"] == [at("10:00", 10)]  # after two 5 s waits, nothing sent before
    assert states(ledger)["e0"][0] == "posted"
    assert T0 < at("10:00")
