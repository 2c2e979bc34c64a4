"""What every ledger backend shares: the interface and the SQL where the dialects agree.

`BaseLedger` holds every query of the ledger, written once with `?` placeholders
(the PostgreSQL backend turns them into `%s`); those of persona switches are its
part `SwitchRecords` (`bot.run.ledger.switches`). Times are stored as fixed-width
ISO UTC text in both backends, so rows read back the same and sort by time.
A backend provides `open`, `close` and the two plumbing context managers:

    _reading(action)   a connection for reads
    _writing(action)   one committed transaction (rolled back on any error); the
                       PostgreSQL backend also checks there that this process still
                       holds the lease (its epoch), or raises `Deposed`

each yielding an object with `execute(sql, params)` and `executemany(sql, rows)`
that return a cursor (fetchone, fetchall, iteration, rowcount), and turning every
driver error into a one-line `LedgerError` that names the ledger (`path`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime

from bot.errors import LedgerError
from bot.run.ledger.rows import (
    DELIVERY_STATES,
    NOT_POSTED_REASON,
    POSTED_REASON,
    SETTLED_STATES,
    STOPPED_REASON,
    Key,
    Row,
    check_state,
    iso,
    when,
)
from bot.run.ledger.switches import SWITCH_COLUMNS, SwitchRecords, switch_row

DELIVERY_COLUMNS = (
    "entry_id, account, network, state, reason, remote_id,"
    " scheduled, claimed_at, settled_at, text_hash, attempts"
)
CHUNK = 900  # ids per IN query, under the oldest SQLite limit of 999 parameters


class BaseLedger(SwitchRecords, ABC):
    """A ledger; use as a context manager or call `close()`. Safe to share between threads."""

    path: object  # what messages name: the file, or the URL with its password masked
    readonly: bool = False
    shared: bool = False  # several processes may open it for writing (one of them active)

    @abstractmethod
    def close(self) -> None:
        """Close the ledger (idempotent)."""

    @abstractmethod
    def ping(self, timeout: float = 2.0) -> None:
        """LedgerError unless the ledger answers within `timeout` seconds (bot.ops.health)."""

    @abstractmethod
    def _reading(self, action: str) -> AbstractContextManager:
        ...

    @abstractmethod
    def _writing(self, action: str) -> AbstractContextManager:
        ...

    def __enter__(self):
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
                (entry_id, account, network, iso(scheduled), iso(now), text_hash),
            )
            return cur.rowcount == 1

    def settle(self, entry_id: str, account: str, network: str, state: str, *,
               now: datetime, reason: str | None = None, remote_id: str | None = None,
               attempts: int | None = None) -> None:
        """Move a claimed row to posted, failed or uncertain (LedgerError if it is not claimed,
        unless it is in that state already: settling again is harmless).

        `attempts`, when given, records how many requests the call made (retries included).
        """
        check_state(state, SETTLED_STATES)
        with self._writing(f"settle {entry_id} for {account} on {network}") as conn:
            cur = conn.execute(
                "UPDATE deliveries SET state = ?, reason = ?, remote_id = coalesce(?, remote_id),"
                " settled_at = ?, attempts = coalesce(?, attempts)"
                " WHERE entry_id = ? AND account = ? AND network = ? AND state = 'claimed'",
                (state, reason, remote_id, iso(now), attempts, entry_id, account, network),
            )
            if cur.rowcount != 1:
                found = conn.execute(
                    "SELECT state, remote_id FROM deliveries WHERE entry_id = ? AND account = ? AND network = ?",
                    (entry_id, account, network),
                ).fetchone()
                if found and found[0] == state and (remote_id is None or found[1] == remote_id):
                    return  # settled so already: a retry of a commit whose answer was lost
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
                (entry_id, account, network, reason, iso(scheduled), iso(now)),
            )
            return cur.rowcount == 1

    def recover(self, now: datetime) -> list[Row]:
        """Make every row left claimed by a dead process uncertain; return them (deliveries first)."""
        stamp = iso(now)
        with self._writing("recover rows left claimed") as conn:
            deliveries = [delivery_row(r) for r in conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'claimed'"
                " ORDER BY claimed_at")]
            switches = [switch_row(r) for r in conn.execute(
                f"SELECT {SWITCH_COLUMNS} FROM switches WHERE state = 'claimed' ORDER BY id")]
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
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
                " WHERE entry_id = ? AND account = ? AND network = ?",
                (entry_id, account, network),
            ).fetchone()
        return delivery_row(found) if found else None

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
                for start in range(0, len(ordered), CHUNK):
                    chunk = ordered[start:start + CHUNK]
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

        A switch problem followed by a successful switch of the same account on the
        same network is over (the persona converged). Deliveries are dated by their
        scheduled instant, switches by their claim.
        """
        cap, args = ("", ()) if limit is None else (" LIMIT ?", (limit,))
        with self._reading("read problems") as conn:
            rows = [delivery_row(r) for r in conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
                " WHERE state IN ('failed', 'uncertain', 'missed')"
                f" ORDER BY scheduled DESC, entry_id DESC{cap}", args)]
            rows += [switch_row(r) for r in conn.execute(
                f"SELECT {SWITCH_COLUMNS} FROM switches AS s WHERE state IN ('failed', 'uncertain')"
                " AND NOT EXISTS (SELECT 1 FROM switches AS later WHERE later.account = s.account"
                " AND later.network = s.network AND later.id > s.id AND later.state = 'posted')"
                f" ORDER BY at DESC, id DESC{cap}", args)]
        rows.sort(key=lambda r: r.scheduled or r.claimed_at, reverse=True)
        return rows if limit is None else rows[:limit]

    def last_posted(self) -> Row | None:
        """The delivery posted last (latest settled_at), or None."""
        with self._reading("read the last posted entry") as conn:
            found = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'posted'"
                " ORDER BY settled_at DESC LIMIT 1").fetchone()
        return delivery_row(found) if found else None

    def resolve(self, entry_id: str, *, posted: bool, remote_id: str | None = None,
                now: datetime, network: str | None = None) -> list[Row]:
        """Settle the uncertain rows of an entry by hand; return them as settled.

        posted=True makes them posted (with `remote_id`), posted=False failed.
        `network` narrows to one network; it is required when a remote id is
        given and the entry is uncertain on several networks.
        """
        state, reason = ("posted", POSTED_REASON) if posted else ("failed", NOT_POSTED_REASON)
        stamp = iso(now)
        where = "entry_id = ? AND state = 'uncertain'" + (" AND network = ?" if network else "")
        args = (entry_id, network) if network else (entry_id,)
        with self._writing(f"resolve {entry_id}") as conn:
            found = [delivery_row(r) for r in conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE {where}"
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
        stamp = iso(now)
        params = [(*key, reason, iso(scheduled), stamp) for key, scheduled, reason in rows]
        if not params:
            return 0
        with self._writing(f"record {len(params)} entries as missed") as conn:
            cur = conn.executemany(
                "INSERT INTO deliveries (entry_id, account, network, state, reason, scheduled,"
                " settled_at, attempts) VALUES (?, ?, ?, 'missed', ?, ?, ?, 0)"
                " ON CONFLICT (entry_id, account, network) DO NOTHING", params)
            return cur.rowcount

    def posted_hashes(self) -> dict[str, str]:
        """Text hash of every posted entry (any account or network), by entry id."""
        with self._reading("read the posted entries") as conn:
            return dict(conn.execute(
                "SELECT entry_id, text_hash FROM deliveries WHERE state = 'posted' AND text_hash IS NOT NULL"))

    # -- reconciliation ------------------------------------------------------

    def uncertain(self) -> list[Row]:
        """Every uncertain delivery, oldest claim first."""
        with self._reading("read uncertain deliveries") as conn:
            return [delivery_row(r) for r in conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'uncertain' ORDER BY claimed_at")]

    def reconciled(self, entry_id: str, account: str, network: str, state: str, *, now: datetime,
                   reason: str, remote_id: str | None = None) -> bool:
        """Settle an uncertain delivery by what the network said (posted, missed or failed).
        False when it is no longer uncertain (resolved by hand meanwhile)."""
        check_state(state, ("posted", "missed", "failed"))
        with self._writing(f"reconcile {entry_id} for {account} on {network}") as conn:
            cur = conn.execute(
                "UPDATE deliveries SET state = ?, reason = ?, remote_id = coalesce(?, remote_id), settled_at = ?"
                " WHERE entry_id = ? AND account = ? AND network = ? AND state = 'uncertain'",
                (state, reason, remote_id, iso(now), entry_id, account, network))
            return cur.rowcount == 1

    def reopen(self, entry_id: str, account: str, network: str) -> bool:
        """Drop an uncertain row once the network proved the post does not exist, so the
        delivery is pending again (and claimed anew before its next call). False if
        it is no longer uncertain."""
        with self._writing(f"reopen {entry_id} for {account} on {network}") as conn:
            cur = conn.execute(
                "DELETE FROM deliveries WHERE entry_id = ? AND account = ? AND network = ?"
                " AND state = 'uncertain'", (entry_id, account, network))
            return cur.rowcount == 1

    def networks(self) -> set[str]:
        """The networks the ledger has deliveries on."""
        with self._reading("read the networks") as conn:
            return {n for (n,) in conn.execute("SELECT DISTINCT network FROM deliveries")}

    def settled_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Deliveries settled (or recorded missed) in [start, end), by state (for the daily summary)."""
        out = dict.fromkeys(DELIVERY_STATES, 0)
        with self._reading("count deliveries settled in a day") as conn:
            for state, n in conn.execute("SELECT state, count(*) FROM deliveries WHERE settled_at >= ?"
                                         " AND settled_at < ? GROUP BY state", (iso(start), iso(end))):
                out[state] = n
        return out

    # -- settings kept with the record ----------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._reading(f"read {key}") as conn:
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return found[0] if found else None

    def set_meta(self, key: str, value: str) -> None:
        with self._writing(f"keep {key}") as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))


def delivery_row(r: tuple) -> Row:
    entry_id, account, network, state, reason, remote_id, scheduled, claimed, settled, text_hash, attempts = r
    return Row("delivery", entry_id, account, network, state, reason, remote_id,
               when(scheduled), when(claimed), when(settled), text_hash, attempts)
