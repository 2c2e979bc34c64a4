"""Failover in process: three engines on one PostgreSQL ledger and one scripted network,
each with its leadership, all on one manual clock (the processes' and the database's).
The active one is killed inside a call, or paused inside one for longer than the lease;
another takes over, reconciles what was in flight, and nothing is posted twice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import Deposed
from bot.run.leader import Leadership, Timing
from tests.core.conftest import at
from tests.support.engine import ActionLog, Killed, make_engine
from tests.support.feeds import story

TIMING = Timing(15.0)


class Node:
    """What one `bot run` holds: its engine (prepared: feed and ledger) and its leadership."""

    def __init__(self, name, feed, url, clock, networks, tmp_path) -> None:
        self.name = name
        self.alive = True
        self.active = False
        env = {"BOT_CACHE": str(tmp_path / "cache"), "BOT_STATE": str(tmp_path / name), "BOT_GRACE": "300"}
        self.engine = make_engine(feed, url, clock, networks, env=env)
        self.engine.prepare()
        self.lead = Leadership(self.engine.ledger, TIMING, on_active=self.on_active, on_standby=self.on_standby,
                               monotonic=lambda: clock.now.timestamp(), db_clock=clock)
        self.engine.guard = self.lead.lease.guard
        self.engine.on_deposed = self.lead.lost
        self.took_over_at = None

    def on_active(self, epoch) -> None:
        self.engine.activate()
        self.active = True
        self.took_over_at = self.engine.clock()

    def on_standby(self, reason) -> None:
        self.engine.deactivate()
        self.active = False


def drive(nodes, clock, until, step=0.5) -> None:
    """Every live node: a leadership round; the active one ticks and steps its lanes."""
    while clock.now < until:
        for node in nodes:
            if node.alive:
                node.lead.step()
        for node in nodes:
            if not (node.alive and node.active):
                continue
            try:
                node.engine.tick(clock())
            except Deposed:
                continue
            for lane in list(node.engine.lanes.values()):
                for _ in range(50):
                    try:
                        wake = lane.step(clock())
                    except Killed:
                        node.alive = False  # kill -9 inside the call: nothing after it runs
                        break
                    if wake is None or wake > clock() or not node.active:
                        break
                if not node.alive:
                    break
        clock.advance(step)


def feed_of(root):
    return story(root, {"a": "x", "b": "x"}, [
        {"date": "1927-01-01", "time": f"10:{i:02d}", "account": "ab"[i % 2], "id": f"e{i}", "text": f"Entry {i}."}
        for i in range(8)])


@pytest.fixture
def nodes(tmp_path, clock, x, pg_url):
    feed = feed_of(tmp_path / "feed")
    made = [Node(name, feed, pg_url, clock, {"x": x}, tmp_path) for name in ("one", "two", "three")]
    yield made
    for node in made:
        node.engine.close()


def posted_once(x, ledger):
    counts = {f"e{i}": len(x.by_entry(f"e{i}")) for i in range(8)}
    states = {f"e{i}": ledger.state_of(f"e{i}", "ab"[i % 2], "x").state for i in range(8)}
    return counts, states


def test_the_active_one_killed_inside_a_call_is_replaced_and_nothing_is_posted_twice(clock, x, nodes):
    first, second, third = nodes
    drive(nodes, clock, at("10:02", 30))
    assert first.active and not second.active and not third.active
    x.fail("post", ("create", Killed()))  # e3: the post is made, the process dies before the answer
    drive(nodes, clock, at("10:03", 30))
    assert not first.alive
    drive(nodes, clock, at("10:10"))
    successor = next(n for n in (second, third) if n.active)
    assert successor.took_over_at - at("10:03") <= timedelta(seconds=TIMING.ttl + TIMING.poll + 0.5)
    counts, states = posted_once(x, successor.engine.ledger)
    assert counts == {f"e{i}": 1 for i in range(8)}
    assert set(states.values()) == {"posted"}


def test_a_process_paused_inside_a_call_wakes_deposed_and_publishes_nothing(clock, x, nodes):
    first, second, third = nodes
    drive(nodes, clock, at("10:02", 30))
    lane = first.engine.lanes[("b", "x")]
    real = lane.publisher.publish
    woke = {}

    def paused(post):
        remote = real(post)  # the request reached the network: the post exists
        drive([second, third], clock, clock.now + timedelta(seconds=40))  # SIGSTOP for 40 s
        woke["at"] = clock.now
        return remote

    lane.publisher.publish = paused
    after_waking = []
    for other in first.engine.lanes.values():  # any call of the first process once it woke
        if other is not lane:
            other.publisher.publish = lambda post, real=other.publisher.publish: (
                after_waking.append(post.entry_id) if "at" in woke else None) or real(post)
    with ActionLog() as log:
        drive(nodes, clock, at("10:10"))
    successor = next(n for n in (second, third) if n.active)
    assert not first.active and first.alive and first.engine.lanes == {}
    deposed = [line for line in log.lines if " deposed " in line]
    assert any("entry=e3" in line and "posted, but not recorded" in line for line in deposed), log.lines
    counts, states = posted_once(x, successor.engine.ledger)
    assert counts == {f"e{i}": 1 for i in range(8)} and set(states.values()) == {"posted"}
    assert after_waking == []  # once it woke, it published nothing


def test_a_second_feed_is_refused_on_the_same_ledger(tmp_path, clock, x, pg_url):
    from bot.errors import ConfigError

    env = {"BOT_CACHE": str(tmp_path / "cache"), "BOT_STATE": str(tmp_path / "s")}
    engines = [make_engine(feed_of(tmp_path / "one"), pg_url, clock, {"x": x}, env=env)]
    engines[0].prepare()
    other = story(tmp_path / "two", {"c": "x"}, [{"date": "1927-01-01", "time": "10:00", "account": "c", "text": "C."}])
    engines.append(make_engine(other, pg_url, clock, {"x": x}, env=env))
    with pytest.raises(ConfigError) as err:
        engines[-1].prepare()
    message = str(err.value)
    assert "belongs to the feed 'Story #" in message and "BOT_FEED_ID=" in message and "\n" not in message
    kept = message.split("BOT_FEED_ID=")[1].strip("'")
    engines.append(make_engine(other, pg_url, clock, {"x": x}, env={**env, "BOT_FEED_ID": kept}))
    engines[-1].prepare()  # the feed renamed on purpose: it carries on
    for engine in engines:
        engine.close()


def test_a_lease_lapsed_in_the_middle_of_a_post_call_releases_the_claim_and_it_posts_once(clock, x, nodes):
    first, second, third = nodes
    drive(nodes, clock, at("10:02", 30))
    assert first.active
    # the publisher's before_send refused the post request (its image was already up)
    x.fail("post", Deposed("the lease of epoch 1 was not renewed in time (0.2 s ago)", final=False))
    drive(nodes, clock, at("10:10"))
    assert first.active and not second.active and not third.active  # a lapse alone moves nothing
    counts, states = posted_once(x, first.engine.ledger)
    assert counts == {f"e{i}": 1 for i in range(8)}
    assert set(states.values()) == {"posted"}
    assert first.engine.ledger.state_of("e3", "b", "x").reason is None  # released, then posted: no lookup
    assert [c.post.entry_id for c in x.calls if c.kind == "post"].count("e3") == 2
