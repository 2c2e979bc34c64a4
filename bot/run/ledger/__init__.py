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
    "STOPPED_REASON", "SWITCH_STATES", "Key", "Ledger", "Row",
]
