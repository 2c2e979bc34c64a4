"""A direct look into a SQLite ledger, with plain sqlite3 (what a test sees, not what the bot says)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LedgerRow:
    entry_id: str
    account: str
    state: str
    reason: str | None
    remote_id: str | None


def open_ledger(path: Path, *, readonly: bool = False) -> sqlite3.Connection | None:
    """The ledger, or None while it does not exist or has no schema yet.

    The bot creates the file a moment before its tables, so a reader polling a
    starting bot (or one killed in between) can find an empty database. A
    read-write connection lets SQLite replay the WAL of a killed process."""
    if not Path(path).exists():
        return None
    target = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(target, uri=True, timeout=5)
    try:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('deliveries', 'switches')").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    if tables < 2:
        conn.close()
        return None
    return conn


def ledger_rows(path: Path) -> dict[str, LedgerRow]:
    """Delivery rows by entry id (X only here), read with plain sqlite3."""
    conn = open_ledger(path, readonly=True)
    if conn is None:
        return {}
    try:
        return {r[0]: LedgerRow(*r) for r in conn.execute(
            "SELECT entry_id, account, state, reason, remote_id FROM deliveries")}
    finally:
        conn.close()


def ledger_switches(path: Path) -> list[tuple]:
    """(id, account, persona, entry_id, state, reason) of every persona switch, oldest first."""
    conn = open_ledger(path, readonly=True)
    if conn is None:
        return []
    try:
        return list(conn.execute(
            "SELECT id, account, persona, entry_id, state, reason FROM switches ORDER BY id"))
    finally:
        conn.close()


def claimed_after_crash(path: Path) -> tuple[list[str], int]:
    """(entry ids of claimed deliveries, number of claimed switches) of a dead bot's ledger."""
    conn = open_ledger(path)
    if conn is None:
        return [], 0
    try:
        entries = [r[0] for r in conn.execute("SELECT entry_id FROM deliveries WHERE state = 'claimed'")]
        switches = conn.execute("SELECT count(*) FROM switches WHERE state = 'claimed'").fetchone()[0]
        return entries, switches
    finally:
        conn.close()


