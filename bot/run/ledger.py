"""The ledger: the only record of what the bot did, in one SQLite file.

One row per delivery (entry id, account, network) and one per persona switch.
A delivery is *claimed* and committed before its network call, then settled
as posted, failed or uncertain; an entry too late to publish is recorded
*missed*. A row still claimed when the service starts means the process died
mid-call: `recover` makes it uncertain, and nothing ever posts it again
automatically (`claim` refuses any key that has a row).

Every write is its own committed transaction (WAL, synchronous=FULL), so a
row returned from a call survives kill -9. A writer holds `<path>.lock`
(see `bot.run.lock`) for its lifetime; read-only opens (`bot status`) take no lock.
Times are aware datetimes passed in by the caller and stored as ISO UTC text.
Every SQLite or OS failure surfaces as a one-line `LedgerError` naming the path.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote


from bot.errors import LedgerError, LedgerLocked, LockHeld
from bot.run.lock import ProcessLock

DELIVERY_STATES = ("claimed", "posted", "failed", "missed", "uncertain")
SWITCH_STATES = ("claimed", "posted", "failed", "uncertain")
SETTLED_STATES = ("posted", "failed", "uncertain")
STOPPED_REASON = "process stopped during the call"
NOT_POSTED_REASON = "not posted (resolved by hand)"
POSTED_REASON = "posted (resolved by hand)"

# Schema migrations: step i takes the file from user_version i to i + 1.
# Append new steps; never edit a released one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE deliveries (
            entry_id   TEXT NOT NULL,
            account    TEXT NOT NULL,
            network    TEXT NOT NULL,
            state      TEXT NOT NULL CHECK (state IN
                           ('claimed', 'posted', 'failed', 'missed', 'uncertain')),
            reason     TEXT,
            remote_id  TEXT,
            scheduled  TEXT NOT NULL,
            claimed_at TEXT,
            settled_at TEXT,
            text_hash  TEXT,
            attempts   INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (entry_id, account, network)
        ) WITHOUT ROWID""",  # a key lookup is one b-tree descent
        # recover, counts, problems, last_posted
        "CREATE INDEX deliveries_by_state ON deliveries (state, settled_at)",
        """CREATE TABLE switches (
            id         INTEGER PRIMARY KEY,
            account    TEXT NOT NULL,
            network    TEXT NOT NULL,
            persona    TEXT NOT NULL,
            entry_id   TEXT,  -- the storm's entry; NULL for a start-up correction
            state      TEXT NOT NULL CHECK (state IN
                           ('claimed', 'posted', 'failed', 'uncertain')),
            reason     TEXT,
            at         TEXT NOT NULL,
            settled_at TEXT
        )""",
        "CREATE INDEX switches_by_account ON switches (account, network, state)",
        "CREATE INDEX switches_by_state ON switches (state)",
    ),
]

Key = tuple[str, str, str]  # (entry_id, account, network)

_DELIVERY_COLUMNS = (
    "entry_id, account, network, state, reason, remote_id,"
    " scheduled, claimed_at, settled_at, text_hash, attempts"
)
_SWITCH_COLUMNS = "id, account, network, persona, entry_id, state, reason, at, settled_at"
_CHUNK = 900  # ids per IN query, under the oldest SQLite limit of 999 parameters


@dataclass(frozen=True, slots=True)
class Row:
    """A delivery (kind "delivery") or a persona switch (kind "switch")."""

    kind: str
    entry_id: str | None  # None: a start-up persona correction
    account: str
    network: str
    state: str
    reason: str | None = None
    remote_id: str | None = None
    scheduled: datetime | None = None
    claimed_at: datetime | None = None  # for a switch: when it was claimed
    settled_at: datetime | None = None
    text_hash: str | None = None
    attempts: int = 0
    persona: str | None = None
    switch_id: int | None = None

    @property
    def key(self) -> Key:
        return (self.entry_id, self.account, self.network)


