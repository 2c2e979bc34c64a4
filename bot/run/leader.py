"""One active process, the others on standby (a PostgreSQL ledger).

Several `bot run` on one feed and one PostgreSQL ledger: each loads and watches the
feed, and one of them is active (publishes, switches personas, reconciles). It
holds the lease (`bot.run.ledger.lease`): a row with an epoch and an end, by the
database's clock. A standby looks every `poll` seconds whether the lease has ended
and takes it, with the next epoch; the active process renews it every `renew`
seconds. Timing, for F = BOT_FAILOVER (default 15 s):

    poll   = F / 15, within 0.1-1 s    how often a standby looks
    ttl    = 0.8 F - poll              the lease's length: a standby takes over within
                                       ttl + poll <= 0.8 F of the last renewal, the rest
                                       of F is for its start (recovery, personas)
    renew  = ttl / 3                   two renewals in a row may fail
    margin = min(1 s, ttl / 10)        the active process stops acting this long before
                                       its lease ends, as its own clock sees it

`Lease` is this process's own view of its lease, on its monotonic clock: granted
for `remaining - margin` seconds from the moment the renewal was *sent*, so it
always ends before the database lets anyone take over, and a process paused by
SIGSTOP (or whose host clock jumps) wakes with a lapsed lease. Lanes call
`Lease.guard()` right before each network call. The database has the last word:
every write checks the epoch (`Deposed` otherwise), so a deposed process records
nothing whatever its clock says.

`Leadership.step()` does one round (renew, or look and take) and says when to
come back; the service runs it in a thread, tests call it with injected clocks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.errors import BotError, Deposed, LedgerError
from bot.run.logs import event

log = logging.getLogger("bot")


@dataclass(frozen=True)
class Timing:
    failover: float = 15.0

    @property
    def poll(self) -> float:
        return min(1.0, max(0.1, self.failover / 15))

    @property
    def ttl(self) -> float:
        return 0.8 * self.failover - self.poll

    @property
    def renew(self) -> float:
        return self.ttl / 3

    @property
    def margin(self) -> float:
        return min(1.0, self.ttl / 10)


class Lease:
    """What this process may do, as its own monotonic clock sees its lease."""

    def __init__(self, timing: Timing, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.timing = timing
        self.monotonic = monotonic
        self.epoch: int | None = None
        self.until = 0.0  # monotonic instant the lease lapses for this process

    def granted(self, epoch: int, remaining: float, asked_at: float) -> None:
        """The database granted (or renewed) `epoch` with `remaining` seconds left when asked at `asked_at`."""
        self.epoch = epoch
        self.until = asked_at + remaining - self.timing.margin

    def lost(self) -> None:
        self.epoch = None
        self.until = 0.0

    def valid(self) -> bool:
        return self.epoch is not None and self.monotonic() < self.until

    def guard(self) -> None:
        """Raise Deposed (not final: it may still be renewed) unless the lease is valid now."""
        if self.epoch is None:
            raise Deposed("this process is not the active one", final=False)
        late = self.monotonic() - self.until
        if late >= 0:
            raise Deposed(f"the lease of epoch {self.epoch} was not renewed in time ({late:.1f} s ago)", final=False)


class Leadership:
    """Standby until the lease is won; active while it is renewed.

    `on_active(epoch)` starts publishing (it may raise: the lease is then given back);
    `on_standby(reason)` stops it at once. Both run on the caller of `step` (or of
    `lost`, from a lane that found the epoch moved on).
    """

    def __init__(self, ledger, timing: Timing, *, on_active: Callable[[int], None],
                 on_standby: Callable[[str], None], monotonic: Callable[[], float] = time.monotonic,
                 db_clock: Callable[[], datetime | None] = lambda: None) -> None:
        self.ledger = ledger
        self.timing = timing
        self.lease = Lease(timing, monotonic)
        self.on_active = on_active
        self.on_standby = on_standby
        self.monotonic = monotonic
        self.db_clock = db_clock  # None: the database's now()
        self.active = False
        self._mutex = threading.RLock()
        self._next_renew = 0.0
        self._next_beat = 0.0
        self._hold_off = 0.0  # after a failed start: do not take the lease again before this
        self._failures = 0  # ledger calls failed in a row
        self._lapse_told = False

    # -- one round -------------------------------------------------------------

    def step(self) -> float:
        """Renew, or look and take; the seconds until the next step."""
        now = self.monotonic()
        try:
            wait = self._renew(now) if self.active else self._look(now)
        except Deposed as exc:
            self.lost(exc)
            return self.timing.poll
        except LedgerError as exc:
            return self._unavailable(exc)
        if self._failures:
            event(logging.INFO, "ledger-back", ledger=str(self.ledger.path), after=self._failures)
            self._failures = 0
        return wait

    def _renew(self, now: float) -> float:
        if now < self._next_renew:
            return self._next_renew - now
        grant = self.ledger.renew_lease(self.timing.ttl, at=self.db_clock())
        if grant is None:
            self._depose("another process took the lease over")
            return self.timing.poll
        self.lease.granted(grant.epoch, grant.remaining, now)
        if self._lapse_told:
            self._lapse_told = False
            event(logging.INFO, "lease-renewed", epoch=grant.epoch, note="publishing again")
        self._next_renew = now + self.timing.renew
        self.ledger.heartbeat(self.timing.ttl, at=self.db_clock())
        return self.timing.renew

    def _look(self, now: float) -> float:
        if now >= self._next_beat:
            self.ledger.heartbeat(self.timing.ttl, at=self.db_clock())
            self._next_beat = now + self.timing.renew
        if now < self._hold_off:
            return min(self._hold_off - now, self.timing.poll)
        grant = self.ledger.take_lease(self.timing.ttl, at=self.db_clock())
        if grant is None:
            return self.timing.poll
        with self._mutex:
            self.lease.granted(grant.epoch, grant.remaining, now)
            self.active = True
            self._next_renew = now + self.timing.renew
        try:
            self.on_active(grant.epoch)
        except Deposed as exc:
            self.lost(exc)
        except BotError as exc:  # the start failed (ledger down, a setting): give the lease back
            event(logging.ERROR, "not-started", epoch=grant.epoch, reason=str(exc), retry_s=f"{5 * self.timing.poll:g}")
            self._depose(f"its start failed: {exc}", quiet=True)
            self._give_back()
            self._hold_off = self.monotonic() + 5 * self.timing.poll
        return 0.0

    def _unavailable(self, exc: LedgerError) -> float:
        self._failures += 1
        if self._failures == 1:
            event(logging.ERROR, "ledger-unavailable", ledger=str(self.ledger.path), reason=str(exc),
                  note="trying again; nothing is published while the lease is not renewed")
        if self.active and not self.lease.valid() and not self._lapse_told:
            self._lapse_told = True
            event(logging.WARNING, "lease-lapsed", epoch=self.lease.epoch, note="publishing paused until it is renewed")
        return min(self.timing.poll * 2 ** min(self._failures - 1, 4), max(self.timing.renew, self.timing.poll))

    # -- losing it ---------------------------------------------------------------

    def lost(self, exc: Deposed) -> None:
        """A write was refused: another epoch holds the lease (a lapse alone changes nothing)."""
        if exc.final:
            self._depose(str(exc))

    def _depose(self, reason: str, *, quiet: bool = False) -> None:
        with self._mutex:
            if not self.active:
                return
            epoch = self.lease.epoch
            self.active = False
            self.lease.lost()
            self._next_beat = 0.0
        if not quiet:
            event(logging.WARNING, "deposed", epoch=epoch, reason=reason, note="standing by")
        self.on_standby(reason)

    def _give_back(self) -> None:
        try:
            self.ledger.end_lease()
        except LedgerError:
            pass  # it ends by itself

    def stop(self) -> None:
        """A clean stop: hand the lease over at once and leave the members."""
        with self._mutex:
            was_active, self.active = self.active, False
            self.lease.lost()
        if was_active:
            self._give_back()
        try:
            self.ledger.leave()
        except LedgerError:
            pass
