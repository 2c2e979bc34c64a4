"""What is the PostgreSQL ledger's own (the shared behaviour is in tests/test_ledger.py):
numbered migrations, the lease and its epoch fencing every write, members, a restart of
the server, a masked password, and the missing library. Times of the lease are the
database's, injected here (`at=`) so that expiry is exact and instant."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.errors import Deposed, LedgerError
from bot.run.ledger import open_ledger, pgschema, postgres
from bot.run.ledger.rows import iso

T0 = datetime(2027, 11, 7, 10, 0, tzinfo=UTC)
KEY = ("e1", "acc", "x")
TTL = 10.0


def claim(led, key=KEY, at=T0):
    return led.claim(*key, scheduled=at, now=at, text_hash=None)


def version(url) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT max(version) FROM ledger_schema").fetchone()[0]


@pytest.fixture
def pair(pg_url):
    """Two `bot run` processes on one ledger, as far as the ledger can tell."""
    a, b = open_ledger(pg_url, fenced=True), open_ledger(pg_url, fenced=True)
    yield a, b
    a.close()
    b.close()


# -- migrations -----------------------------------------------------------------------

def test_a_new_ledger_has_every_step_and_opens_again(pg_url):
    with open_ledger(pg_url) as led:
        claim(led)
    assert version(pg_url) == len(pgschema.MIGRATIONS)
    with open_ledger(pg_url) as led:  # nothing applied twice
        assert led.state_of(*KEY).state == "claimed"
    assert version(pg_url) == len(pgschema.MIGRATIONS)


def test_a_new_step_applies_once_and_a_failing_one_changes_nothing(pg_url, monkeypatch):
    open_ledger(pg_url).close()
    steps = pgschema.MIGRATIONS + [("ALTER TABLE deliveries ADD COLUMN note text", "THIS IS NOT SQL")]
    monkeypatch.setattr(pgschema, "MIGRATIONS", steps)
    with pytest.raises(LedgerError) as err:
        open_ledger(pg_url)
    assert f"cannot migrate to schema version {len(steps)}: syntax error" in str(err.value)
    assert version(pg_url) == len(steps) - 1
    steps[-1] = ("ALTER TABLE deliveries ADD COLUMN note text",)
    with open_ledger(pg_url) as led:
        claim(led)
        with led._reading("read the note") as conn:
            assert conn.execute("SELECT note FROM deliveries").fetchall() == [(None,)]
    assert version(pg_url) == len(steps)


def test_processes_starting_at_once_migrate_once(pg_url):
    errors, ledgers = [], []

    def open_one():
        try:
            ledgers.append(open_ledger(pg_url, fenced=True))
        except LedgerError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(ledgers) == 4
    assert version(pg_url) == len(pgschema.MIGRATIONS)
    for led in ledgers:
        led.close()


def test_newer_and_missing_schemas_are_refused(pg_url, pg_cluster):
    with pytest.raises(LedgerError, match="no ledger in this database"):
        open_ledger(pg_url, readonly=True)
    open_ledger(pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE ledger_schema SET version = version + 1")
    for readonly in (False, True):
        with pytest.raises(LedgerError, match="newer than this bot knows"):
            open_ledger(pg_url, readonly=readonly)


def test_a_read_only_open_writes_nothing(pg_url):
    open_ledger(pg_url).close()
    with open_ledger(pg_url, readonly=True) as ro:
        with pytest.raises(LedgerError, match="read-only"):
            claim(ro)
        with ro._reading("try a write anyway") as conn, pytest.raises(Exception, match="read-only transaction"):
            conn.execute("DELETE FROM deliveries")


# -- the lease and its epoch ------------------------------------------------------------

def test_writes_need_the_lease_and_a_takeover_fences_the_old_epoch(pair):
    a, b = pair
    with pytest.raises(Deposed) as err:
        claim(a)
    assert not err.value.final and "not the active one" in str(err.value)
    grant = a.take_lease(TTL, at=T0)
    assert (grant.epoch, grant.remaining) == (1, TTL) and a.epoch == 1
    assert b.take_lease(TTL, at=T0 + timedelta(seconds=TTL - 0.001)) is None  # still held
    assert claim(a) is True
    claim(a, ("e2", "acc", "x"))

    grant = b.take_lease(TTL, at=T0 + timedelta(seconds=TTL))  # ended: b takes it, with the next epoch
    assert grant.epoch == 2 and b.epoch == 2
    with pytest.raises(Deposed) as err:  # a, woken up, can neither claim nor record
        claim(a, ("e3", "acc", "x"))
    assert err.value.final and "epoch 1 is over" in str(err.value)
    with pytest.raises(Deposed):
        a.settle(*KEY, "posted", now=T0, remote_id="1")
    assert a.renew_lease(TTL, at=T0 + timedelta(seconds=TTL + 1)) is None and a.epoch is None
    recovered = b.recover(T0 + timedelta(seconds=TTL))  # what a left claimed is b's to reconcile
    assert sorted(r.entry_id for r in recovered) == ["e1", "e2"]
    assert b.state_of("e3", "acc", "x") is None
    assert b.counts()["uncertain"] == 2 and sum(b.counts().values()) == 2


def test_renewal_keeps_the_epoch_even_after_a_lapse_nobody_used(pair):
    a, b = pair
    a.take_lease(TTL, at=T0)
    grant = a.renew_lease(TTL, at=T0 + timedelta(seconds=5))
    assert (grant.epoch, grant.remaining) == (1, TTL)
    assert b.take_lease(TTL, at=T0 + timedelta(seconds=14)) is None  # renewed until T0 + 15 s
    grant = a.renew_lease(TTL, at=T0 + timedelta(seconds=20))  # lapsed, but nobody took it: nobody wrote
    assert grant.epoch == 1 and claim(a)


def test_a_clean_stop_hands_the_lease_over_at_once(pair):
    a, b = pair
    a.take_lease(TTL, at=T0)
    a.end_lease(at=T0 + timedelta(seconds=1))
    assert a.epoch is None
    assert b.take_lease(TTL, at=T0 + timedelta(seconds=1)).epoch == 2


def test_a_takeover_waits_for_a_write_in_flight(pair):
    """The old holder's write that checked its epoch commits before the takeover, so the new
    holder's recovery sees it; a write that starts after the takeover is refused."""
    a, b = pair
    a.take_lease(TTL, at=T0)
    checked, took = threading.Event(), threading.Event()
    result = {}

    def slow_claim():
        with a._writing("claim slowly") as conn:  # the epoch is checked (shared lock on the lease row)
            checked.set()
            time.sleep(0.4)
            conn.execute("INSERT INTO deliveries (entry_id, account, network, state, scheduled, claimed_at)"
                         " VALUES ('slow', 'acc', 'x', 'claimed', ?, ?)", (iso(T0), iso(T0)))

    def take():
        checked.wait()
        result["grant"] = b.take_lease(TTL, at=T0 + timedelta(seconds=TTL))
        result["at"] = time.monotonic()
        took.set()

    started = time.monotonic()
    threads = [threading.Thread(target=slow_claim), threading.Thread(target=take)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert result["grant"].epoch == 2 and result["at"] - started >= 0.35  # it waited for the commit
    assert [r.entry_id for r in b.recover(T0)] == ["slow"]
    with pytest.raises(Deposed):
        claim(a, ("late", "acc", "x"))


def test_a_holder_frozen_in_the_middle_of_a_write_does_not_hold_up_the_takeover(pair):
    """SIGSTOP (or a cut network) inside a write transaction keeps the lease row locked: once
    the lease has ended, the process taking over ends that session, and the write is lost."""
    a, b = pair
    a.take_lease(TTL, at=T0)
    frozen, thaw = threading.Event(), threading.Event()
    outcome = {}

    def frozen_write():
        try:
            with a._writing("claim, frozen") as conn:
                frozen.set()
                thaw.wait(10)
                conn.execute("INSERT INTO deliveries (entry_id, account, network, state, scheduled, claimed_at)"
                             " VALUES ('frozen', 'acc', 'x', 'claimed', ?, ?)", (iso(T0), iso(T0)))
        except LedgerError as exc:
            outcome["a"] = exc

    thread = threading.Thread(target=frozen_write)
    thread.start()
    frozen.wait(5)
    started = time.monotonic()
    grant = b.take_lease(TTL, at=T0 + timedelta(seconds=TTL))
    took = time.monotonic() - started
    thaw.set()
    thread.join()
    assert grant.epoch == 2 and took < 3
    assert "a" in outcome and "\n" not in str(outcome["a"])
    assert b.recover(T0) == [] and b.state_of("frozen", "acc", "x") is None
    with pytest.raises(Deposed):  # a's next write, on a new connection, meets the new epoch
        claim(a)


def test_the_board_names_the_active_process_and_the_standbys(pair):
    a, b = pair
    assert a.board(at=T0).active is None
    a.heartbeat(TTL, at=T0)
    b.heartbeat(TTL, at=T0)
    a.take_lease(TTL, at=T0)
    board = b.board(at=T0 + timedelta(seconds=1))
    assert (board.active.holder, board.active.epoch, board.active.live) == (a.holder, 1, True)
    assert [m.holder for m in board.standbys] == [b.holder]
    later = b.board(at=T0 + timedelta(seconds=3 * TTL + 1))  # silent for three of its leases: gone
    assert later.standbys == [] and not later.active.live
    b.leave()
    assert b.board(at=T0).standbys == []


def test_resolve_by_hand_needs_no_lease(pair, pg_url):
    a, _ = pair
    a.take_lease(TTL, at=T0)
    claim(a)
    a.recover(T0)
    with open_ledger(pg_url) as by_hand:  # `bot resolve`: not fenced
        assert [r.state for r in by_hand.resolve("e1", posted=False, now=T0)] == ["failed"]


# -- the server and the library -------------------------------------------------------------

def test_the_ledger_reconnects_after_a_server_restart(pg_url, pg_cluster):
    with open_ledger(pg_url, fenced=True) as led:
        led.take_lease(TTL)
        claim(led)
        pg_cluster.restart()
        time.sleep(0.2)  # the server's goodbye reaches the idle connections
        outcomes = []
        for attempt in range(50):
            try:
                led.settle(*KEY, "posted", now=T0, remote_id="7")
                break
            except Deposed:
                raise
            except LedgerError as exc:
                outcomes.append(str(exc))
                time.sleep(0.1)
        assert outcomes == []  # the dead connection was replaced before the statement
        assert led.state_of(*KEY).state == "posted"
        assert led.renew_lease(TTL).epoch == 1  # the lease lives in the database: it survived


def test_the_password_never_shows(pg_cluster):
    url = f"postgresql://bot:Sw0rdfish-LEAKCHECK@127.0.0.1:{pg_cluster.port}/no_such_database"
    with pytest.raises(LedgerError) as err:
        open_ledger(url)
    message = str(err.value)
    assert "Sw0rdfish" not in message and "bot:***@127.0.0.1" in message and "no_such_database" in message


def test_without_psycopg_one_line_names_the_extra(monkeypatch):
    monkeypatch.setattr(postgres, "psycopg", None)
    with pytest.raises(LedgerError) as err:
        open_ledger("postgresql://bot:secret@db/bot")
    assert str(err.value) == ("ledger postgresql://bot:***@db/bot: a PostgreSQL ledger needs psycopg:"
                              " pip install 'anniversary-bot[postgres]'")
