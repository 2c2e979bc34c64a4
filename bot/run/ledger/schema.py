"""The SQLite ledger's schema: numbered migrations, applied in one transaction.

Step i takes the file from user_version i to i + 1. Append new steps; never
edit a released one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.errors import LedgerError

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
MIGRATIONS.append((  # 2: convergence (issue 11) and settings kept in the ledger
    # a switch refused for good is not tried again at the next start; a transient one is
    "ALTER TABLE switches ADD COLUMN permanent INTEGER NOT NULL DEFAULT 0",
    # what the last successful switch uploaded, to tell drift without uploading again
    "ALTER TABLE switches ADD COLUMN avatar_digest TEXT",
    "ALTER TABLE switches ADD COLUMN avatar_ref TEXT",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
))


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the missing migration steps in one transaction.

    Writing user_version even when nothing is missing proves at open that the
    file is writable (SQLite opens a read-only file without complaint).
    """
    conn.execute("BEGIN IMMEDIATE")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    check_version(version, path)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            for statement in step:
                conn.execute(statement)
        except sqlite3.Error as exc:
            raise failure(path, f"cannot migrate to schema version {number}", exc) from exc
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
    conn.execute("COMMIT")


def check_version(version: int, path: Path) -> None:
    if version > len(MIGRATIONS):
        raise LedgerError(
            f"ledger {path}: schema version {version} is newer than this bot knows"
            f" ({len(MIGRATIONS)}); upgrade the bot")





def failure(path: Path, what: str, exc: BaseException) -> LedgerError:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return LedgerError(f"ledger {path}: {what}: {detail}")
