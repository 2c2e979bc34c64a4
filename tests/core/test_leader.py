"""One active process, the others on standby (bot.run.leader), in process: each `Node` is
what a `bot run` holds (a fenced ledger on the throwaway PostgreSQL server, a Leadership),
and one manual clock is both the processes' monotonic clock and the database's (`at=`),
so expiry, renewal, a kill, a pause and a partition are exact and instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import ConfigError, Deposed, LedgerError
from bot.run.leader import Leadership, Timing
from bot.run.ledger import open_ledger
from tests.support.engine import ManualClock

T0 = datetime(2027, 11, 7, 10, 0, tzinfo=UTC)
TIMING = Timing(15.0)


class Node:
    def __init__(self, url: str, clock: ManualClock, name: str) -> None:
        self.name = name
        self.clock = clock
        self.ledger = open_ledger(url, fenced=True)
        self.log: list[tuple] = []
        self.paused_at: float | None = None
        self.lead = Leadership(self.ledger, TIMING, on_active=self.on_active, on_standby=self.on_standby,
                               monotonic=lambda: clock.now.timestamp(), db_clock=clock)

    def on_active(self, epoch: int) -> None:
        self.log.append(("active", epoch))

    def on_standby(self, reason: str) -> None:
        self.log.append(("standby", reason))

    def step(self) -> float:
        return self.lead.step()

    def claim(self, entry: str) -> bool:
        self.lead.lease.guard()  # what a lane does before its call
        return self.ledger.claim(entry, "acc", "x", scheduled=self.clock(), now=self.clock(), text_hash=None)


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def nodes(pg_url, clock):
    made = [Node(pg_url, clock, name) for name in ("a", "b", "c")]
    yield made
    for node in made:
        node.ledger.close()


def run(clock, nodes, seconds: float, step: float = 0.25) -> None:
    """Every node steps every `step` seconds of the manual clock for `seconds`."""
    end = clock.now + timedelta(seconds=seconds)
    while clock.now < end:
        for node in nodes:
            node.step()
        clock.advance(step)


def test_timing_of_the_default_failover():
    t = Timing(15.0)
    assert (t.poll, t.ttl, round(t.renew, 2), t.margin) == (1.0, 11.0, 3.67, 1.0)
    assert t.ttl + t.poll <= 0.8 * t.failover  # the lease ends and is looked at within 80 % of F
    fast = Timing(3.0)
    assert (fast.poll, round(fast.ttl, 2), round(fast.margin, 2)) == (0.2, 2.2, 0.22)


def test_one_active_the_others_stand_by_and_renewal_keeps_it(clock, nodes):
    a, b, c = nodes
    run(clock, nodes, 60)
    assert a.log == [("active", 1)] and b.log == [] and c.log == []
    assert a.lead.active and not b.lead.active and a.lead.lease.valid()
    assert a.claim("e1")
    with pytest.raises(Deposed) as err:
        b.claim("e2")
    assert not err.value.final
    board = c.ledger.board(at=clock())
    assert board.active.holder == a.ledger.holder and {m.holder for m in board.standbys} == {
        b.ledger.holder, c.ledger.holder}


def test_a_killed_active_process_is_replaced_within_the_failover_setting(clock, nodes):
    a, b, c = nodes
    run(clock, nodes, 5)
    killed_at = clock.now
    run(clock, [b, c], 30)  # a stops renewing: killed
    took = [n for n in (b, c) if n.log]
    assert len(took) == 1 and took[0].log == [("active", 2)]
    first = took[0]
    # when it took over, by the database's lease: at most ttl + poll after a's last renewal
    since = first.ledger.board(at=clock()).active.since
    assert since - killed_at <= timedelta(seconds=TIMING.ttl + TIMING.poll)
    assert first.claim("after")


def test_a_paused_process_wakes_deposed_and_can_neither_claim_nor_record(clock, nodes):
    a, b, _ = nodes
    run(clock, [a, b], 5)
    assert a.claim("in-flight")  # claimed, then SIGSTOP inside the call
    run(clock, [b], 20)  # a is paused for longer than the lease
    assert b.log == [("active", 2)]
    # a wakes: its lease lapsed on its own clock before anything else runs
    assert not a.lead.lease.valid()
    with pytest.raises(Deposed):
        a.claim("next")
    with pytest.raises(Deposed) as err:  # the outcome of the call it was in: refused by the database
        a.ledger.settle("in-flight", "acc", "x", "posted", now=clock(), remote_id="1")
    assert err.value.final
    a.step()
    assert a.log == [("active", 1), ("standby", "another process took the lease over")] and not a.lead.active
    assert [r.entry_id for r in b.ledger.recover(clock())] == ["in-flight"]  # b reconciles it


def test_cut_off_from_the_database_the_active_one_pauses_then_resumes_or_yields(clock, nodes, monkeypatch):
    a, b, _ = nodes
    run(clock, [a, b], 5)

    def unreachable(*args, **kwargs):
        raise LedgerError("ledger postgresql://...: cannot renew the lease: connection refused")

    monkeypatch.setattr(a.ledger, "renew_lease", unreachable)
    run(clock, [a], TIMING.ttl)  # a cannot renew: it stops acting before its lease ends
    assert a.lead.active and not a.lead.lease.valid()
    with pytest.raises(Deposed) as err:
        a.claim("x")
    assert not err.value.final
    monkeypatch.undo()
    run(clock, [a], 3)  # the database answers again before anyone took over: same epoch, acting again
    assert a.lead.lease.valid() and a.lead.lease.epoch == 1 and a.claim("x")

    monkeypatch.setattr(a.ledger, "renew_lease", unreachable)
    run(clock, [a, b], 30)  # this time b takes over
    monkeypatch.undo()
    run(clock, [a, b], 5)
    assert b.log == [("active", 2)] and a.log[-1][0] == "standby" and not a.lead.active


def test_a_clean_stop_hands_over_at_once(clock, nodes):
    a, b, _ = nodes
    run(clock, [a, b], 3)
    a.lead.stop()
    run(clock, [b], TIMING.poll + 0.2)
    assert b.log == [("active", 2)]


def test_a_failed_start_gives_the_lease_back(clock, nodes):
    a, b, _ = nodes

    def broken(epoch):
        raise ConfigError("years_later 90 differs from 100")

    a.lead.on_active = broken
    a.step()
    assert not a.lead.active and a.ledger.epoch is None
    run(clock, [b], 0.2)
    assert b.log == [("active", 2)]
