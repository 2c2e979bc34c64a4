"""A lane publishes one account's deliveries on one network, in order, in its own thread.

Lanes are independent, so an account backing off after a 429 never holds up
another. For every delivery a lane:

1. records it *missed* when it is more than `grace` seconds late;
2. at a storm, switches the persona first (claim, call, settle in the ledger);
3. claims the delivery in the ledger (committed) before the network call, and
   settles it after: posted, failed or uncertain.

Retries: a TransientError (nothing was created remotely) releases the claim and
retries after a backoff (a RateLimited waits for the server's reset), at most
`retries` times and never past the grace period; an UncertainError is never
retried; a RejectedError fails the delivery.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import LedgerError, PublishError, RateLimited, RejectedError, TransientError, UncertainError
from bot.run.logs import LOGGER, fields
from bot.publishers.base import MediaItem, OutgoingPost, Persona, Publisher
from bot.replay.schedule import Delivery

log = logging.getLogger(LOGGER)
LEDGER_RETRY = 5.0  # seconds between attempts while the ledger cannot be written


@dataclass(frozen=True)
class Policy:
    grace: float = 900.0  # seconds late at most
    retries: int = 5
    backoff: float = 1.0  # first backoff, doubled each retry
    max_backoff: float = 300.0

    def wait(self, attempt: int, error: PublishError) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, min(error.retry_after, 24 * 3600.0))
        return min(self.backoff * (2 ** attempt), self.max_backoff)


@dataclass(frozen=True)
class _Switch:
    persona: str
    entry_id: str | None


@dataclass
class Context:
    """What lanes share: the ledger, the clock, personas and the stop signal."""

    ledger: object
    clock: Callable[[], datetime]
    persona: Callable[[str], Persona]  # persona key -> Persona with absolute image paths
    media_root: Callable[[], object]  # feed folder (Path)
    stop: threading.Event
    policy: Policy
    account_of: Callable[[str], str | None]  # entry id -> its account
    root_of: Callable[[str], str]  # entry id -> id of the first entry of its thread


class Lane:
    def __init__(self, account: str, network: str, publisher: Publisher, context: Context) -> None:
        self.account = account
        self.network = network
        self.publisher = publisher
        self.ctx = context
        self._queue: deque[Delivery] = deque()
        self._wake = threading.Condition()
        self.in_flight: tuple | None = None  # ("delivery", key) or ("switch", id) during a call
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=f"lane-{account}-{network}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def put(self, delivery: Delivery) -> None:
        with self._wake:
            self._queue.append(delivery)
            self._wake.notify()

    def put_switch(self, persona_key: str, entry_id: str | None = None) -> None:
        """Queue a persona switch on its own (a start-up correction, or a missed storm's)."""
        with self._wake:
            self._queue.append(_Switch(persona_key, entry_id))
            self._wake.notify()

    def pending(self) -> int:
        return len(self._queue) + (1 if self.busy else 0)

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        while not self.ctx.stop.is_set():
            with self._wake:
                while not self._queue and not self.ctx.stop.is_set():
                    self._wake.wait()
                if self.ctx.stop.is_set():
                    return
                delivery = self._queue.popleft()
                self.busy = True
            entry_id = delivery.entry_id if isinstance(delivery, _Switch) else delivery.key.entry_id
            try:
                if isinstance(delivery, _Switch):
                    self.switch(delivery.persona, delivery.entry_id)
                else:
                    self.process(delivery)
            except LedgerError as exc:
                self._ledger_failed(delivery, entry_id, exc)
            except Exception as exc:  # a bug must not kill the lane
                log.error("internal-error %s", fields(entry=entry_id, account=self.account, platform=self.network, reason=f"{type(exc).__name__}: {exc}"))
            finally:
                self.busy = False

    def _ledger_failed(self, item, entry_id, exc: LedgerError) -> None:
        """Nothing is published without its ledger row: wait and try again while in grace."""
        late = self._late(item, self.ctx.clock()) if isinstance(item, Delivery) else 0.0
        if late + LEDGER_RETRY > self.ctx.policy.grace:
            log.error("not-recorded %s", fields(entry=entry_id, account=self.account, platform=self.network, reason=f"ledger unavailable past the grace period: {exc}"))
            return
        log.error("ledger-error %s", fields(entry=entry_id, account=self.account, platform=self.network, reason=str(exc), retry_s=LEDGER_RETRY))
        if not self.ctx.stop.wait(LEDGER_RETRY):
            with self._wake:
                self._queue.appendleft(item)

    # -- one delivery --------------------------------------------------------

    def _late(self, delivery: Delivery, now: datetime) -> float:
        return (now - delivery.instant).total_seconds()

    def _log(self, outcome: str, delivery: Delivery, *, level=logging.INFO, **extra) -> None:
        log.log(level, "%s %s", outcome, fields(
            entry=delivery.key.entry_id, account=self.account, persona=delivery.event.persona,
            platform=self.network, **extra))

    def process(self, delivery: Delivery) -> None:
        ledger = self.ctx.ledger
        now = self.ctx.clock()
        if self._late(delivery, now) > self.ctx.policy.grace:
            self._missed(delivery, now, f"{self._late(delivery, now):.0f} s late, over the grace of {self.ctx.policy.grace:.0f} s")
            if delivery.entry.storm:  # its persona still changes, once (as for a storm missed at a tick)
                self.switch(delivery.entry.storm, delivery.entry.id, delivery)
            return
        entry = delivery.entry
        switch_failed = None
        if entry.storm:
            switch_failed = self.switch(entry.storm, entry.id, delivery)
            if entry.text is None:
                # a storm without text: its delivery row carries the switch's outcome
                if ledger.claim(*delivery.key, scheduled=delivery.instant, now=self.ctx.clock(), text_hash=None):
                    state = switch_failed or "posted"
                    ledger.settle(*delivery.key, state, now=self.ctx.clock(), reason=None if state == "posted" else "persona switch " + state)
                return
        self.publish(delivery)

    def _missed(self, delivery: Delivery, now: datetime, reason: str) -> None:
        self.ctx.ledger.record_missed(*delivery.key, scheduled=delivery.instant, now=now, reason=reason)
        self._log("missed", delivery, level=logging.WARNING, reason=reason, late_ms=int(self._late(delivery, now) * 1000))

    def switch(self, persona_key: str, entry_id: str | None, delivery: Delivery | None = None) -> str | None:
        """Make the account wear `persona_key`. Returns None on success, else the switch's state."""
        ledger = self.ctx.ledger
        last = ledger.last_switch(self.account, self.network)
        if last is not None and last.persona == persona_key and last.state in ("posted", "claimed"):
            return None  # already worn (a start-up correction got there first)
        persona = self.ctx.persona(persona_key)
        switch_id = ledger.claim_switch(self.account, self.network, persona_key, entry_id, now=self.ctx.clock())
        attempt = 0
        while True:  # one ledger row for the switch, however many attempts it takes
            self.in_flight = ("switch", switch_id)
            try:
                self.publisher.switch_persona(persona)
            except RejectedError as exc:  # ProfileRefused included: logged loudly, posting goes on
                return self._switch_settled(switch_id, "failed", persona_key, entry_id, str(exc), logging.ERROR)
            except TransientError as exc:
                self.in_flight = None
                wait = self.ctx.policy.wait(attempt, exc)
                attempt += 1
                if attempt > self.ctx.policy.retries:
                    return self._switch_settled(switch_id, "failed", persona_key, entry_id, f"gave up after {attempt} attempts: {exc}", logging.ERROR)
                log.warning("switch-retry %s", fields(account=self.account, platform=self.network, persona=persona_key, attempt=attempt, wait_s=f"{wait:.1f}", reason=str(exc)))
                if self.ctx.stop.wait(wait):
                    return self._switch_settled(switch_id, "failed", persona_key, entry_id, f"stopped while retrying: {exc}", logging.ERROR)
                continue
            except Exception as exc:  # UncertainError, or a publisher bug: it may have happened
                reason = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
                return self._switch_settled(switch_id, "uncertain", persona_key, entry_id, reason, logging.ERROR)
            finally:
                self.in_flight = None
            ledger.settle_switch(switch_id, "posted", now=self.ctx.clock())
            log.info("switched %s", fields(account=self.account, platform=self.network, persona=persona_key, entry=entry_id))
            return None

    def _switch_settled(self, switch_id, state, persona_key, entry_id, reason, level) -> str:
        self.ctx.ledger.settle_switch(switch_id, state, now=self.ctx.clock(), reason=reason)
        log.log(level, "switch-%s %s", state, fields(account=self.account, platform=self.network, persona=persona_key, entry=entry_id, reason=reason))
        return state

    def _outgoing(self, delivery: Delivery) -> OutgoingPost:
        entry = delivery.entry
        parent_remote = root_remote = None
        if entry.reply_to:
            parent_remote = self._remote(entry.reply_to)
            if parent_remote is None:
                self._log("reply-standalone", delivery, level=logging.WARNING, reason=f"parent {entry.reply_to} was not posted on {self.network}")
            else:
                root_remote = self._remote(self.ctx.root_of(entry.reply_to)) or parent_remote
        root = self.ctx.media_root()
        return OutgoingPost(
            entry_id=entry.id,
            account=self.account,
            network=self.network,
            text=entry.text,
            persona=self.ctx.persona(delivery.event.persona),
            media=tuple(MediaItem(root / m.file, m.alt) for m in entry.media),
            reply_to_remote=parent_remote,
            thread_root_remote=root_remote,
            idempotency_key=f"{entry.id}|{self.account}|{self.network}",
        )

    def _remote(self, entry_id: str) -> str | None:
        """Remote id of an entry posted on this lane's network (any account), or None."""
        account = self.ctx.account_of(entry_id)
        return self.ctx.ledger.remote_id(entry_id, account, self.network) if account else None

    def publish(self, delivery: Delivery) -> None:
        ledger = self.ctx.ledger
        post = self._outgoing(delivery)
        text_hash = delivery.entry.text_hash
        attempt = 0
        while True:
            if not ledger.claim(*delivery.key, scheduled=delivery.instant, now=self.ctx.clock(), text_hash=text_hash):
                row = ledger.state_of(*delivery.key)
                self._log("skipped", delivery, reason=f"already {row.state if row else 'recorded'} in the ledger")
                return
            started = self.ctx.clock()
            late_ms = int(self._late(delivery, started) * 1000)
            self.in_flight = ("delivery", delivery.key)
            try:
                remote_id = self.publisher.publish(post)
            except TransientError as exc:
                self.in_flight = None
                ledger.release(*delivery.key)
                wait = self.ctx.policy.wait(attempt, exc)
                attempt += 1
                self._log("retry" if attempt <= self.ctx.policy.retries else "failed", delivery, level=logging.WARNING,
                          reason=str(exc), attempt=attempt, wait_s=f"{wait:.1f}", late_ms=late_ms)
                if attempt > self.ctx.policy.retries:
                    self._fail(delivery, f"gave up after {attempt} attempts: {exc}")
                    return
                resume = self.ctx.clock() + timedelta(seconds=wait)
                if self._late(delivery, resume) > self.ctx.policy.grace:
                    self._missed(delivery, self.ctx.clock(), f"backing off past the grace period: {exc}")
                    return
                if self.ctx.stop.wait(wait):
                    return  # stopping: no row, so the next start decides (late or missed)
                continue
            except UncertainError as exc:
                self._settle(delivery, "uncertain", str(exc), late_ms)
                return
            except RejectedError as exc:
                self._settle(delivery, "failed", str(exc), late_ms)
                return
            except Exception as exc:  # a publisher bug: the post may or may not exist
                reason = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
                self._settle(delivery, "uncertain", reason, late_ms)
                return
            finally:
                self.in_flight = None
            ledger.settle(*delivery.key, "posted", now=self.ctx.clock(), remote_id=str(remote_id))
            self._log("posted", delivery, remote_id=remote_id, late_ms=late_ms)
            return

    def _settle(self, delivery: Delivery, state: str, reason: str, late_ms: int) -> None:
        self.ctx.ledger.settle(*delivery.key, state, now=self.ctx.clock(), reason=reason)
        self._log(state, delivery, level=logging.ERROR, reason=reason, late_ms=late_ms)

    def _fail(self, delivery: Delivery, reason: str) -> None:
        ledger = self.ctx.ledger
        if ledger.claim(*delivery.key, scheduled=delivery.instant, now=self.ctx.clock(), text_hash=delivery.entry.text_hash):
            ledger.settle(*delivery.key, "failed", now=self.ctx.clock(), reason=reason)
