"""The persona switch rows of every ledger backend: one row per switch, claimed
before the network call and settled after it (the `switches` table).

`SwitchRecords` is a part of `BaseLedger` (`bot.run.ledger.base`), whose `_reading` and
`_writing` it uses; its SQL, like the rest of the ledger's, is written once for both
backends.
"""

from __future__ import annotations

from datetime import datetime

from bot.errors import LedgerError
from bot.run.ledger.rows import SETTLED_STATES, Row, check_state, iso, when

SWITCH_COLUMNS = ("id, account, network, persona, entry_id, state, reason, at, settled_at,"
                  " permanent, avatar_digest, avatar_ref")


class SwitchRecords:
    """Persona switches: claim, settle, and what each account wears on each network."""

    def claim_switch(self, account: str, network: str, persona: str, entry_id: str | None, *,
                     now: datetime, avatar_digest: str | None = None) -> int:
        """Commit a claimed switch before the network call; return its id.

        `entry_id` is the storm's entry, or None for a start-up correction or repair;
        `avatar_digest` the SHA-256 of the avatar file the switch uploads.
        """
        with self._writing(f"claim a switch of {account} on {network} to {persona}") as conn:
            return conn.execute(
                "INSERT INTO switches (account, network, persona, entry_id, state, at, avatar_digest)"
                " VALUES (?, ?, ?, ?, 'claimed', ?, ?) RETURNING id",
                (account, network, persona, entry_id, iso(now), avatar_digest)).fetchall()[0][0]

    def settle_switch(self, switch_id: int, state: str, *, now: datetime, reason: str | None = None,
                      permanent: bool = False, avatar_ref: str | None = None) -> None:
        """Move a claimed switch to posted, failed or uncertain (LedgerError if not claimed).

        `permanent`: a failure the network will repeat (refused), not tried again at
        the next start; `avatar_ref`: the network's reference to the avatar now worn.
        """
        check_state(state, SETTLED_STATES)
        with self._writing(f"settle persona switch {switch_id}") as conn:
            cur = conn.execute(
                "UPDATE switches SET state = ?, reason = ?, settled_at = ?, permanent = ?, avatar_ref = ?"
                " WHERE id = ? AND state = 'claimed'",
                (state, reason, iso(now), int(permanent), avatar_ref, switch_id))
            if cur.rowcount != 1:
                found = conn.execute("SELECT state FROM switches WHERE id = ?", (switch_id,)).fetchone()
                if found and found[0] == state:
                    return  # settled so already: a retry of a commit whose answer was lost
                raise LedgerError(
                    f"ledger {self.path}: persona switch {switch_id} is not claimed")

    def switch(self, switch_id: int) -> Row | None:
        with self._reading(f"read persona switch {switch_id}") as conn:
            found = conn.execute(
                f"SELECT {SWITCH_COLUMNS} FROM switches WHERE id = ?", (switch_id,)).fetchone()
        return switch_row(found) if found else None

    def current_persona(self, account: str, network: str) -> str | None:
        """The persona of the account's last posted switch on that network, or None."""
        good = self.last_good_switch(account, network)
        return good.persona if good else None

    def last_switch(self, account: str, network: str) -> Row | None:
        """The account's last persona switch on that network, in any state, or None."""
        return self._latest_switch(account, network, posted_only=False)

    def switch_count(self, state: str) -> int:
        with self._reading("count persona switches") as conn:
            return conn.execute("SELECT count(*) FROM switches WHERE state = ?", (state,)).fetchone()[0]

    def last_good_switch(self, account: str, network: str) -> Row | None:
        """The account's last successful switch on that network, or None."""
        return self._latest_switch(account, network, posted_only=True)

    def _latest_switch(self, account: str, network: str, *, posted_only: bool) -> Row | None:
        posted = " AND state = 'posted'" if posted_only else ""
        with self._reading(f"read the last switch of {account} on {network}") as conn:
            found = conn.execute(
                f"SELECT {SWITCH_COLUMNS} FROM switches WHERE account = ? AND network = ?{posted}"
                " ORDER BY id DESC LIMIT 1", (account, network)).fetchone()
        return switch_row(found) if found else None

    def worn(self) -> dict[tuple[str, str], str]:
        """The persona of each (account, network)'s last successful switch."""
        with self._reading("read the personas worn") as conn:
            return {(a, n): p for a, n, p in conn.execute(
                "SELECT account, network, persona FROM switches AS s WHERE state = 'posted'"
                " AND id = (SELECT max(id) FROM switches WHERE account = s.account"
                " AND network = s.network AND state = 'posted')")}


def switch_row(r: tuple) -> Row:
    switch_id, account, network, persona, entry_id, state, reason, at, settled, permanent, digest, ref = r
    return Row("switch", entry_id, account, network, state, reason,
               claimed_at=when(at), settled_at=when(settled), persona=persona, switch_id=switch_id,
               permanent=bool(permanent), avatar_digest=digest, avatar_ref=ref)
