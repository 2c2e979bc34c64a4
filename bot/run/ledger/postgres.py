"""The PostgreSQL ledger: the same record as the SQLite one, for several processes on
several hosts, one of them active.

    ledger = PostgresLedger.open("postgresql://bot:PASSWORD@db/bot", fenced=True)

The queries are those of `base.BaseLedger`; this module adds the connections, the
numbered migrations (`pgschema`) and the lease (`lease`). A `fenced` ledger (`bot
run`) writes only while it holds the lease: every write transaction first checks,
under a shared lock on the lease row, that the row still names this process and
its epoch, and raises `Deposed` otherwise, so a process that lost the lease
(killed and replaced, paused, cut off) can neither claim nor record anything once
another one took over. Reads, `bot status` and `bot resolve` (not fenced) need no lease.

Two connections, each reopened after a failure (a restart of the server, a cut
network): one for the ledger's queries, one for the lease and heartbeats, so a
renewal never queues behind a slow query. The URL may hold a password: `path`,
every message and every log line show it masked. psycopg is imported here only.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from bot.errors import Deposed, LedgerError
from bot.run.ledger import lease, pgschema
from bot.run.ledger.base import BaseLedger
from bot.settings import masked_url

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
except ImportError:  # the optional extra is not installed
    psycopg = None

EXTRA = "pip install 'anniversary-bot[postgres]'"
# added to what the URL says (the URL wins): fail fast, notice a dead peer, bound every statement
DEFAULTS = {"connect_timeout": "5", "keepalives": "1",
            "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3",
            "tcp_user_timeout": "10000"}
STATEMENT_TIMEOUT_MS = 10_000


_DIALECT: dict[str, str] = {}  # shared SQL -> the same with psycopg's placeholders


class _Sql:
    """A psycopg connection seen through the `?` placeholders of the shared SQL."""

    def __init__(self, conn) -> None:
        self._conn = conn

    @staticmethod
    def _q(sql: str) -> str:
        found = _DIALECT.get(sql)
        if found is None:
            found = _DIALECT[sql] = sql.replace("?", "%s")
        return found

    def execute(self, sql: str, params=()):
        return self._conn.execute(self._q(sql), params)

    def executemany(self, sql: str, rows):
        cur = self._conn.cursor()
        cur.executemany(self._q(sql), rows)
        return cur


class _Link:
    """One connection, opened on first use and again after it broke."""

    def __init__(self, ledger: PostgresLedger, readonly: bool) -> None:
        self.ledger = ledger
        self.readonly = readonly
        self.conn = None
        self.mutex = threading.RLock()

    def get(self):
        conn = self.conn
        if conn is not None and not conn.closed and not conn.broken and _quiet(conn):
            return conn
        self.drop()
        try:
            conn = psycopg.connect(self.ledger._conninfo, autocommit=True)
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            conn.execute("SELECT set_config('application_name', %s, false)", (lease.APP + self.ledger.tag,))
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise self.ledger._failure("cannot connect", exc) from exc
        self.conn = conn
        return conn

    def drop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    def after(self, exc: BaseException) -> None:
        """After a failed call: a connection that broke (or is stuck in a failed state) is dropped."""
        conn = self.conn
        if conn is not None and (conn.closed or conn.broken or isinstance(exc, psycopg.OperationalError)):
            self.drop()


class PostgresLedger(BaseLedger):
    shared = True

    def __init__(self, url: str, *, readonly: bool, fenced: bool) -> None:
        self.path = masked_url(url)
        self.readonly = readonly
        self.fenced = fenced
        self._secret = _password(url)
        self._conninfo = _with_defaults(url)
        self._data = _Link(self, readonly)
        self._lease = _Link(self, readonly)
        self._closed = False
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.tag = f"{self.pid}:{secrets.token_hex(3)}"  # names its connections (lease.APP)
        self.holder = f"{self.host}:{self.tag}"  # this process in lease and members
        self.epoch: int | None = None  # the epoch of the lease this process holds (None: standby)

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, url: str, *, readonly: bool = False, fenced: bool = False) -> PostgresLedger:
        """Connect and migrate (a read-only open needs a current schema); LedgerError otherwise."""
        if psycopg is None:
            raise LedgerError(f"ledger {masked_url(url)}: a PostgreSQL ledger needs psycopg: {EXTRA}")
        ledger = cls(url, readonly=readonly, fenced=fenced)
        try:
            conn = ledger._data.get()
            if readonly:
                pgschema.check_readable(pgschema.version_of(conn), ledger.path)
            else:
                pgschema.migrate(conn, ledger.path, psycopg.Error)
        except psycopg.Error as exc:
            ledger.close()
            raise ledger._failure("cannot open", exc) from exc
        except BaseException:
            ledger.close()
            raise
        return ledger

    def close(self) -> None:
        self._closed = True
        for link in (self._data, self._lease):
            with link.mutex:
                link.drop()

    # -- the feed it belongs to ------------------------------------------------

    def adopt_feed(self, feed_id: str) -> str:
        """Record `feed_id` as this ledger's feed unless one is recorded; return the recorded one."""
        with self._writing("record the feed", fence=False) as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('feed', ?) ON CONFLICT (key) DO NOTHING", (feed_id,))
            return conn.execute("SELECT value FROM meta WHERE key = 'feed'").fetchone()[0]

    # -- the lease ------------------------------------------------------------

    def take_lease(self, ttl: float, *, at: datetime | None = None) -> lease.Grant | None:
        """Take the lease if it has ended; None while another process holds it."""
        with self._on_lease("take the lease") as conn:
            if not lease.ended(conn, at):
                return None
            try:
                grant = lease.acquire(conn, self.holder, self.host, self.pid, ttl, at)
            except psycopg.errors.LockNotAvailable:  # the last holder froze in the middle of a write
                lease.end_stale(conn, at)
                grant = lease.acquire(conn, self.holder, self.host, self.pid, ttl, at)
        if grant is not None:
            self.epoch = grant.epoch
        return grant

    def renew_lease(self, ttl: float, *, at: datetime | None = None) -> lease.Grant | None:
        """Extend the lease this process holds; None (and no epoch any more) when it was taken over."""
        if self.epoch is None:
            return None
        with self._on_lease("renew the lease") as conn:
            grant = lease.renew(conn, self.holder, self.epoch, ttl, at)
        if grant is None:
            self.epoch = None
        return grant

    def end_lease(self, *, at: datetime | None = None) -> None:
        """End this process's lease now, so that a standby takes over at once."""
        epoch, self.epoch = self.epoch, None
        if epoch is not None:
            with self._on_lease("release the lease") as conn:
                lease.release(conn, self.holder, epoch, at)

    def heartbeat(self, ttl: float, *, at: datetime | None = None) -> None:
        with self._on_lease("say it is alive") as conn:
            lease.heartbeat(conn, self.holder, self.host, self.pid, ttl, at)

    def leave(self) -> None:
        with self._on_lease("leave the members") as conn:
            lease.leave(conn, self.holder)

    def board(self, *, at: datetime | None = None) -> lease.Board:
        """Who is active and who waits (for `bot status`)."""
        with self._on_lease("read the lease") as conn:
            return lease.board(conn, at)

    # -- health --------------------------------------------------------------

    def ping(self, timeout: float = 2.0) -> None:
        """LedgerError unless the database answers within `timeout` seconds. On the lease's
        connection: a query in flight on the other one must not make the service look dead."""
        link = self._lease
        if not link.mutex.acquire(timeout=timeout):
            raise LedgerError(f"ledger {self.path}: busy for over {timeout:g} s")
        try:
            with self._used(link, "answer") as conn:
                conn.execute("SELECT 1").fetchone()
        finally:
            link.mutex.release()

    # -- plumbing ------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[_Sql]:
        with self._used(self._data, action) as conn:
            yield _Sql(conn)

    @contextmanager
    def _writing(self, action: str, *, fence: bool = True) -> Iterator[_Sql]:
        """One committed transaction; a fenced ledger first checks that it holds the lease."""
        if self.readonly:
            raise LedgerError(f"ledger {self.path}: opened read-only, cannot {action}")
        with self._used(self._data, action) as conn, conn.transaction():
            if fence and self.fenced:
                self._check_fence(conn, action)
            yield _Sql(conn)

    def _check_fence(self, conn, action: str) -> None:
        epoch = self.epoch
        if epoch is None:
            raise Deposed(f"ledger {self.path}: cannot {action}: this process is not the active one", final=False)
        if conn.execute(lease.FENCE, (lease.NAME, self.holder, epoch)).fetchone() is None:
            self.epoch = None
            raise Deposed(f"ledger {self.path}: cannot {action}: epoch {epoch} is over (another process took over)")

    @contextmanager
    def _on_lease(self, action: str) -> Iterator:
        with self._used(self._lease, action) as conn:
            yield conn

    @contextmanager
    def _used(self, link: _Link, action: str) -> Iterator:
        with link.mutex:
            if self._closed:
                raise LedgerError(f"ledger {self.path}: already closed")
            conn = link.get()
            try:
                yield conn
            except psycopg.Error as exc:
                link.after(exc)
                raise self._failure(f"cannot {action}", exc) from exc

    def _failure(self, what: str, exc: BaseException) -> LedgerError:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            detail = detail.replace(self._secret, "***")
        return LedgerError(f"ledger {self.path}: {what}: {detail}")


def _quiet(conn) -> bool:
    """An idle connection has nothing to say; one that does was most likely ended by the
    server (a restart, a terminated backend): it is replaced before the statement, not after."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


def _password(url: str) -> str | None:
    try:
        return conninfo_to_dict(url).get("password") or None
    except psycopg.Error:
        return None


def _with_defaults(url: str) -> str:
    """The connection string: the URL, with DEFAULTS for the parameters it does not set."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        return url  # the connect reports what is wrong with it
    return make_conninfo(url, **{k: v for k, v in DEFAULTS.items() if k not in given})
