"""Ledger rows and their states, shared by every ledger backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

DELIVERY_STATES = ("claimed", "posted", "failed", "missed", "uncertain")
SWITCH_STATES = ("claimed", "posted", "failed", "uncertain")
SETTLED_STATES = ("posted", "failed", "uncertain")
STOPPED_REASON = "process stopped during the call"
NOT_POSTED_REASON = "not posted (resolved by hand)"
POSTED_REASON = "posted (resolved by hand)"

Key = tuple[str, str, str]  # (entry_id, account, network)


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
    permanent: bool = False  # a switch refused for good (not retried at the next start)
    avatar_digest: str | None = None  # a switch: SHA-256 of the avatar file it uploaded
    avatar_ref: str | None = None  # a switch: the network's reference to that avatar

    @property
    def key(self) -> Key:
        return (self.entry_id, self.account, self.network)




def check_state(state: str, allowed: tuple[str, ...]) -> None:
    if state not in allowed:
        raise ValueError(f"state must be one of {', '.join(allowed)}, not {state!r}")


def iso(moment: datetime) -> str:
    """Fixed-width, sortable ISO UTC text; refuses naive datetimes."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
