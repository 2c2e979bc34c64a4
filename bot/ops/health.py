"""Is the service healthy? One answer for /healthz, the systemd watchdog and the
notifications ("the service is unhealthy: ...").

Healthy means: the service has started and is not stopping; the timer (the
APScheduler loop) is running, has run within `stale_after` seconds (its watchdog
job fires every 30 s), is not stuck in one tick, and is armed for the next due
entry; every lane's thread is alive; the ledger answers (`Ledger.ping`). The
watchdog pings on liveness alone (`ledger=False`): a restart cannot mend a disk.

A standby (a PostgreSQL ledger, another process active) has no timer armed and no
lanes: it is healthy while its leadership thread runs and the ledger answers, so
that it can take over. `role` in the details says which it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.errors import LedgerError

STALE_AFTER = 45.0  # seconds without a finished tick (the timer's own job fires every 30 s)
STUCK_AFTER = 30.0  # seconds inside one tick


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""
    details: dict = field(default_factory=dict)

    def body(self) -> dict:
        return {"status": "ok" if self.ok else "unhealthy", **({"reason": self.reason} if self.reason else {}),
                **self.details}


class Health:
    def __init__(self, service, *, stale_after: float = STALE_AFTER, stuck_after: float = STUCK_AFTER,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.stale_after = stale_after
        self.stuck_after = stuck_after
        self.monotonic = monotonic
        self.armed = False  # set once the service has started and armed its timer

    def check(self, *, ledger: bool = True) -> Verdict:
        service = self.service
        if not self.armed:
            return Verdict(False, "starting")
        if service.stop_event.is_set():
            return Verdict(False, "stopping")
        now = self.monotonic()
        standby = getattr(service, "standing_by", False)
        if standby:
            reason = self._standby(service)
        else:
            reason = self._timer(service, now) or self._lanes(service)
        if reason is None and ledger:
            try:
                service.engine.ledger.ping()
            except LedgerError as exc:
                reason = str(exc)
        if reason:
            return Verdict(False, reason)
        if standby:
            return Verdict(True, details={"role": "standby", "time": datetime.now(UTC).isoformat(timespec="seconds")})
        return Verdict(True, details=self._details(service, now))

    def _standby(self, service) -> str | None:
        from apscheduler.schedulers.base import STATE_RUNNING

        if service.scheduler.state != STATE_RUNNING:
            return "the timer is not running"
        if not service.leading():
            return "the leadership thread has stopped: this process cannot take over"
        return None

    def _timer(self, service, now: float) -> str | None:
        from apscheduler.schedulers.base import STATE_RUNNING

        if service.scheduler.state != STATE_RUNNING:
            return "the timer is not running"
        started, done = service.tick_started, service.tick_done
        if started is not None and (done is None or started > done):
            if now - started > self.stuck_after:
                return f"the timer has been stuck in one tick for {now - started:.0f} s"
            return None  # ticking now: re-arming is part of it
        if done is None or now - done > self.stale_after:
            return f"the timer has not run for {now - (done or started or now):.0f} s"
        if service.engine.next_due() is not None and service._job is None:
            return "the timer is not armed for the next due entry"
        return None

    def _lanes(self, service) -> str | None:
        for lane, thread in zip(service.engine.lanes.values(), service._threads):
            if not thread.is_alive():
                return f"the lane of {lane.account} on {lane.network} has stopped"
        return None

    def _details(self, service, now: float) -> dict:
        due = service.engine.next_due()
        role = {"role": "active"} if getattr(service, "leadership", None) is not None else {}
        return {
            **role,
            "next_due": due.isoformat() if due else None,
            "next_due_in_s": round((due - service.clock()).total_seconds(), 3) if due else None,
            "lanes": len(service._threads),
            "last_tick_s_ago": round(now - service.tick_done, 3) if service.tick_done is not None else None,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
