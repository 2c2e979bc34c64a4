"""A lane publishes one account's deliveries on one network, in order.

A lane is a state machine: `step(now)` does at most one network call and
returns when it wants to run again (None: when something new arrives). The
service runs each lane in a thread of its own (`bot.run.service`); tests drive
lanes with an injected clock (`tests/support/engine.py`). Lanes never wait on
each other's threads, so an account backing off after a 429 never holds up
another; a reply waits only for its parent's outcome.

For the delivery at the head of the queue:

1. more than `grace` late before anything was sent: *missed* (a storm's
   persona is still switched);
2. a storm: the account's persona switch first (`bot.run.personas`); the
   post waits until the switch succeeded or was refused for good;
3. a reply: waits for its parent's outcome on this network (`threads`);
4. claim (committed) -> call -> settle: posted, failed or uncertain. An
   uncertain post is looked up on the network (`bot.run.reconcile`).

Retries follow `bot.run.policy`. A ledger write that fails after a call is
kept and tried again before anything else: no outcome is lost.

With a PostgreSQL ledger only the active process acts (`bot.run.leader`): a lane
does nothing while `ctx.guard()` says the lease is not valid, asks it again right
before each network call (after the claim), and stops at a `Deposed` from the
ledger (another process took over: it recovers what this one left claimed).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import Deposed, LedgerError, PublishError, RejectedError, TransientError, UncertainError
from bot.publishers.base import MediaItem, OutgoingPost, Persona, Publisher
from bot.replay.schedule import Delivery, Key
from bot.run.logs import LOGGER, event, source
from bot.run.personas import Personas
from bot.run.policy import Policy, late_reason
from bot.units import duration
from bot.run.reconcile import Reconciler
from bot.run.threads import Parent, parent_of

log = logging.getLogger(LOGGER)
LEDGER_RETRY = 5.0  # seconds between attempts while the ledger cannot be written
PAUSE = 0.5  # seconds between looks while the lease is not valid (PostgreSQL ledger)


@dataclass(frozen=True)
class SwitchMark:
    """Queued at a storm that was missed: the persona still changes, in order."""

    persona: str
    entry_id: str | None


@dataclass
class Context:
    """What lanes share: the ledger, the clock, the feed's facts and the engine's hooks."""

    ledger: object
    clock: Callable[[], datetime]
    policy: Policy
    persona: Callable[[str], Persona]  # persona key -> Persona with absolute image paths
    media_root: Callable[[], object]  # feed folder (Path)
    account_of: Callable[[str], str | None]  # entry id -> its account
    root_of: Callable[[str], str]  # entry id -> id of the first entry of its thread
    expects: Callable[[Key], bool]  # is this delivery scheduled in this run?
    settled: Callable[[Key], None]  # a delivery's outcome changed: wake the lanes waiting on it
    given_up: set = field(default_factory=set)  # uncertain keys no lookup could settle
    zone: object = None  # the replay zone (for what a post shows of its anniversary)
    lateness: list = field(default_factory=list)  # ms late of every post made in this run
    source_of: Callable[[str | None], dict] = lambda entry_id: {}  # entry id -> its path and line
    guard: Callable[[], None] = lambda: None  # raises Deposed when this process may not act
    deposed: Callable[[Deposed], None] = lambda exc: None  # the ledger refused a write: tell the leadership


def wake_min(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


class Lane:
    def __init__(self, account: str, network: str, publisher: Publisher, context: Context) -> None:
        self.account = account
        self.network = network
        self.publisher = publisher
        self.ctx = context
        publisher.before_send = context.guard  # before each request of a call (bot.run.leader)
        self.queue: deque = deque()
        self.personas = Personas(self)
        self.reconciler = Reconciler(self)
        self.in_flight: tuple | None = None  # ("delivery", key) or ("switch", row id) during a call
        self._cond = threading.Condition()
        self._nudged = False
        self._attempt = 0  # transient failures of the head delivery so far
        self._retry_at: datetime | None = None
        self._switched_for: Key | None = None  # the storm at the head whose switch was asked for
        self._alone_warned: Key | None = None
        self._unwritten: list[Callable[[], None]] = []  # ledger writes that failed after a call
        self._claiming: Key | None = None  # a claim sent whose answer was lost (its row may be ours)

    # -- feeding and waking ----------------------------------------------------

    def put(self, item: Delivery | SwitchMark) -> None:
        with self._cond:
            self.queue.append(item)
            self._nudge()

    def nudge(self) -> None:
        with self._cond:
            self._nudge()

    def _nudge(self) -> None:
        self._nudged = True
        self._cond.notify_all()

    def sleep(self, until: datetime | None, clock: Callable[[], datetime], stop: threading.Event) -> None:
        """Wait until `until` (None: indefinitely), a nudge or a stop."""
        with self._cond:
            while not self._nudged and not stop.is_set():
                timeout = None if until is None else (until - clock()).total_seconds()
                if timeout is not None and timeout <= 0:
                    break
                self._cond.wait(timeout if timeout is None else min(timeout, 3600.0))
            self._nudged = False

    def pending(self) -> int:
        return len(self.queue) + (1 if self.in_flight else 0)

    def idle(self) -> bool:
        """Nothing queued, no switch or lookup to do, nothing unwritten."""
        return not self.queue and not self.personas.busy() and not self.reconciler.tasks and not self._unwritten

    # -- one step ------------------------------------------------------------------

    def step(self, now: datetime) -> datetime | None:
        """Do at most one network call; return when to be stepped again."""
        try:
            self.ctx.guard()
            return self._step(now)
        except Deposed as exc:
            return self._paused(now, exc)
        except LedgerError as exc:
            return self._ledger_failed(now, exc)

    def _paused(self, now: datetime, exc: Deposed) -> datetime:
        """Not the active process (or its lease lapsed): nothing is done; the leadership decides."""
        if exc.final:
            self.ctx.deposed(exc)
        return now + timedelta(seconds=PAUSE)

    def _step(self, now: datetime) -> datetime | None:
        while self._unwritten:  # an outcome the ledger could not take: first of all
            self._unwritten[0]()
            self._unwritten.pop(0)
        if (task := self.reconciler.due(now)) is not None:
            self.reconciler.run(task, now)
            return now
        head = self.queue[0] if self.queue else None
        if isinstance(head, SwitchMark):
            self.queue.popleft()
            self.personas.want(head.persona, head.entry_id)
            return now
        if self.personas.busy():
            if head is not None and self._late(head, now) > self.ctx.policy.grace and self._attempt == 0:
                self._pop_missed(head, now, f"waited over the grace of {duration(self.ctx.policy.grace)} for the persona switch")
                return now
            wake = self.personas.step(now)
            grace_end = head.instant + timedelta(seconds=self.ctx.policy.grace, milliseconds=1) if head is not None else None
            return wake_min(wake, grace_end, self.reconciler.next_due())
        if head is None:
            return self.reconciler.next_due()
        return self._deliver(head, now)

    def _ledger_failed(self, now: datetime, exc: LedgerError) -> datetime:
        """Nothing is published without its ledger row: wait and try again while in grace."""
        head = self.queue[0] if self.queue else None
        if isinstance(head, Delivery) and not self._unwritten and self._late(head, now) + LEDGER_RETRY > self.ctx.policy.grace:
            self.queue.popleft()
            event(logging.ERROR, "not-recorded", entry=head.key.entry_id, account=self.account, platform=self.network,
                                                **source(head), reason=f"ledger unavailable past the grace period: {exc}",
                                                note="recorded missed once the ledger answers")
            self._unwritten.append(lambda: self.ctx.ledger.record_missed(
                *head.key, scheduled=head.instant, now=self.ctx.clock(), reason="ledger unavailable past the grace period"))
        else:
            entry = head.key.entry_id if isinstance(head, Delivery) else None
            event(logging.ERROR, "ledger-error", entry=entry, account=self.account, platform=self.network, reason=str(exc),
                                                retry_s=LEDGER_RETRY)
        return now + timedelta(seconds=LEDGER_RETRY)

    # -- the head delivery ------------------------------------------------------------

    def _late(self, delivery: Delivery, now: datetime) -> float:
        return (now - delivery.instant).total_seconds()

    def _log(self, outcome: str, delivery: Delivery, *, level=logging.INFO, **extra) -> None:
        event(level, outcome, entry=delivery.key.entry_id, account=self.account, persona=delivery.event.persona,
              platform=self.network, **source(delivery), **extra)

    def _done(self, delivery: Delivery) -> None:
        if self.queue and self.queue[0] is delivery:
            self.queue.popleft()
        self._attempt, self._retry_at, self._switched_for = 0, None, None
        self.ctx.settled(delivery.key)

    def _pop_missed(self, delivery: Delivery, now: datetime, reason: str) -> None:
        self.ctx.ledger.record_missed(*delivery.key, scheduled=delivery.instant, now=now, reason=reason)
        self._log("missed", delivery, level=logging.WARNING, reason=reason, late_ms=int(self._late(delivery, now) * 1000))
        if delivery.entry.storm and self._switched_for != delivery.key:  # its persona still changes
            self.personas.want(delivery.entry.storm, delivery.entry.id)
        self._done(delivery)

    def _deliver(self, delivery: Delivery, now: datetime) -> datetime | None:
        if self._retry_at is not None and now < self._retry_at:
            return wake_min(self._retry_at, self.reconciler.next_due())
        policy = self.ctx.policy
        if self._attempt == 0 and self._late(delivery, now) > policy.grace:
            late = self._late(delivery, now)
            self._pop_missed(delivery, now, late_reason(late, policy.grace))
            return now
        entry = delivery.entry
        if entry.storm and self._switched_for != delivery.key:
            self._switched_for = delivery.key
            self.personas.want(entry.storm, entry.id)
            return now
        if entry.text is None:  # a storm without text: its row carries the switch's outcome
            refused = self.personas.refused(entry.storm)
            if self.ctx.ledger.claim(*delivery.key, scheduled=delivery.instant, now=now, text_hash=None):
                reason = f"persona switch failed: {refused}" if refused else None
                self._write(lambda: self.ctx.ledger.settle(*delivery.key, "failed" if refused else "posted",
                                                           now=self.ctx.clock(), reason=reason))
            self._done(delivery)
            return now
        parent = Parent.alone()
        if entry.reply_to:
            parent = parent_of(self, delivery, now)
            if parent.wait_until is not None:
                return wake_min(parent.wait_until, self.reconciler.next_due())
            if parent.warning and self._alone_warned != delivery.key:
                self._alone_warned = delivery.key
                self._log("reply-standalone", delivery, level=logging.WARNING, reason=parent.warning)
        return self._publish(delivery, parent, now)

    def outgoing(self, delivery: Delivery, parent: Parent) -> OutgoingPost:
        entry = delivery.entry
        root = self.ctx.media_root()
        return OutgoingPost(
            entry_id=entry.id,
            account=self.account,
            network=self.network,
            text=entry.text,
            persona=self.ctx.persona(delivery.event.persona),
            media=tuple(MediaItem(root / m.file, m.alt) for m in entry.media),
            reply_to_remote=parent.remote,
            thread_root_remote=parent.root,
            idempotency_key=f"{entry.id}|{self.account}|{self.network}",
            scheduled=delivery.instant,
            replay_at=delivery.event.instant.astimezone(self.ctx.zone) if self.ctx.zone else None,
        )

    def _publish(self, delivery: Delivery, parent: Parent, now: datetime) -> datetime | None:
        ledger, policy = self.ctx.ledger, self.ctx.policy
        post = self.outgoing(delivery, parent)
        if not self._claim(delivery, now):
            row = ledger.state_of(*delivery.key)
            self._log("skipped", delivery, reason=f"already {row.state if row else 'recorded'} in the ledger")
            self._done(delivery)
            return now
        try:
            self.ctx.guard()  # the claim took its time: still the active process?
        except Deposed:
            ledger.release(*delivery.key)  # nothing was sent (refused too when deposed: then recovered)
            raise
        late_ms = int(self._late(delivery, self.ctx.clock()) * 1000)  # at the publish call
        self.in_flight = ("delivery", delivery.key)
        try:
            remote_id = self.publisher.publish(post)
        except Deposed:  # the lease lapsed in the middle of the call: its post request did not go out
            self.in_flight = None
            try:
                ledger.release(*delivery.key)
            except LedgerError:
                pass  # deposed for good: the next active process recovers the claim and looks it up
            raise
        except TransientError as exc:
            self.in_flight = None
            ledger.release(*delivery.key)
            return self._transient(delivery, exc, late_ms)
        except UncertainError as exc:
            self._settled(delivery, "uncertain", str(exc), late_ms)
            self.reconciler.add(delivery, self.ctx.clock() + timedelta(seconds=policy.wait(0)))
            return self.ctx.clock()
        except RejectedError as exc:
            self._settled(delivery, "failed", str(exc), late_ms)
            return self.ctx.clock()
        except Exception as exc:  # a publisher bug: the post may or may not exist
            reason = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
            self._settled(delivery, "uncertain", reason, late_ms)
            self.reconciler.add(delivery, self.ctx.clock() + timedelta(seconds=policy.wait(0)))
            return self.ctx.clock()
        finally:
            self.in_flight = None
        try:
            self._write(lambda: ledger.settle(*delivery.key, "posted", now=self.ctx.clock(), remote_id=str(remote_id)))
        except Deposed as exc:  # taken over during the call: the next active process finds it on the network
            self._log("deposed", delivery, level=logging.WARNING, remote_id=remote_id, late_ms=late_ms,
                      reason=f"posted, but not recorded: {exc}")
            raise
        self._log("posted", delivery, remote_id=remote_id, late_ms=late_ms)
        self.ctx.lateness.append(late_ms)
        self._done(delivery)
        return self.ctx.clock()

    def _transient(self, delivery: Delivery, exc: TransientError, late_ms: int) -> datetime:
        policy = self.ctx.policy
        wait = policy.wait(self._attempt, exc)
        self._attempt += 1
        now = self.ctx.clock()
        gave_up = self._attempt > policy.retries
        self._log("failed" if gave_up else "retry", delivery, level=logging.WARNING,
                  reason=str(exc), attempt=self._attempt, wait_s=f"{wait:.1f}", late_ms=late_ms)
        if gave_up:
            ledger = self.ctx.ledger
            if ledger.claim(*delivery.key, scheduled=delivery.instant, now=now, text_hash=delivery.entry.text_hash):
                ledger.settle(*delivery.key, "failed", now=now, reason=f"gave up after {self._attempt} attempts: {exc}")
            self._done(delivery)
            return now
        resume = now + timedelta(seconds=wait)
        if self._late(delivery, resume) > policy.grace:
            self.ctx.ledger.record_missed(*delivery.key, scheduled=delivery.instant, now=now,
                                          reason=f"backing off past the grace period: {exc}")
            self._log("missed", delivery, level=logging.WARNING, reason=f"backing off past the grace period: {exc}")
            self._done(delivery)
            return now
        self._retry_at = resume
        return resume

    def _settled(self, delivery: Delivery, state: str, reason: str, late_ms: int) -> None:
        self._write(lambda: self.ctx.ledger.settle(*delivery.key, state, now=self.ctx.clock(), reason=reason))
        self._log(state, delivery, level=logging.ERROR, reason=reason, late_ms=late_ms)
        self._done(delivery)

    def _claim(self, delivery: Delivery, now: datetime) -> bool:
        """Claim the delivery (committed before the call). After a claim of the same key that
        failed without an answer (the connection dropped at the commit), a claimed row is ours."""
        key = delivery.key
        retried, self._claiming = self._claiming == key, key
        claimed = self.ctx.ledger.claim(*key, scheduled=delivery.instant, now=now, text_hash=delivery.entry.text_hash)
        self._claiming = None
        if claimed or not retried:
            return claimed
        row = self.ctx.ledger.state_of(*key)
        return row is not None and row.state == "claimed"

    def _write(self, write: Callable[[], None]) -> None:
        """A ledger write after a network call: kept and tried again (before anything else)
        while the ledger cannot take it, so an outcome is never lost (a Deposed process
        writes nothing: the next active process recovers the row)."""
        try:
            write()
        except Deposed:
            raise
        except LedgerError as exc:
            event(logging.ERROR, "ledger-error", account=self.account, platform=self.network, reason=str(exc),
                                                note="the outcome is kept and written once the ledger answers")
            self._unwritten.append(write)
