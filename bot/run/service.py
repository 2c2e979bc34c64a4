"""`bot run`: the service. The only module that reads the clock on its own.

Wiring: the feed (`FeedSource`) gives a timeline; `schedule.deliveries` turns it
into an ordered list; APScheduler holds one "next due" job (re-armed after each
firing with a fresh id) and a watchdog job; each firing hands every due
delivery to its lane (`bot.run.lanes`), one per account and network. The ledger
is the only state: on start, rows left claimed become uncertain, deliveries
with a row are never handed out again, and those too late are recorded missed.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot import publishers
from bot.errors import BotError, ConfigError, FeedInvalid, LedgerError
from bot.run.ledger import Ledger
from bot.run.lanes import Context, Lane, Policy
from bot.load import feed_cache, paused_gc, years_later
from bot.run.logs import LOGGER, fields
from bot.publishers.base import AccountSettings, Persona
from bot.replay.schedule import Delivery, Key, Rehearsal, Window, deliveries, first_instant, persona_now
from bot.run.source import FeedSource
from bot.settings import Settings

log = logging.getLogger(LOGGER)

WATCHDOG_SECONDS = 30
STOP_DEADLINE = 8.0  # seconds to let in-flight calls finish on SIGTERM
RETRY_TICK = 5  # seconds before a tick that failed (ledger unavailable) is tried again
MANY = 20  # more missed entries than this at once are logged as one summary line


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunMode:
    """How this run plays the schedule: for real, as a dry run, or as a rehearsal."""

    dry_run: bool = False
    start_at: datetime | None = None  # rehearsal: the first delivery falls here
    speed: float | None = None  # rehearsal: every gap divided by this
    watch: bool = True  # reload on file events

    @property
    def rehearsal(self) -> bool:
        return self.start_at is not None or self.speed is not None


@dataclass
class Service:
    settings: Settings
    mode: RunMode = field(default_factory=RunMode)
    clock: Callable[[], datetime] = utc_now
    stop_event: threading.Event = field(default_factory=threading.Event)

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        settings, mode = self.settings, self.mode
        self.policy = Policy(grace=settings.grace, retries=settings.retries, backoff=settings.backoff)
        cache = feed_cache(settings, progress=False)
        self.source = FeedSource(settings.posts, settings.display, self._report, parse_files=cache.parse_files,
                                 build_timeline=cache.build_timeline, daily_limit=settings.daily_limit)
        with paused_gc(freeze=True):
            if not self.source.load():
                raise FeedInvalid([], "feed.yaml is unusable (see above): nothing to run")
            config = self.source.config
            moments = (e.moment for r in self.source.results.values() for e in r.entries)
            self.years_later = years_later(settings, config, moments, self.clock()) or 1
            timeline = self.source.timeline(self.years_later)
        settings.check_accounts(config.accounts)
        self.window = Window.of(settings.start, settings.end, settings.accounts, timeline.zone)
        self.rehearsal = None
        if mode.rehearsal:
            anchor = first_instant(timeline, self.window)
            if anchor is not None:
                self.rehearsal = Rehearsal(mode.start_at or self.clock(), anchor, mode.speed or 1.0)
        self.ledger = self._open_ledger()
        for row in self.ledger.recover(self.clock()):
            what = "switch" if row.kind == "switch" else "entry"
            log.warning("uncertain %s", fields(kind=what, entry=row.entry_id, account=row.account, platform=row.network, persona=row.persona, reason=row.reason))
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.context = Context(
            ledger=self.ledger,
            clock=self.clock,
            persona=self._persona,
            media_root=lambda: self.source.root,
            stop=self.stop_event,
            policy=self.policy,
            account_of=self._account_of,
            root_of=self._root_of,
        )
        self._lock = threading.RLock()
        self._seen: set[Key] = set()
        self._job = None
        self._arms = 0
        self._announced = False
        with paused_gc(freeze=True):
            self._install(timeline)
        self._make_lanes()
        self._correct_personas()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.add_job(self.tick, IntervalTrigger(seconds=WATCHDOG_SECONDS, timezone=UTC), id="watchdog", misfire_grace_time=None, coalesce=True)
        self.scheduler.start()
        log.info("started %s", fields(
            feed=self.settings.display, entries=len(timeline.events), deliveries=len(self.items),
            years_later=self.years_later, ledger=str(self.ledger.path), dry_run=self.mode.dry_run or None,
            rehearsal=f"x{self.rehearsal.speed:g} from {self.rehearsal.start_at.isoformat()}" if self.rehearsal else None))
        self.tick()
        gc.freeze()  # the feed lives as long as the service: keep it out of every later GC pass
        if self.mode.watch:
            self.watcher = threading.Thread(target=self._watch, name="watcher", daemon=True)
            self.watcher.start()

    def _report(self, diagnostics) -> None:
        for d in diagnostics:
            log.log(logging.ERROR if d.is_error else logging.WARNING, "%s", d)

    def _open_ledger(self) -> Ledger:
        settings = self.settings
        path = settings.ledger
        if not settings.ledger_given and (self.mode.rehearsal or self.mode.dry_run):
            path = Path(tempfile.mkdtemp(prefix="bot-rehearsal-")) / "ledger.sqlite3"
            log.info("rehearsal %s", fields(ledger=str(path), note="temporary ledger, the default one is not touched"))
        return Ledger.open(path, now=self.clock())

    def _install(self, timeline) -> None:
        config = self.source.config
        platforms = {key: account.platforms for key, account in config.accounts.items()}
        override = "console" if self.mode.dry_run else None
        items = deliveries(timeline, platforms, self.window, self.rehearsal, override)
        by_id = {event.id: event for event in timeline.events}
        with self._lock:
            self.timeline = timeline
            self.by_id = by_id
            self.items = items
            self.cursor = 0

    def _account_of(self, entry_id: str) -> str | None:
        event = self.by_id.get(entry_id)
        return event.account if event else None

    def _root_of(self, entry_id: str) -> str:
        seen = set()
        while entry_id not in seen:
            seen.add(entry_id)
            event = self.by_id.get(entry_id)
            if event is None or not event.entry.reply_to:
                return entry_id
            entry_id = event.entry.reply_to
        return entry_id

    def _persona(self, key: str | None) -> Persona:
        config = self.source.config
        spec = config.personas.get(key)
        if spec is None:
            return Persona(key or "", key or "")
        root = self.source.root
        return Persona(
            key=spec.key,
            name=spec.name,
            bio=spec.bio,
            avatar=(root / spec.avatar) if spec.avatar else None,
            banner=(root / spec.banner) if spec.banner else None,
        )

    def _make_lanes(self) -> None:
        config = self.source.config
        state_dir = self.ledger.path.parent
        missing = []
        slots = sorted({(d.key.account, d.key.network) for d in self.items})
        for account_key, network in slots:
            account = config.accounts[account_key]
            try:
                cls = publishers.load(network)
            except (LookupError, ImportError) as exc:
                raise ConfigError(str(exc)) from None
            lacking = cls.missing_credentials(account_key, self.settings.env)
            if lacking:
                missing.append(f"account {account_key!r} on {network} lacks {', '.join(lacking)}")
                continue
            settings = AccountSettings(account_key, account.platforms, dict(account.options))
            publisher = cls(settings, env=self.settings.env, feed_dir=self.source.root, state_dir=state_dir)
            self.lanes[(account_key, network)] = Lane(account_key, network, publisher, self.context)
        if missing:
            raise ConfigError("missing credentials: " + "; ".join(missing) + " (see config.example.env)")
        for lane in self.lanes.values():
            lane.start()

    def _correct_personas(self) -> None:
        """Make every account wear the persona the schedule says it wears now (a missed switch once)."""
        initial = self.timeline.initial
        for slot, persona in persona_now(self.items, initial, self.clock()).items():
            lane = self.lanes.get((slot.account, slot.network))
            if lane is None or persona is None:
                continue
            last = self.ledger.last_switch(slot.account, slot.network)
            if last is not None and last.persona == persona and last.state != "uncertain":
                continue  # worn, or tried once already (a refused switch is not retried at every start)
            # an uncertain switch (cut short by a crash) is made again: profile updates are idempotent
            lane.put_switch(persona)

    # -- the timer -----------------------------------------------------------

    def tick(self) -> None:
        """Hand every due delivery to its lane; record the too-late ones missed; re-arm."""
        with self._lock:
            now = self.clock()
            items = self.items
            end = self.cursor
            while end < len(items) and items[end].instant <= now:
                end += 1
            due = [item for item in items[self.cursor:end] if item.key not in self._seen]
            if len(due) > MANY and self._job is None:
                # a start after a while (or a first start): the next entry is armed before the past is
                # caught up (a job that fires meanwhile waits for the lock, so it runs after)
                self._arm(at=end)
            try:
                if due:
                    self._hand_out(due, now)
            except BotError as exc:  # the ledger cannot be read or written: try again soon
                log.error("tick-failed %s", fields(reason=str(exc), retry_s=RETRY_TICK))
                self._arm(retry=now + timedelta(seconds=RETRY_TICK))
                return
            self.cursor = end
            self._arm()

    def _hand_out(self, due: list[Delivery], now: datetime) -> None:
        known = self.ledger.states_for([d.key for d in due])
        stale, fresh = [], []
        for item in due:
            lane = self.lanes.get((item.key.account, item.key.network))
            if item.key in known or lane is None:
                self._seen.add(item.key)
            elif (now - item.instant).total_seconds() > self.policy.grace:
                stale.append(item)
            else:
                fresh.append((item, lane))
        if stale:  # first: a missed storm's persona switch must reach its lane before the later deliveries
            self._record_missed(stale, now)
            self._seen.update(d.key for d in stale)
        for item, lane in fresh:
            self._seen.add(item.key)
            lane.put(item)

    def _record_missed(self, stale: list[Delivery], now: datetime) -> None:
        grace = self.policy.grace
        rows = [(d.key, d.instant, f"{(now - d.instant).total_seconds():.0f} s late, over the grace of {grace:.0f} s") for d in stale]
        self.ledger.record_missed_many(rows, now=now)
        if len(stale) <= MANY:
            for d, (_, _, reason) in zip(stale, rows):
                log.warning("missed %s", fields(entry=d.key.entry_id, account=d.key.account, persona=d.event.persona, platform=d.key.network, reason=reason))
        else:
            log.warning("missed %s", fields(count=len(stale), first=stale[0].key.entry_id, last=stale[-1].key.entry_id, reason=f"over the grace of {grace:.0f} s (bot status lists them)"))
        for d in stale:  # a storm's persona still changes, once
            if d.entry.storm:
                self.lanes[(d.key.account, d.key.network)].put_switch(d.event.persona, d.key.entry_id)

    def _arm(self, retry: datetime | None = None, at: int | None = None) -> None:
        """One "next due" job, with a fresh id each time (or a retry after a failed tick);
        for `items[at]` (default: the cursor's)."""
        if self.stop_event.is_set():
            return
        self._arms += 1
        if self._job is not None:
            try:
                self._job.remove()
            except JobLookupError:  # it fired and is gone
                pass
            self._job = None
        when = retry
        at = self.cursor if at is None else at
        if when is None and at < len(self.items):
            nxt = self.items[at]
            when = nxt.instant
            if not self._announced:
                self._announced = True
                log.info("armed %s", fields(entry=nxt.key.entry_id, account=nxt.key.account, platform=nxt.key.network, due=nxt.instant.isoformat()))
        if when is not None:
            self._job = self.scheduler.add_job(
                self.tick, DateTrigger(run_date=when, timezone=UTC), id=f"next-{self._arms}", misfire_grace_time=None)

    # -- reload --------------------------------------------------------------

    def _watch(self) -> None:
        """Reload on OS file events. The watcher's first wake-up (at most a second after it
        starts) also takes in files changed between the initial read and the watch."""
        from watchfiles import watch

        root = self.source.root
        first = True
        try:
            self.source.remember_instants(self.years_later)  # for quick reloads (the start may have used the cache)
            for changes in watch(root, stop_event=self.stop_event, debounce=150, step=50, watch_filter=_feed_files,
                                 yield_on_timeout=True, rust_timeout=1000, raise_interrupt=False):
                paths = {Path(path) for _, path in changes}
                if first:
                    first = False
                    paths |= self.source.stale()
                    log.info("watching %s", fields(feed=self.settings.display))
                if paths:
                    self.reload(paths)
        except Exception as exc:  # the service goes on without reload
            log.error("watch-failed %s", fields(reason=f"{type(exc).__name__}: {exc}"))

    def reload(self, paths) -> None:
        with paused_gc():
            self.source.changed(paths)
            timeline = self.source.timeline(self.years_later)
            self._install(timeline)
        self._announced = False
        log.info("reloaded %s", fields(files=len(paths), entries=len(timeline.events), deliveries=len(self.items)))
        self.tick()
        gc.freeze()

    # -- stop ----------------------------------------------------------------

    def stop(self) -> None:
        """Let in-flight calls finish for a few seconds; record the rest uncertain."""
        self.stop_event.set()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:
            pass
        for lane in self.lanes.values():
            lane.wake()
        deadline = self.clock().timestamp() + STOP_DEADLINE
        for lane in self.lanes.values():
            lane.thread.join(max(0.0, deadline - self.clock().timestamp()))
        for lane in self.lanes.values():
            busy = lane.in_flight
            if lane.thread.is_alive() and busy is not None:
                kind, key = busy
                try:
                    if kind == "delivery":
                        self.ledger.settle(*key, "uncertain", now=self.clock(), reason="stopped during the call")
                    else:
                        self.ledger.settle_switch(key, "uncertain", now=self.clock(), reason="stopped during the call")
                    log.warning("uncertain %s", fields(kind=kind, entry=key[0] if kind == "delivery" else None, account=lane.account, platform=lane.network, reason="stopped during the call"))
                except LedgerError:
                    pass  # the call finished meanwhile and settled it
            if not lane.thread.is_alive():
                lane.publisher.close()
        self.ledger.close()
        log.info("stopped")


def _feed_files(change, path: str) -> bool:
    name = os.path.basename(path)
    return name.endswith((".yaml", ".yml")) and not name.startswith(".") and "/." not in path


def run(service: Service) -> int:
    """Start, wait for SIGTERM or SIGINT, stop. Returns the exit code."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            service.start()
        except BotError as exc:
            log.error("not-started %s", fields(reason=str(exc)))
            return 1
        while not stop.wait(3600):
            pass
        service.stop()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
