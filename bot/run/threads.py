"""Replies wait for their parents: the threading rule, on one network.

A reply never goes out before its parent's outcome on the same network is
known. The parent's ledger row on this network decides:

    posted                  threaded: reply to its remote id (and its thread's root)
    failed, missed          standalone, with a warning naming why
    uncertain               wait while the network is asked (reconciliation); if it
                            stays unknown, wait for `bot resolve` until the reply's
                            own grace ends, then standalone with a warning
    claimed, or no row      wait (its lane is calling, retrying or has not reached
    but scheduled this run  it yet), until the reply's own grace ends
    no row, not scheduled   standalone: the parent is not posted on this network

Waiting holds back only this lane (the account's later posts stay in order);
other lanes go on. The wait ends when the parent's lane settles it (the
engine wakes every lane) or at the reply's grace end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.replay.schedule import Delivery


@dataclass(frozen=True)
class Parent:
    remote: str | None = None  # the parent's remote id on this network (None: standalone)
    root: str | None = None  # the thread root's remote id
    warning: str | None = None  # why the reply goes out standalone
    wait_until: datetime | None = None  # not known yet: step again by then

    @classmethod
    def alone(cls, warning: str | None = None) -> Parent:
        return cls(warning=warning)


def parent_of(lane, delivery: Delivery, now: datetime) -> Parent:
    ctx = lane.ctx
    parent_id = delivery.entry.reply_to
    network = lane.network
    parent_account = ctx.account_of(parent_id)
    if parent_account is None:
        return Parent.alone(f"parent {parent_id} is not in the feed")
    key = (parent_id, parent_account, network)
    grace_end = delivery.instant + timedelta(seconds=ctx.policy.grace)
    row = ctx.ledger.state_of(*key)
    state = row.state if row else None
    if state == "posted" and row.remote_id:
        root_id = ctx.root_of(parent_id)
        root = None
        if root_id != parent_id and (root_account := ctx.account_of(root_id)):
            root = ctx.ledger.remote_id(root_id, root_account, network)
        return Parent(remote=row.remote_id, root=root or row.remote_id)
    if state in ("failed", "missed", "posted"):
        return Parent.alone(f"parent {parent_id} was {state} on {network}" + (f" ({row.reason})" if row.reason else ""))
    if state is None and not ctx.expects(key):
        return Parent.alone(f"parent {parent_id} was not posted on {network}")
    if now >= grace_end:
        what = "still uncertain" if state == "uncertain" else "not settled"
        return Parent.alone(f"parent {parent_id} is {what} on {network} at the end of the reply's grace")
    if state == "uncertain" and key in ctx.given_up:  # only `bot resolve` can tell now
        return Parent(wait_until=min(grace_end, now + timedelta(seconds=ctx.policy.resolve_poll)))
    return Parent(wait_until=grace_end)
