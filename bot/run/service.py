"""`bot run`: the service. The only module that reads the clock on its own.

It runs the engine (`bot.run.engine`) for real: APScheduler holds one "next
due" job (re-armed after each firing with a fresh id) and a watchdog job that
covers clock jumps and stalls; each firing calls `engine.tick`. Each lane
steps in a thread of its own and sleeps until its next instant or until
another lane settles something it may wait for. A watcher thread reloads the
feed on file events. `stop()` (on SIGTERM or SIGINT: `bot.run.process`) gives in-flight calls a few
seconds, then records them uncertain.

With a PostgreSQL ledger the process starts on standby: it loads and watches the
feed, and a leadership thread (`bot.run.leader`) takes the lease when it ends.
Only then are the lanes, the timer and recovery started (`_activate`); when the
lease is lost they stop at once (`_deactivate`) and the process stands by again.
A clean stop hands the lease over, so a standby takes over within a second.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import BotError, Deposed, LedgerError
from bot.run.engine import Engine, PublisherFactory, RunMode, build_publisher
from bot.run.lanes import Lane
from bot.run.leader import Leadership, Timing
from bot.run.logs import LOGGER, event
from bot.settings import Settings
from bot.units import duration

log = logging.getLogger(LOGGER)

WATCHDOG_SECONDS = 30
STOP_DEADLINE = 8.0  # seconds to let in-flight calls finish on SIGTERM
RETRY_TICK = 5  # seconds before a tick that failed (ledger unavailable) is tried again

__all__ = ["RunMode", "Service"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Activation:
    """One tenure as the active process: its lanes and their threads."""

    epoch: int | None  # None: a SQLite ledger (no lease)
    lanes: list[Lane]
    threads: list[threading.Thread] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    deposed: bool = False


@dataclass
class Service:
    settings: Settings
    mode: RunMode = field(default_factory=RunMode)
    clock: Callable[[], datetime] = utc_now
    make_publisher: PublisherFactory = build_publisher
    stop_event: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.engine = engine = Engine(self.settings, self.mode, clock=self.clock, make_publisher=self.make_publisher)
        self._mutex = threading.RLock()
        self._run: Activation | None = None
        self._job = self._watchdog = None
        self._arms = 0
        self._announced = False
        self.tick_started: float | None = None  # monotonic times of the timer's last tick (bot.ops.health)
        self.tick_done: float | None = None
        self.leadership: Leadership | None = None
        self._leader: threading.Thread | None = None
        engine.prepare()
        engine.on_settled = self._wake_lanes
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.start()
        if engine.ledger.shared:
            self._stand_by()
        else:
            self._activate(None)
        gc.freeze()  # the feed lives as long as the service: keep it out of every later GC pass
        if self.mode.watch:
            self.watcher = threading.Thread(target=self._watch, name="watcher", daemon=True)
            self.watcher.start()
        if self.mode.dry_run and sys.stdout.isatty():
            from bot.publishers.console import Ticker

            Ticker(self._upcoming, self.stop_event).start()

    def _upcoming(self) -> tuple[str, float] | None:
        """(id, seconds) of the next delivery due, for the dry run's ticker."""
        engine = self.engine
        with engine._lock:
            if engine.cursor >= len(engine.items):
                return None
            item = engine.items[engine.cursor]
        return item.key.entry_id, (item.instant - self.clock()).total_seconds()

    @property
    def ends(self) -> bool:
        """A rehearsal or dry run ends by itself once its last delivery has settled."""
        return self.mode.rehearsal or self.mode.dry_run

    def finished(self) -> bool:
        engine = self.engine
        with engine._lock:
            handed_out = engine.cursor >= len(engine.items)
        return handed_out and all(lane.idle() and lane.in_flight is None for lane in engine.lanes.values())

    def summary(self) -> list[str]:
        """What a rehearsal or dry run did, on one screen."""
        ledger = self.engine.ledger
        counts = ledger.counts()
        late = sorted(self.engine.context.lateness)
        switches = ledger.switch_count("posted")
        lines = [
            "done: " + "  ".join(f"{state}: {counts[state]}" for state in ("posted", "failed", "missed", "uncertain")),
            f"persona switches: {switches}",
        ]
        if late:
            p50 = late[len(late) // 2]
            lines.append(f"lateness: p50 {p50} ms, max {late[-1]} ms")
        first = self.engine.items[0].instant if self.engine.items else None
        if first is not None:
            lines.append(f"took {duration((self.clock() - first).total_seconds())} from the first entry")
        return lines

    @property
    def lanes(self) -> dict[tuple[str, str], Lane]:
        return self.engine.lanes

    @property
    def active(self) -> bool:
        return self._run is not None

    @property
    def standing_by(self) -> bool:
        """A PostgreSQL ledger, and another process is the active one (bot.ops.health)."""
        return self.leadership is not None and self._run is None

    def leading(self) -> bool:
        """Is the leadership thread (which renews or takes the lease) alive?"""
        return self._leader is not None and self._leader.is_alive()

    @property
    def _threads(self) -> list[threading.Thread]:
        """The lanes' threads of the current tenure (none while standing by)."""
        run = self._run
        return run.threads if run is not None else []

    # -- active or standing by -----------------------------------------------------

    def _stand_by(self) -> None:
        """A PostgreSQL ledger: wait for the lease in a thread of its own."""
        ledger = self.engine.ledger
        timing = Timing(self.settings.failover)
        self.leadership = leadership = Leadership(ledger, timing, on_active=self._activate, on_standby=self._deactivate)
        self.engine.guard = leadership.lease.guard
        self.engine.on_deposed = leadership.lost
        try:
            now = ledger.board().active
        except LedgerError:
            now = None
        event(logging.INFO, "standby", feed=self.settings.display, ledger=str(ledger.path), holder=ledger.holder,
              failover=f"{timing.failover:g}", active=f"{now.host} pid {now.pid}" if now and now.live else None)
        self._leader = threading.Thread(target=self._lead, name="leadership", daemon=True)
        self._leader.start()

    def _lead(self) -> None:
        while not self.stop_event.is_set():
            try:
                wait = self.leadership.step()
            except Exception as exc:  # a bug must not end the leadership
                event(logging.ERROR, "internal-error", reason=f"{type(exc).__name__}: {exc}")
                wait = 1.0
            self.stop_event.wait(wait)

    def _activate(self, epoch: int | None) -> None:
        """This process publishes now: recovery, personas, lanes, the timer."""
        with self._mutex:
            if self.stop_event.is_set() or self._run is not None:
                return
            engine = self.engine
            engine.activate()
            run = Activation(epoch, list(engine.lanes.values()))
            run.threads = [threading.Thread(target=self._run_lane, args=(lane, run), daemon=True,
                                            name=f"lane-{lane.account}-{lane.network}") for lane in run.lanes]
            self._run = run
            for thread in run.threads:
                thread.start()
            self._watchdog = self.scheduler.add_job(
                self.tick, IntervalTrigger(seconds=WATCHDOG_SECONDS, timezone=UTC), id=f"watchdog-{self._arms}",
                misfire_grace_time=None, coalesce=True)
            self._announced = False
            if epoch is not None:
                event(logging.INFO, "active", epoch=epoch, holder=engine.ledger.holder)
            rehearsal = engine.rehearsal
            event(logging.INFO, "started",
                  feed=self.settings.display, entries=len(engine.timeline.events), deliveries=len(engine.items),
                  years_later=engine.years_later, ledger=str(engine.ledger.path), dry_run=self.mode.dry_run or None,
                  rehearsal=f"x{rehearsal.speed:g} from {rehearsal.start_at.isoformat()}" if rehearsal else None)
            self.tick()

    def _deactivate(self, reason: str) -> None:
        """The lease is lost: stop at once. Lanes end after their current call (whose outcome
        the ledger refuses: the next active process recovers it); the feed stays loaded."""
        with self._mutex:
            run, self._run = self._run, None
            if run is None:
                return
            run.deposed = True
            run.stop.set()
            for job in (self._job, self._watchdog):
                self._remove(job)
            self._job = self._watchdog = None
            for lane in self.engine.deactivate().values():
                lane.nudge()

    def _remove(self, job) -> None:
        if job is not None:
            try:
                job.remove()
            except JobLookupError:  # it fired and is gone
                pass

    # -- lanes -------------------------------------------------------------------

    def _run_lane(self, lane: Lane, run: Activation) -> None:
        while not run.stop.is_set():
            try:
                wake = lane.step(self.clock())
            except Exception as exc:  # a bug must not kill the lane
                event(logging.ERROR, "internal-error", account=lane.account, platform=lane.network,
                                                      reason=f"{type(exc).__name__}: {exc}")
                wake = self.clock() + timedelta(seconds=1)
            if run.stop.is_set():
                break
            if wake is None or wake > self.clock():
                lane.sleep(wake, self.clock, run.stop)
        if run.deposed:
            lane.publisher.close()

    def _wake_lanes(self, key) -> None:
        for lane in self.engine.lanes.values():
            lane.nudge()

    # -- the timer -----------------------------------------------------------

    def tick(self) -> None:
        """Hand every due delivery to its lane (the too-late ones are missed); re-arm."""
        engine = self.engine
        with self._mutex:
            if self._run is None:
                return  # standing by
            self.tick_started = time.monotonic()
            try:
                self._tick(engine)
            finally:
                self.tick_done = time.monotonic()

    def _tick(self, engine: Engine) -> None:
        try:
            engine.tick(self.clock())
        except Deposed as exc:  # the lease lapsed (look again soon) or was taken over
            if exc.final and self.leadership is not None:
                self.leadership.lost(exc)
                return
            self._arm(self.clock() + timedelta(seconds=1))
            return
        except BotError as exc:  # the ledger cannot be read or written: try again soon
            event(logging.ERROR, "tick-failed", reason=str(exc), retry_s=RETRY_TICK)
            self._arm(self.clock() + timedelta(seconds=RETRY_TICK))
            return
        self._arm(engine.next_due())

    def _arm(self, when: datetime | None) -> None:
        """One "next due" job, with a fresh id each time."""
        if self.stop_event.is_set() or self._run is None:
            return
        self._arms += 1
        self._remove(self._job)
        self._job = None
        if when is None:
            return
        if not self._announced:
            self._announced = True
            engine = self.engine
            if engine.cursor < len(engine.items):
                nxt = engine.items[engine.cursor]
                event(logging.INFO, "armed", entry=nxt.key.entry_id, account=nxt.key.account, platform=nxt.key.network,
                                            due=nxt.instant.isoformat())
        self._job = self.scheduler.add_job(self.tick, DateTrigger(run_date=when, timezone=UTC), id=f"next-{self._arms}",
                                           misfire_grace_time=None)

    # -- reload --------------------------------------------------------------

    def _watch(self) -> None:
        """Reload on OS file events. The watcher's first wake-up (at most a second after it
        starts) also takes in files changed between the initial read and the watch."""
        from watchfiles import watch

        source = self.engine.source
        first = True
        try:
            source.remember_instants(self.engine.years_later)  # for quick reloads (the start may have used the cache)
            for changes in watch(source.root, stop_event=self.stop_event, debounce=150, step=50, watch_filter=_feed_files,
                                 yield_on_timeout=True, rust_timeout=1000, raise_interrupt=False):
                paths = {Path(path) for _, path in changes}
                if first:
                    first = False
                    paths |= source.stale()
                    event(logging.INFO, "watching", feed=self.settings.display)
                if paths:
                    self.reload(paths)
        except Exception as exc:  # the service goes on without reload
            event(logging.ERROR, "watch-failed", reason=f"{type(exc).__name__}: {exc}")

    def reload(self, paths) -> None:
        self.engine.reload(paths)
        self._announced = False
        self.tick()
        gc.freeze()

    def report_end(self) -> None:
        """The summary on stdout; a temporary ledger is removed, unless something went wrong:
        then it is kept, and its path given for `bot status --ledger`."""
        import shutil

        lines = self.summary_lines
        engine = self.engine
        if engine.temporary_ledger:
            path = engine.ledger.path
            if self.problems:
                lines.append(f"ledger kept: {path} (bot status --ledger {path})")
            else:
                shutil.rmtree(path.parent, ignore_errors=True)
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    # -- stop ----------------------------------------------------------------

    def stop(self) -> None:
        """Let in-flight calls finish for a few seconds; record the rest uncertain; hand the lease over."""
        self.stop_event.set()
        if self._leader is not None:
            self._leader.join(STOP_DEADLINE)
        with self._mutex:
            run, self._run = self._run, None
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:
                pass
        ledger = self.engine.ledger
        if run is not None:
            self._stop_lanes(run, ledger)
        if self.leadership is not None:
            self.leadership.stop()
        if self.ends and self.finished():
            counts = ledger.counts()
            self.problems = counts["failed"] + counts["missed"] + counts["uncertain"]
            self.summary_lines = self.summary()
        ledger.close()
        event(logging.INFO, "stopped")

    def _stop_lanes(self, run: Activation, ledger) -> None:
        run.stop.set()
        for lane in run.lanes:
            lane.nudge()
        deadline = self.clock().timestamp() + STOP_DEADLINE
        for thread in run.threads:
            thread.join(max(0.0, deadline - self.clock().timestamp()))
        for lane, thread in zip(run.lanes, run.threads):
            busy = lane.in_flight
            if thread.is_alive() and busy is not None:
                kind, key = busy
                try:
                    if kind == "delivery":
                        ledger.settle(*key, "uncertain", now=self.clock(), reason="stopped during the call")
                    else:
                        ledger.settle_switch(key, "uncertain", now=self.clock(), reason="stopped during the call")
                    entry = key[0] if kind == "delivery" else None
                    event(logging.WARNING, "uncertain", kind=kind, entry=entry, account=lane.account, platform=lane.network,
                          **self.engine.source_of(entry), reason="stopped during the call")
                except LedgerError:
                    pass  # the call finished meanwhile and settled it (or another process took over)
            if not thread.is_alive():
                try:
                    lane.personas.stop(self.clock())
                except LedgerError:
                    pass
                lane.publisher.close()


def _feed_files(change, path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith((".yaml", ".yml")) and not name.startswith(".") and "/." not in path
