"""The SQLite ledger: the only record of what the bot did, in one file.

One row per delivery (entry id, account, network) and one per persona switch.
A delivery is *claimed* and committed before its network call, then settled
as posted, failed or uncertain; an entry too late to publish is recorded
*missed*. A row still claimed when the service starts means the process died
mid-call: `recover` makes it uncertain, and nothing posts it again blindly
(`claim` refuses any key that has a row); only reconciliation, which asks the
network, settles it (`reconciled`) or reopens it (`reopen`) when the post is not there.

Every write is its own committed transaction (WAL, synchronous=FULL), so a
row returned from a call survives kill -9. A writer holds `<path>.lock`
(see `bot.run.lock`) for its lifetime; read-only opens (`bot status`) take no lock.
Times are aware datetimes passed in by the caller and stored as ISO UTC text.
Every SQLite or OS failure surfaces as a one-line `LedgerError` naming the path.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from bot.errors import LedgerError
from bot.run.ledger.base import BaseLedger
from bot.run.ledger.files import connect, connect_readonly, take_lock
from bot.run.ledger.schema import failure
from bot.run.lock import ProcessLock


class Ledger(BaseLedger):
    """The SQLite ledger. Open with `Ledger.open(path)`; use as a context manager or call
    `close()`. Safe to share between threads (calls are serialised); one writing process.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: ProcessLock | None, readonly: bool):
        self.path = path
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = conn
        self._lock = lock
        self._mutex = threading.RLock()
        try:
            self._inode: int | None = os.stat(path).st_ino
        except OSError:
            self._inode = None

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
            return cls(path, connect_readonly(path), None, True)
        try:
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"ledger {path}: cannot create its folder: {exc.strerror}") from exc
        held = take_lock(path, now) if lock else None
        try:
            conn = connect(path)
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

    # -- health --------------------------------------------------------------

    def ping(self, timeout: float = 2.0) -> None:
        """LedgerError unless the ledger answers within `timeout` seconds and its file is still
        the one opened (not deleted or replaced under the running service)."""
        if not self._mutex.acquire(timeout=timeout):
            raise LedgerError(f"ledger {self.path}: busy for over {timeout:g} s")
        try:
            conn = self._live()
            try:
                conn.execute("SELECT count(*) FROM meta").fetchone()
            except sqlite3.Error as exc:
                raise failure(self.path, "cannot read", exc) from exc
            try:
                now = os.stat(self.path).st_ino
            except OSError as exc:
                raise LedgerError(f"ledger {self.path}: {exc.strerror}") from None
            if self._inode is not None and now != self._inode:
                raise LedgerError(f"ledger {self.path}: the file was replaced while the service runs")
        finally:
            self._mutex.release()

    # -- plumbing ------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            conn = self._live()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise failure(self.path, f"cannot {action}", exc) from exc

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
                    raise failure(self.path, f"cannot {action}", exc) from exc
                raise

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise LedgerError(f"ledger {self.path}: already closed")
        return self._conn