class Ledger:
    """Open with `Ledger.open(path)`; use as a context manager or call `close()`.

    Safe to share between threads (calls are serialised).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: ProcessLock | None, readonly: bool):
        self.path = path
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = conn
        self._lock = lock
        self._mutex = threading.RLock()

    # -- opening -----------------------------------------------------------

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, readonly: bool = False, lock: bool = True,
        now: datetime | None = None,
    ) -> Ledger:
        """Open (creating folders and file, migrating the schema) or raise LedgerError.

        A writer takes the process lock unless `lock=False`; `now` (default: the
        clock) is the "since" written into the lock file. `readonly=True`
        needs an existing, fully migrated file and never writes to it.
        """
        path = Path(path)
        if readonly:
            return cls(path, _connect_readonly(path), None, True)
        try:
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"ledger {path}: cannot create its folder: {exc.strerror}") from exc
        held = _take_lock(path, now) if lock else None
        try:
            conn = _connect(path)
        except BaseException:
            if held:
                held.release()
            raise
        return cls(path, conn, held, False)

    def close(self) -> None:
        """Close the file and free the lock (idempotent)."""
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- deliveries ----------------------------------------------------------

    def claim(self, entry_id: str, account: str, network: str, *,
              scheduled: datetime, now: datetime, text_hash: str | None) -> bool:
        """Commit a claimed row before the network call; False (nothing changed) if the key has a row."""
        with self._writing(f"claim {entry_id} for {account} on {network}") as conn:
            cur = conn.execute(
                "INSERT INTO deliveries (entry_id, account, network, state, scheduled,"
                " claimed_at, text_hash, attempts) VALUES (?, ?, ?, 'claimed', ?, ?, ?, 1)"
                " ON CONFLICT (entry_id, account, network) DO NOTHING",
                (entry_id, account, network, _iso(scheduled), _iso(now), text_hash),
            )
            return cur.rowcount == 1

    def settle(self, entry_id: str, account: str, network: str, state: str, *,
               now: datetime, reason: str | None = None, remote_id: str | None = None,
               attempts: int | None = None) -> None:
        """Move a claimed row to posted, failed or uncertain (LedgerError if it is not claimed).

        `attempts`, when given, records how many requests the call made (retries included).
        """
        _check_state(state, SETTLED_STATES)
        with self._writing(f"settle {entry_id} for {account} on {network}") as conn:
            cur = conn.execute(
                "UPDATE deliveries SET state = ?, reason = ?, remote_id = coalesce(?, remote_id),"
                " settled_at = ?, attempts = coalesce(?, attempts)"
                " WHERE entry_id = ? AND account = ? AND network = ? AND state = 'claimed'",
                (state, reason, remote_id, _iso(now), attempts, entry_id, account, network),
            )
            if cur.rowcount != 1:
                found = conn.execute(
                    "SELECT state FROM deliveries WHERE entry_id = ? AND account = ? AND network = ?",
                    (entry_id, account, network),
                ).fetchone()
                what = f"it is {found[0]}" if found else "it has no row"
                raise LedgerError(
                    f"ledger {self.path}: cannot settle {entry_id} for {account} on {network}:"
                    f" {what}, not claimed"
                )

    def record_missed(self, entry_id: str, account: str, network: str, *,
                      scheduled: datetime, now: datetime, reason: str) -> bool:
        """Record an entry too late to publish, unless its key has a row; True if recorded."""
        with self._writing(f"record {entry_id} for {account} on {network} as missed") as conn:
            cur = conn.execute(
                "INSERT INTO deliveries (entry_id, account, network, state, reason, scheduled,"
                " settled_at, attempts) VALUES (?, ?, ?, 'missed', ?, ?, ?, 0)"
                " ON CONFLICT (entry_id, account, network) DO NOTHING",
                (entry_id, account, network, reason, _iso(scheduled), _iso(now)),
            )
            return cur.rowcount == 1

    def recover(self, now: datetime) -> list[Row]:
        """Make every row left claimed by a dead process uncertain; return them (deliveries first)."""
        stamp = _iso(now)
        with self._writing("recover rows left claimed") as conn:
            deliveries = [_delivery(r) for r in conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'claimed'"
                " ORDER BY claimed_at")]
            switches = [_switch(r) for r in conn.execute(
                f"SELECT {_SWITCH_COLUMNS} FROM switches WHERE state = 'claimed' ORDER BY id")]
            for table in ("deliveries", "switches"):
                conn.execute(
                    f"UPDATE {table} SET state = 'uncertain', reason = ?, settled_at = ?"
                    " WHERE state = 'claimed'", (STOPPED_REASON, stamp))
        settled = datetime.fromisoformat(stamp)
        return [replace(r, state="uncertain", reason=STOPPED_REASON, settled_at=settled)
                for r in deliveries + switches]

    def state_of(self, entry_id: str, account: str, network: str) -> Row | None:
        with self._reading(f"read {entry_id} for {account} on {network}") as conn:
            found = conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"
                " WHERE entry_id = ? AND account = ? AND network = ?",
                (entry_id, account, network),
            ).fetchone()
        return _delivery(found) if found else None

    def remote_id(self, entry_id: str, account: str, network: str) -> str | None:
        row = self.state_of(entry_id, account, network)
        return row.remote_id if row else None

    def states_for(self, keys: Iterable[Key]) -> dict[Key, str]:
        """State of each key that has a row; keys without one are absent.

        Batched: one `entry_id IN (...)` query per (account, network) and chunk
        of sorted ids, so each query walks the primary key in order.
        """
        by_lane: dict[tuple[str, str], set[str]] = {}
        for entry_id, account, network in keys:
            by_lane.setdefault((account, network), set()).add(entry_id)
        out: dict[Key, str] = {}
        with self._reading("read delivery states") as conn:
            for (account, network), ids in by_lane.items():
                ordered = sorted(ids)
                for start in range(0, len(ordered), _CHUNK):
                    chunk = ordered[start:start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    for entry_id, state in conn.execute(
                        f"SELECT entry_id, state FROM deliveries WHERE entry_id IN ({marks})"
                        " AND account = ? AND network = ?", (*chunk, account, network)):
                        out[(entry_id, account, network)] = state
        return out

    def counts(self) -> dict[str, int]:
        """Number of deliveries in each state (every state present, zeros included)."""
        out = dict.fromkeys(DELIVERY_STATES, 0)
        with self._reading("count deliveries") as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state"):
                out[state] = n
        return out

    def problems(self, limit: int | None = None) -> list[Row]:
        """Failed, uncertain and missed deliveries, and failed or uncertain switches, newest first.

        Deliveries are dated by their scheduled instant, switches by their claim.
        """
        cap = -1 if limit is None else limit  # LIMIT -1: no limit
        with self._reading("read problems") as conn:
            rows = [_delivery(r) for r in conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries"
                " WHERE state IN ('failed', 'uncertain', 'missed')"
                " ORDER BY scheduled DESC, entry_id DESC LIMIT ?", (cap,))]
            rows += [_switch(r) for r in conn.execute(
                f"SELECT {_SWITCH_COLUMNS} FROM switches WHERE state IN ('failed', 'uncertain')"
                " ORDER BY at DESC, id DESC LIMIT ?", (cap,))]
        rows.sort(key=lambda r: r.scheduled or r.claimed_at, reverse=True)
        return rows if limit is None else rows[:limit]

    def last_posted(self) -> Row | None:
        """The delivery posted last (latest settled_at), or None."""
        with self._reading("read the last posted entry") as conn:
            found = conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE state = 'posted'"
                " ORDER BY settled_at DESC LIMIT 1").fetchone()
        return _delivery(found) if found else None

    def resolve(self, entry_id: str, *, posted: bool, remote_id: str | None = None,
                now: datetime, network: str | None = None) -> list[Row]:
        """Settle the uncertain rows of an entry by hand; return them as settled.

        posted=True makes them posted (with `remote_id`), posted=False failed.
        `network` narrows to one network; it is required when a remote id is
        given and the entry is uncertain on several networks.
        """
        state, reason = ("posted", POSTED_REASON) if posted else ("failed", NOT_POSTED_REASON)
        stamp = _iso(now)
        where = "entry_id = ? AND state = 'uncertain'" + (" AND network = ?" if network else "")
        args = (entry_id, network) if network else (entry_id,)
        with self._writing(f"resolve {entry_id}") as conn:
            found = [_delivery(r) for r in conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE {where}"
                " ORDER BY account, network", args)]
            if not found:
                on = f" on {network}" if network else ""
                raise LedgerError(f"ledger {self.path}: entry {entry_id} has no uncertain delivery{on}")
            if remote_id is not None and len(found) > 1:
                nets = ", ".join(r.network for r in found)
                raise LedgerError(
                    f"ledger {self.path}: entry {entry_id} is uncertain on several networks"
                    f" ({nets}); name the one the remote id belongs to")
            conn.execute(
                "UPDATE deliveries SET state = ?, reason = ?, remote_id = coalesce(?, remote_id),"
                f" settled_at = ? WHERE {where}", (state, reason, remote_id, stamp, *args))
        settled = datetime.fromisoformat(stamp)
        return [replace(r, state=state, reason=reason, settled_at=settled,
                        remote_id=remote_id if remote_id is not None else r.remote_id)
                for r in found]

    # -- persona switches ----------------------------------------------------

    def claim_switch(self, account: str, network: str, persona: str, entry_id: str | None, *,
                     now: datetime) -> int:
        """Commit a claimed switch before the network call; return its id.

        `entry_id` is the storm's entry, or None for a start-up correction.
        """
        with self._writing(f"claim a switch of {account} on {network} to {persona}") as conn:
            cur = conn.execute(
                "INSERT INTO switches (account, network, persona, entry_id, state, at)"
                " VALUES (?, ?, ?, ?, 'claimed', ?)",
                (account, network, persona, entry_id, _iso(now)))
            return cur.lastrowid

    def settle_switch(self, switch_id: int, state: str, *, now: datetime,
                      reason: str | None = None) -> None:
        """Move a claimed switch to posted, failed or uncertain (LedgerError if not claimed)."""
        _check_state(state, SETTLED_STATES)
        with self._writing(f"settle persona switch {switch_id}") as conn:
            cur = conn.execute(
                "UPDATE switches SET state = ?, reason = ?, settled_at = ?"
                " WHERE id = ? AND state = 'claimed'", (state, reason, _iso(now), switch_id))
            if cur.rowcount != 1:
                raise LedgerError(
                    f"ledger {self.path}: persona switch {switch_id} is not claimed")

    def switch(self, switch_id: int) -> Row | None:
        with self._reading(f"read persona switch {switch_id}") as conn:
            found = conn.execute(
                f"SELECT {_SWITCH_COLUMNS} FROM switches WHERE id = ?", (switch_id,)).fetchone()
        return _switch(found) if found else None

    def current_persona(self, account: str, network: str) -> str | None:
        """The persona of the account's last posted switch on that network, or None."""
        with self._reading(f"read the persona of {account} on {network}") as conn:
            found = conn.execute(
                "SELECT persona FROM switches WHERE account = ? AND network = ?"
                " AND state = 'posted' ORDER BY id DESC LIMIT 1", (account, network)).fetchone()
        return found[0] if found else None

    # -- used by the service ---------------------------------------------------

    def release(self, entry_id: str, account: str, network: str) -> None:
        """Drop a claim whose call certainly created nothing (a retryable error), so the
        delivery is pending again; only a row still claimed is removed."""
        with self._writing(f"release {entry_id} for {account} on {network}") as conn:
            conn.execute(
                "DELETE FROM deliveries WHERE entry_id = ? AND account = ? AND network = ?"
                " AND state = 'claimed'", (entry_id, account, network))

    def record_missed_many(self, rows: Iterable[tuple[Key, datetime, str]], *, now: datetime) -> int:
        """`record_missed` for many (key, scheduled, reason) in one transaction; returns how many were new."""
        stamp = _iso(now)
        params = [(*key, reason, _iso(scheduled), stamp) for key, scheduled, reason in rows]
        with self._writing(f"record {len(params)} entries as missed") as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO deliveries (entry_id, account, network, state, reason, scheduled,"
                " settled_at, attempts) VALUES (?, ?, ?, 'missed', ?, ?, ?, 0)"
                " ON CONFLICT (entry_id, account, network) DO NOTHING", params)
            return conn.total_changes - before

    def posted_hashes(self) -> dict[str, str]:
        """Text hash of every posted entry (any account or network), by entry id."""
        with self._reading("read the posted entries") as conn:
            return dict(conn.execute(
                "SELECT entry_id, text_hash FROM deliveries WHERE state = 'posted' AND text_hash IS NOT NULL"))

    def last_switch(self, account: str, network: str) -> Row | None:
        """The account's last persona switch on that network, in any state, or None."""
        with self._reading(f"read the last switch of {account} on {network}") as conn:
            found = conn.execute(
                f"SELECT {_SWITCH_COLUMNS} FROM switches WHERE account = ? AND network = ?"
                " ORDER BY id DESC LIMIT 1", (account, network)).fetchone()
        return _switch(found) if found else None

    # -- plumbing ------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            conn = self._live()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise _failure(self.path, f"cannot {action}", exc) from exc

    @contextmanager
    def _writing(self, action: str) -> Iterator[sqlite3.Connection]:
        """One committed transaction; rolled back on any error."""
        with self._mutex:
            conn = self._live()
            if self.readonly:
                raise LedgerError(f"ledger {self.path}: opened read-only, cannot {action}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.Error):
                    raise _failure(self.path, f"cannot {action}", exc) from exc
                raise

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"ledger {self.path}: already closed")
        return self._conn


