"""Personas converge (issue: a storm that met an outage never happened)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from bot.errors import ProfileRefused, TransientError
from bot.publishers.base import Profile
from tests.core.conftest import at
from tests.support.engine import Killed, drive, kill, make_engine
from tests.support.feeds import story

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes"


def storm_feed(root):
    return story(root, {"telegraph": ["x", "bluesky"]}, [
        {"date": "1927-01-01", "time": "10:00", "account": "telegraph", "text": "Before the storm."},
        {"date": "1927-01-01", "time": "10:01", "account": "telegraph", "id": "stormed", "storm": "revolutionary",
         "text": "This office is in the hands of the Committee."},
        {"date": "1927-01-01", "time": "10:02", "account": "telegraph", "text": "After the storm."},
    ], personas={"revolutionary": "Revolutionary Times"},
        images={"media/telegraph-p.png": PNG, "media/revolutionary.png": PNG + b"red"})


def switches(ledger):
    with sqlite3.connect(ledger) as conn:
        return conn.execute("SELECT network, persona, state, permanent, reason FROM switches ORDER BY id").fetchall()


def played_then_killed(tmp_path, clock, x, bluesky):
    """The storm feed played to 10:10 on x and bluesky, then the process killed: (feed, ledger)."""
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:10"))
    kill(engine)
    return feed, ledger


def posted_as(net):
    return [(c.post.persona.name, c.post.entry_id) for c in net.calls if c.kind == "post"]


def test_an_outage_across_the_storm_ends_with_the_new_persona_and_the_storm_post_under_it(tmp_path, clock, x, bluesky):
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky}, env={"BOT_BACKOFF": "1"})
    engine.start()
    drive(engine, clock, at("10:00", 30))
    for kind in ("switch", "post"):  # the server is down from 10:00:47 to 10:01:25 (38 s)
        bluesky.down(kind, lambda: TransientError("bluesky: connection failed (ConnectError)"), until=at("10:01", 25))
    drive(engine, clock, at("10:10"))
    assert bluesky.profiles["telegraph"].name == "Revolutionary Times"
    assert [name for name, _ in posted_as(bluesky)] == ["Telegraph Paper", "Revolutionary Times", "Revolutionary Times"]
    storm_call = next(c for c in bluesky.calls if c.kind == "post" and c.post.entry_id == "stormed")
    last_switch = [c for c in bluesky.calls if c.kind == "switch"][-1]
    assert last_switch.at >= at("10:01", 25) and storm_call.at >= last_switch.at  # after the switch, never before
    assert [s[1:3] for s in switches(ledger) if s[0] == "bluesky"] == [("telegraph-p", "posted"), ("revolutionary", "posted")]
    assert [name for name, _ in posted_as(x)] == ["Telegraph Paper", "Revolutionary Times", "Revolutionary Times"]


def test_a_storm_switch_retried_past_a_restart_converges_at_the_next_start(tmp_path, clock, x, bluesky):
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    bluesky.down("switch", lambda: TransientError("HTTP 503"), until=at("11:00"))
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:01", 30))
    assert "telegraph" not in bluesky.profiles or bluesky.profiles["telegraph"].name != "Revolutionary Times"
    kill(engine)  # stopped (kill -9) while the switch was being retried
    clock.now = at("11:05")
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("11:10"))
    assert bluesky.profiles["telegraph"].name == "Revolutionary Times"
    assert switches(ledger)[-1][:3] == ("bluesky", "revolutionary", "posted")


def test_a_refused_switch_is_final_loud_once_and_posting_goes_on(tmp_path, clock, x, bluesky, caplog):
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:00", 30))
    x.fail("switch", ProfileRefused("X profile update failed: HTTP 403 code 453"))
    drive(engine, clock, at("10:10"))
    assert [c.post.entry_id for c in x.calls if c.kind == "post"][-1] != "stormed"  # the post after it went out too
    assert len([c for c in x.calls if c.kind == "switch"]) == 2  # the start-up one and the refused one, never again
    assert ("x", "revolutionary", "failed", 1) in [s[:4] for s in switches(ledger)]
    assert caplog.text.count("switch-failed") == 1
    kill(engine)
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:20"))
    assert len([c for c in x.calls if c.kind == "switch"]) == 2  # not tried again at the next start


def test_profile_drift_is_repaired_at_start_and_an_unchanged_avatar_is_not_uploaded_again(tmp_path, clock, x, bluesky):
    feed, ledger = played_then_killed(tmp_path, clock, x, bluesky)
    switched = len([c for c in bluesky.calls if c.kind == "switch"])
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:11"))
    assert len([c for c in bluesky.calls if c.kind == "switch"]) == switched  # nothing drifted: no upload
    kill(engine)
    bluesky.profiles["telegraph"] = Profile("Someone Else", bluesky.profiles["telegraph"].bio, bluesky.profiles["telegraph"].avatar)
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:12"))
    assert bluesky.profiles["telegraph"].name == "Revolutionary Times"
    kill(engine)
    good = bluesky.profiles["telegraph"]
    bluesky.profiles["telegraph"] = Profile(good.name, good.bio, "ref-somebody-elses-avatar")
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:13"))
    assert bluesky.profiles["telegraph"].avatar != "ref-somebody-elses-avatar"


def test_a_changed_avatar_file_is_uploaded_at_the_next_start(tmp_path, clock, x, bluesky):
    feed, ledger = played_then_killed(tmp_path, clock, x, bluesky)
    (feed / "media" / "revolutionary.png").write_bytes(PNG + b"a new masthead")
    before = len([c for c in x.calls if c.kind == "switch"])
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:11"))
    assert len([c for c in x.calls if c.kind == "switch"]) == before + 1


def test_a_kill_between_the_switch_and_the_storm_post_does_not_switch_again(tmp_path, clock, x, bluesky):
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:00", 59))
    x.fail("post", Killed())
    try:
        drive(engine, clock, at("10:01", 30))
    except Killed:
        pass
    kill(engine)
    switched = [c.persona.key for c in x.calls if c.kind == "switch"]
    assert switched[-1] == "revolutionary"
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, at("10:10"))
    assert [c.persona.key for c in x.calls if c.kind == "switch"] == switched
    assert len(x.by_entry("stormed")) == 1


def two_storms(root):
    return story(root, {"a": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "red-storm", "storm": "red", "text": "Red."},
        {"date": "1927-01-01", "time": "10:10", "account": "a", "id": "blue-storm", "storm": "blue", "text": "Blue."},
    ], personas={"red": "Red Paper", "blue": "Blue Paper"})


def test_a_storm_missed_at_start_does_not_undo_a_later_storm_of_the_same_tick(tmp_path, clock, x):
    """At a start, the missed storm's switch goes before the later storm's delivery, in order."""
    clock.now = at("10:14")
    engine = make_engine(two_storms(tmp_path / "feed"), tmp_path / "ledger.sqlite3", clock, {"x": x}, env={"BOT_GRACE": "300"})
    engine.start()
    drive(engine, clock, at("10:30"))
    assert [c.persona.key for c in x.calls if c.kind == "switch"][-1] == "blue"
    assert x.profiles["a"].name == "Blue Paper"
    assert [c.post.persona.key for c in x.calls if c.kind == "post"] == ["blue"]


def test_a_storm_that_falls_late_in_its_lane_still_switches_the_persona(tmp_path, clock, x):
    """A slow network makes the storm too late to post; its persona still changes, then the next post wears it."""
    feed = story(tmp_path / "feed", {"a": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "slow", "text": "A slow call."},
        {"date": "1927-01-01", "time": "10:01", "account": "a", "id": "storm", "storm": "red", "text": "Stormed."},
        {"date": "1927-01-01", "time": "10:30", "account": "a", "id": "after", "text": "After."},
    ], personas={"red": "Red Paper"})
    engine = make_engine(feed, tmp_path / "ledger.sqlite3", clock, {"x": x}, env={"BOT_GRACE": "120"})
    engine.start()
    drive(engine, clock, at("10:00", 1))
    x.duration = 600  # the next call takes ten minutes
    drive(engine, clock, at("11:00"))
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("SELECT state FROM deliveries WHERE entry_id = 'storm'").fetchone() == ("missed",)
    assert x.profiles["a"].name == "Red Paper"
    assert [(c.post.entry_id, c.post.persona.key) for c in x.calls if c.kind == "post"][-1] == ("after", "red")


def test_a_switch_killed_mid_call_is_made_again_at_the_next_start(tmp_path, clock, x):
    feed = two_storms(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("09:59", 30))
    x.fail("switch", Killed())
    try:
        drive(engine, clock, at("10:01"))
    except Killed:
        kill(engine)
    assert switches(ledger)[-1][1:3] == ("red", "claimed")
    engine = make_engine(feed, ledger, clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:05"))
    assert switches(ledger)[-2][1:3] == ("red", "uncertain") and switches(ledger)[-1][1:3] == ("red", "posted")
    assert x.profiles["a"].name == "Red Paper"


def test_a_storm_due_before_the_start_up_check_is_not_undone_by_it(tmp_path, clock, x):
    """At a start, the lane has the check of the persona worn pending when a storm too late to
    post comes first: the storm's persona is switched to, and the stale check must not switch back."""
    feed = story(tmp_path / "feed", {"a": "x"}, [
        {"date": "1927-01-01", "time": "10:00", "account": "a", "id": "storm", "storm": "red", "text": "Stormed."},
    ], personas={"red": "Red Paper"})
    ledger = tmp_path / "ledger.sqlite3"
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "60"})
    engine.start()
    drive(engine, clock, at("09:59", 30))  # the start-up switch to a-p is done and recorded
    kill(engine)
    clock.now = at("10:02")  # the storm is missed at this start: its switch is queued while the check of a-p is pending
    engine = make_engine(feed, ledger, clock, {"x": x}, env={"BOT_GRACE": "60"})
    engine.start()
    assert engine.lanes[("a", "x")].personas.check == "a-p"
    drive(engine, clock, at("10:05"))
    assert x.profiles["a"].name == "Red Paper"
    assert [c.persona.key for c in x.calls if c.kind == "switch"][-1] == "red"


