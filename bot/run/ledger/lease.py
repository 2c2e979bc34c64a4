"""The lease of a PostgreSQL ledger: which process is active, and the epoch that fences it.

One row in `lease` names the active process (holder `host:pid:random`), the epoch
of its tenure and when the lease ends, by the database's clock (`now()`), never a
host's. A standby takes the lease only once it has ended, and bumps the epoch;
the active process renews it (same epoch) well before. Each write of the ledger
checks, in its own transaction, that the lease row still carries the writer's
holder and epoch (`FENCE`, a shared row lock: a takeover waits for the write to
commit, a write after the takeover sees the new epoch and is refused).

A process frozen or cut off in the middle of a write would keep that lock: once
its lease has ended, the one taking over ends its sessions (`end_stale`; every
connection is named after its holder, `APP`).

`members` has one row per `bot run` on the ledger, active or waiting, refreshed
by its heartbeat, for `bot status`.

Every function takes a psycopg connection in autocommit mode and `at`: the
database time to use (None: its `now()`; tests pass their own clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

NAME = "active"  # the lease row: one active process per ledger (a ledger holds one feed)
CLOCK = "WITH clock AS (SELECT coalesce(%(at)s::timestamptz, now()) AS t) "

FENCE = "SELECT epoch FROM lease WHERE name = %s AND holder = %s AND epoch = %s FOR SHARE"
APP = "anniversary-bot "  # application_name of every connection: APP + "<pid>:<random>", the holder's tail
LOCK_WAIT_MS = 1000  # a takeover waits this long for a write in flight (a healthy one takes milliseconds)


@dataclass(frozen=True)
class Grant:
    """The lease as granted or renewed: its epoch, since when it is held, and the seconds
    left on it by the database's clock when the statement ran."""

    epoch: int
    since: datetime
    remaining: float


@dataclass(frozen=True)
class Member:
    holder: str
    host: str
    pid: int
    since: datetime  # active: since it holds the lease; a standby: since it started
    seen: datetime | None = None  # last heartbeat
    epoch: int | None = None
    expires_at: datetime | None = None
    live: bool = True  # active: the lease has not ended; a standby: heard from recently


@dataclass(frozen=True)
class Board:
    """Who is active (None: nobody ever was) and who waits, as the database says at `now`."""

    active: Member | None
    standbys: list[Member]
    now: datetime


def _grant(row) -> Grant | None:
    return Grant(int(row[0]), row[1], float(row[2])) if row else None


def ended(conn, at: datetime | None = None) -> bool:
    """Is there no live lease (none yet, or it has ended)? A cheap look before `acquire`."""
    row = conn.execute(CLOCK + "SELECT bool_and(expires_at <= clock.t) FROM lease, clock WHERE name = %(name)s",
                       {"at": at, "name": NAME}).fetchone()
    return row[0] is None or bool(row[0])


def acquire(conn, holder: str, host: str, pid: int, ttl: float, at: datetime | None = None) -> Grant | None:
    """Take the lease if it has ended (or never was), with the next epoch; None if it is held.
    Waits at most LOCK_WAIT for a write in flight to commit (psycopg's LockNotAvailable after)."""
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}")
        return _take(conn, holder, host, pid, ttl, at)


def _take(conn, holder: str, host: str, pid: int, ttl: float, at: datetime | None) -> Grant | None:
    return _grant(conn.execute(
        CLOCK + "INSERT INTO lease AS l (name, holder, host, pid, epoch, since, expires_at)"
        " SELECT %(name)s, %(holder)s, %(host)s, %(pid)s, 1, t, t + %(ttl)s * interval '1 second' FROM clock"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,"
        " epoch = l.epoch + 1, since = excluded.since, expires_at = excluded.expires_at"
        " WHERE l.expires_at <= excluded.since"
        " RETURNING epoch, since, extract(epoch FROM expires_at - since)",
        {"at": at, "name": NAME, "holder": holder, "host": host, "pid": pid, "ttl": ttl}).fetchone())


