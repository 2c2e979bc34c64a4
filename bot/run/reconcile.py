"""Uncertain posts reconcile themselves where the network can tell.

A post is uncertain when its call may have been acted on: a timeout or a
dropped connection after sending, a kill -9 during the call. Each lane asks
its publisher (`Publisher.reconcile`) about its uncertain deliveries: at
start, and after a call that ended uncertain, with backoff.

    found          settled posted, with the network's id
    absent         the row is reopened and the delivery published again (within
                   grace; later it is missed): the network proved nothing exists
    unknown        asked again; after `policy.lookups` answers (or a final one)
                   it stays uncertain for `bot resolve`, and replies stop
                   waiting for the lookup (they wait for the resolve until their
                   own grace ends)

Every outcome is logged and visible in the ledger (`bot status`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import Deposed, PublishError, RejectedError, TransientError
from bot.publishers.base import Found
from bot.replay.schedule import Delivery
from bot.run.logs import LOGGER, event, source
from bot.run.policy import late_reason
from bot.run.threads import Parent

log = logging.getLogger(LOGGER)


@dataclass
class Task:
    delivery: Delivery
    due: datetime
    tries: int = 0  # answers of "cannot tell" so far
    failures: int = 0  # lookups that failed (network down)


class Reconciler:
    def __init__(self, lane) -> None:
        self.lane = lane
        self.tasks: list[Task] = []

    def add(self, delivery: Delivery, due: datetime) -> None:
        self.tasks.append(Task(delivery, due))

    def due(self, now: datetime) -> Task | None:
        ready = [t for t in self.tasks if t.due <= now]
        return min(ready, key=lambda t: t.due) if ready else None

    def next_due(self) -> datetime | None:
        return min((t.due for t in self.tasks), default=None)

    def run(self, task: Task, now: datetime) -> None:
        lane = self.lane
        ctx, delivery = lane.ctx, task.delivery
        key = delivery.key
        row = ctx.ledger.state_of(*key)
        if row is None or row.state != "uncertain":  # resolved by hand meanwhile
            self._finish(task)
            return
        post = lane.outgoing(delivery, self._parent(delivery))
        may_send = (now - delivery.instant).total_seconds() <= ctx.policy.grace
        ctx.guard()  # a lookup may re-send (Mastodon's idempotent key): the active process only
        try:
            found = lane.publisher.reconcile(post, row.claimed_at or row.scheduled, now, may_send=may_send)
        except Deposed:  # the lease lapsed during the lookup: the active process looks again
            raise
        except RejectedError as exc:  # the network refuses the lookup itself: asking again will not help
            found = Found.unknown(str(exc), final=True)
        except PublishError as exc:
            wait = ctx.policy.wait(task.failures, exc if isinstance(exc, TransientError) else None)
            task.failures += 1
            task.due = ctx.clock() + timedelta(seconds=wait)
            event(logging.WARNING, "reconcile-retry", entry=key.entry_id, account=lane.account, platform=lane.network,
                                                     **source(delivery), reason=str(exc), wait_s=f"{wait:.1f}")
            return
        except Exception as exc:  # a publisher bug: leave it for bot resolve
            found = Found.unknown(f"{type(exc).__name__}: {exc}", final=True)
        now = ctx.clock()
        where = {"entry": key.entry_id, "account": lane.account, "platform": lane.network, **source(delivery)}
        if found.state == "posted":
            if ctx.ledger.reconciled(*key, "posted", now=now, remote_id=found.remote_id,
                                     reason=f"reconciled: found on the network ({found.reason or 'lookup'})"):
                event(logging.INFO, "reconciled", **where, outcome="posted", remote_id=found.remote_id)
            self._finish(task)
        elif found.state == "absent":
            late = (now - delivery.instant).total_seconds()
            if late > ctx.policy.grace:
                ctx.ledger.reconciled(*key, "missed", now=now,
                                      reason=f"reconciled: not on the network, and {late_reason(late, ctx.policy.grace)}")
                event(logging.WARNING, "reconciled", **where, outcome="missed", reason="not on the network, over the grace")
            elif ctx.ledger.reopen(*key):
                event(logging.INFO, "reconciled", **where, outcome="absent", note="not on the network: publishing it again")
                lane.queue.appendleft(delivery)  # older than anything queued
            self._finish(task)
        else:
            task.tries += 1
            if found.final or task.tries >= ctx.policy.lookups:
                ctx.given_up.add(key)
                event(logging.WARNING, "reconcile-unknown", **where, reason=found.reason,
                                                           note="left uncertain for bot resolve")
                self._finish(task)
            else:
                task.due = now + timedelta(seconds=ctx.policy.wait(task.tries))

    def _finish(self, task: Task) -> None:
        if task in self.tasks:
            self.tasks.remove(task)
        self.lane.ctx.settled(task.delivery.key)

    def _parent(self, delivery: Delivery) -> Parent:
        """The reply references a re-send would carry (the parent as posted, if it was)."""
        entry, ctx, network = delivery.entry, self.lane.ctx, self.lane.network
        if not entry.reply_to or (account := ctx.account_of(entry.reply_to)) is None:
            return Parent.alone()
        remote = ctx.ledger.remote_id(entry.reply_to, account, network)
        if remote is None:
            return Parent.alone()
        root_id = ctx.root_of(entry.reply_to)
        root_account = ctx.account_of(root_id)
        root = ctx.ledger.remote_id(root_id, root_account, network) if root_account else None
        return Parent(remote=remote, root=root or remote)
