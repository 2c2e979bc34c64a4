"""Opening the SQLite ledger file: its process lock, WAL mode, the schema, and a
read-only open for `bot status` that never writes (not even on a read-only disk)."""

from __future__ import annotations

import os
import socket
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from bot.errors import LedgerError, LedgerLocked, LockHeld
from bot.run.ledger import schema
from bot.run.ledger.schema import check_version, failure, migrate
from bot.run.lock import ProcessLock


def take_lock(path: Path, now: datetime | None) -> ProcessLock:
    since = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    holder = f"pid {os.getpid()} on {socket.gethostname()}, since {since:%Y-%m-%dT%H:%M:%SZ}"
    lock_path = Path(f"{path}.lock")
    try:
        return ProcessLock.take(lock_path, holder)
    except LockHeld as held:
        raise LedgerLocked(path, held.holder) from None
    except OSError as exc:
        raise LedgerError(f"ledger {path}: cannot take the lock {lock_path}: {exc.strerror}") from exc


def connect(path: Path) -> sqlite3.Connection:
    conn = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise LedgerError(f"ledger {path}: the file system does not support WAL mode")
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, path)
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()  # an open transaction is rolled back
        if isinstance(exc, sqlite3.Error):
            raise failure(path, "cannot open", exc) from exc
        raise


def connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LedgerError(f"ledger {path}: no such file (nothing has run with this ledger yet?)")
    conn = None
    try:
        flags = "mode=ro" + ("&immutable=1" if _frozen(path) else "")
        conn = sqlite3.connect(f"file:{quote(os.fspath(path))}?{flags}", uri=True,
                               isolation_level=None, check_same_thread=False, timeout=5.0)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        check_version(version, path)
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            raise LedgerError(f"ledger {path}: empty, nothing recorded yet (a bot may be creating it: try again)")
        if version < len(schema.MIGRATIONS):
            raise LedgerError(
                f"ledger {path}: schema version {version} is older than {len(schema.MIGRATIONS)};"
                " open it once for writing (bot run) to migrate it")
        return conn
    except BaseException as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, sqlite3.Error):
            raise failure(path, "cannot open", exc) from exc
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
