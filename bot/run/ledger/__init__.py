"""The ledger: the only record of what the bot did.

One interface (`base.BaseLedger`), two backends: SQLite (`sqlite`, one file, one
writing process: the embedded default) and PostgreSQL (`postgres`, several
processes on several hosts, one of them active: a lease with an epoch fences
every write). `open_ledger(target)` picks the backend: a `postgresql://` or
`postgres://` URL opens PostgreSQL, anything else is a SQLite file. `rows` holds
the row and state vocabulary every backend shares, `schema` and `pgschema` the
numbered migrations, `files` the opening of the SQLite file (lock, WAL, read-only).
"""

from __future__ import annotations

import os
from datetime import datetime

from bot.run.ledger.base import BaseLedger
from bot.run.ledger.rows import (
    DELIVERY_STATES,
    NOT_POSTED_REASON,
    POSTED_REASON,
    SETTLED_STATES,
    STOPPED_REASON,
    SWITCH_STATES,
    Key,
    Row,
)
from bot.run.ledger.schema import MIGRATIONS
from bot.run.ledger.sqlite import Ledger
from bot.settings import is_postgres

__all__ = [
    "DELIVERY_STATES", "MIGRATIONS", "NOT_POSTED_REASON", "POSTED_REASON", "SETTLED_STATES",
    "REHEARSAL", "STOPPED_REASON", "SWITCH_STATES", "YEARS_LATER", "BaseLedger", "Key", "Ledger", "Row",
    "kept_years_later", "ledger_exists", "open_ledger",
]

YEARS_LATER = "years_later"  # the meta key
REHEARSAL = "rehearsal"  # meta: a rehearsal's start, anchor and speed (Rehearsal.dumps)


def open_ledger(target: str | os.PathLike, *, readonly: bool = False, lock: bool = True,
                now: datetime | None = None, fenced: bool = False) -> BaseLedger:
    """The ledger at `target`: a PostgreSQL URL or a SQLite file (LedgerError if it cannot be opened).

    `readonly`: never writes (`bot status`). SQLite: a writer takes the process lock
    unless `lock=False`. PostgreSQL: `fenced` (`bot run`) makes every write check that
    this process holds the lease (see `postgres.PostgresLedger`).
    """
    if is_postgres(target):
        from bot.run.ledger.postgres import PostgresLedger

        return PostgresLedger.open(os.fspath(target), readonly=readonly, fenced=fenced)
    return Ledger.open(target, readonly=readonly, lock=lock, now=now)


def ledger_exists(target: str | os.PathLike) -> bool:
    """Is there a ledger to read? (A PostgreSQL URL is taken to be one: the open says otherwise.)"""
    from pathlib import Path

    return is_postgres(target) or Path(target).is_file()


def kept_years_later(target) -> int | None:
    """The years_later the ledger at `target` keeps from its first run (None: no ledger, none
    kept, or unreadable: the caller decides without it)."""
    from bot.errors import LedgerError

    if not ledger_exists(target):
        return None
    try:
        with open_ledger(target, readonly=True) as ledger:
            value = ledger.get_meta(YEARS_LATER)
    except LedgerError:
        return None
    return int(value) if value and value.isdigit() else None
