"""The ledger: the only record of what the bot did.

`Ledger.open(path)` opens the SQLite ledger (`sqlite`); `rows` holds the row
and state vocabulary every backend shares, `schema` the numbered migrations,
`files` the opening of the file (lock, WAL, read-only).
"""

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

__all__ = [
    "DELIVERY_STATES", "MIGRATIONS", "NOT_POSTED_REASON", "POSTED_REASON", "SETTLED_STATES",
    "REHEARSAL", "STOPPED_REASON", "SWITCH_STATES", "YEARS_LATER", "Key", "Ledger", "Row", "kept_years_later",
]


def kept_years_later(path) -> int | None:
    """The years_later the ledger at `path` keeps from its first run (None: no ledger, none kept,
    or unreadable: the caller decides without it)."""
    from pathlib import Path

    from bot.errors import LedgerError

    if not Path(path).is_file():
        return None
    try:
        with Ledger.open(path, readonly=True) as ledger:
            value = ledger.get_meta(YEARS_LATER)
    except LedgerError:
        return None
    return int(value) if value and value.isdigit() else None


YEARS_LATER = "years_later"  # the meta key
REHEARSAL = "rehearsal"  # meta: a rehearsal's start, anchor and speed (Rehearsal.dumps)