def end_stale(conn, at: datetime | None = None) -> int:
    """End the sessions of a holder whose lease has ended: a process frozen (SIGSTOP) or cut
    off in the middle of a write holds the lease row's lock, and would hold up the takeover
    forever. Its transaction is rolled back: it recorded nothing, as if it had been fenced."""
    return conn.execute(
        CLOCK + "SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity AS a, lease AS l, clock"
        " WHERE l.name = %(name)s AND l.expires_at <= clock.t AND a.pid <> pg_backend_pid()"
        " AND a.application_name = %(app)s || substring(l.holder FROM '[^:]*:[^:]*$')",
        {"at": at, "name": NAME, "app": APP}).fetchone()[0]


def renew(conn, holder: str, epoch: int, ttl: float, at: datetime | None = None) -> Grant | None:
    """Extend the lease held with `epoch` by `ttl` from now; None when another epoch holds it.
    A lease that ended but was not taken is renewed too: nobody wrote in between."""
    return _grant(conn.execute(
        CLOCK + "UPDATE lease SET expires_at = clock.t + %(ttl)s * interval '1 second' FROM clock"
        " WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s"
        " RETURNING epoch, since, extract(epoch FROM expires_at - clock.t)",
        {"at": at, "name": NAME, "holder": holder, "epoch": epoch, "ttl": ttl}).fetchone())


def release(conn, holder: str, epoch: int, at: datetime | None = None) -> bool:
    """End the lease now (a clean stop: a standby takes over at its next look)."""
    cur = conn.execute(
        CLOCK + "UPDATE lease SET expires_at = least(expires_at, clock.t) FROM clock"
        " WHERE name = %(name)s AND holder = %(holder)s AND epoch = %(epoch)s",
        {"at": at, "name": NAME, "holder": holder, "epoch": epoch})
    return cur.rowcount == 1


def heartbeat(conn, holder: str, host: str, pid: int, ttl: float, at: datetime | None = None) -> None:
    """Say this process is alive (registering it the first time); forget members silent for a day."""
    with conn.transaction():
        conn.execute(
            CLOCK + "INSERT INTO members (holder, host, pid, started, seen, ttl)"
            " SELECT %(holder)s, %(host)s, %(pid)s, t, t, %(ttl)s FROM clock"
            " ON CONFLICT (holder) DO UPDATE SET seen = excluded.seen, ttl = excluded.ttl",
            {"at": at, "holder": holder, "host": host, "pid": pid, "ttl": ttl})
        conn.execute(CLOCK + "DELETE FROM members USING clock WHERE seen < clock.t - interval '1 day'", {"at": at})


def leave(conn, holder: str) -> None:
    conn.execute("DELETE FROM members WHERE holder = %s", (holder,))


def board(conn, at: datetime | None = None) -> Board:
    """The active process and the standbys heard from within three of their heartbeats' lease."""
    now = conn.execute(CLOCK + "SELECT t FROM clock", {"at": at}).fetchone()[0]
    row = conn.execute("SELECT holder, host, pid, since, epoch, expires_at FROM lease WHERE name = %s",
                       (NAME,)).fetchone()
    active = None
    if row:
        holder, host, pid, since, epoch, expires = row
        active = Member(holder, host, pid, since, epoch=int(epoch), expires_at=expires, live=expires > now)
    standbys = [
        Member(holder, host, pid, started, seen=seen)
        for holder, host, pid, started, seen in conn.execute(
            "SELECT holder, host, pid, started, seen FROM members"
            " WHERE holder IS DISTINCT FROM %(active)s AND seen > %(now)s - 3 * ttl * interval '1 second'"
            " ORDER BY started, holder",
            {"active": active.holder if active and active.live else None, "now": now})
    ]
    return Board(active, standbys, now)