def test_drift_behind_a_profile_read_that_fails_at_start_is_repaired_once_it_reads(tmp_path, clock, x, bluesky):
    feed, ledger = played_then_killed(tmp_path, clock, x, bluesky)
    good = bluesky.profiles["telegraph"]
    bluesky.profiles["telegraph"] = Profile("Someone Else", good.bio, good.avatar)
    bluesky.down("profile", lambda: TransientError("connection refused"), until=clock() + timedelta(seconds=20))
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, clock() + timedelta(seconds=60))
    reads = [c for c in bluesky.calls if c.kind == "profile"]
    assert len(reads) >= 3  # asked again on the backoff, not once and forgotten
    assert bluesky.profiles["telegraph"].name == "Revolutionary Times"


def test_a_profile_refused_for_good_is_not_asked_again(tmp_path, clock, x, bluesky):
    feed, ledger = played_then_killed(tmp_path, clock, x, bluesky)
    before = len([c for c in bluesky.calls if c.kind == "profile"])
    bluesky.fail("profile", ProfileRefused("403: not at this access level"))
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky})
    engine.start()
    drive(engine, clock, clock() + timedelta(seconds=600))
    assert len([c for c in bluesky.calls if c.kind == "profile"]) == before + 1


def test_a_first_start_that_cannot_read_the_profile_switches_and_posts_nothing_before(tmp_path, clock, x, bluesky):
    """Never switched, and the profile cannot be read: past the read's retries the persona
    is put on by a switch, retried until the network is back; no post goes out before."""
    feed = storm_feed(tmp_path / "feed")
    ledger = tmp_path / "ledger.sqlite3"
    back = at("10:00", 40)
    for kind in ("profile", "switch", "post"):
        bluesky.down(kind, lambda: TransientError("bluesky: connection refused"), until=back)
    engine = make_engine(feed, ledger, clock, {"x": x, "bluesky": bluesky}, env={"BOT_BACKOFF": "1"})
    engine.start()
    drive(engine, clock, at("10:10"))
    assert [s[1:3] for s in switches(ledger) if s[0] == "bluesky"][0] == ("telegraph-p", "posted")
    posts = [c for c in bluesky.calls if c.kind == "post"]
    assert posts and all(c.at >= back for c in posts)  # held while the persona was not known to be worn
    assert [name for name, _ in posted_as(bluesky)][0] == "Telegraph Paper"
    assert bluesky.profiles["telegraph"].name == "Revolutionary Times"