# -- opening helpers -----------------------------------------------------------

def _take_lock(path: Path, now: datetime | None) -> ProcessLock:
    since = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    holder = f"pid {os.getpid()} on {socket.gethostname()}, since {since:%Y-%m-%dT%H:%M:%SZ}"
    lock_path = Path(f"{path}.lock")
    try:
        return ProcessLock.take(lock_path, holder)
    except LockHeld as held:
        raise LedgerLocked(path, held.holder) from None
    except OSError as exc:
        raise LedgerError(f"ledger {path}: cannot take the lock {lock_path}: {exc.strerror}") from exc


def _connect(path: Path) -> sqlite3.Connection:
    conn = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise LedgerError(f"ledger {path}: the file system does not support WAL mode")
        conn.execute("PRAGMA synchronous = FULL")
        _migrate(conn, path)
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()  # an open transaction is rolled back
        if isinstance(exc, sqlite3.Error):
            raise _failure(path, "cannot open", exc) from exc
        raise


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the missing migration steps in one transaction.

    Writing user_version even when nothing is missing proves at open that the
    file is writable (SQLite opens a read-only file without complaint).
    """
    conn.execute("BEGIN IMMEDIATE")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    _check_version(version, path)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            for statement in step:
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise _failure(path, f"cannot migrate to schema version {number}", exc) from exc
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    conn.execute("COMMIT")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LedgerError(f"ledger {path}: no such file (nothing has run with this ledger yet?)")
    conn = None
    try:
        flags = "mode=ro" + ("&immutable=1" if _frozen(path) else "")
        conn = sqlite3.connect(f"file:{quote(os.fspath(path))}?{flags}", uri=True,
                               isolation_level=None, check_same_thread=False, timeout=5.0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        _check_version(version, path)
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            raise LedgerError(f"ledger {path}: empty, nothing recorded yet (a bot may be creating it: try again)")
        if version < len(MIGRATIONS):
            raise LedgerError(
                f"ledger {path}: schema version {version} is older than {len(MIGRATIONS)};"
                " open it once for writing (bot run) to migrate it")
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise _failure(path, "cannot open", exc) from exc
        raise


def _frozen(path: Path) -> bool:
    """True when nothing can change the file: it sits on a read-only file system with
    no WAL left to replay. SQLite cannot open such a WAL database read-only (it would
    have to create the -shm file) unless told it is immutable."""
    try:
        readonly = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        wal = Path(f"{path}-wal")
        return readonly and (not wal.exists() or wal.stat().st_size == 0)
    except OSError:
        return False


def _check_version(version: int, path: Path) -> None:
    if version > len(MIGRATIONS):
        raise LedgerError(
            f"ledger {path}: schema version {version} is newer than this bot knows"
            f" ({len(MIGRATIONS)}); upgrade the bot")


# -- row and value helpers -------------------------------------------------------

def _failure(path: Path, what: str, exc: BaseException) -> LedgerError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return LedgerError(f"ledger {path}: {what}: {detail}")


def _check_state(state: str, allowed: tuple[str, ...]) -> None:
    if state not in allowed:
        raise ValueError(f"state must be one of {', '.join(allowed)}, not {state!r}")


def _iso(moment: datetime) -> str:
    """Fixed-width, sortable ISO UTC text; refuses naive datetimes."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _delivery(r: tuple) -> Row:
    entry_id, account, network, state, reason, remote_id, scheduled, claimed, settled, text_hash, attempts = r
    return Row("delivery", entry_id, account, network, state, reason, remote_id,
               _when(scheduled), _when(claimed), _when(settled), text_hash, attempts)


def _switch(r: tuple) -> Row:
    switch_id, account, network, persona, entry_id, state, reason, at, settled = r
    return Row("switch", entry_id, account, network, state, reason,
               claimed_at=_when(at), settled_at=_when(settled), persona=persona, switch_id=switch_id)
