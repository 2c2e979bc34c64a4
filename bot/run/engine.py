"""The service's core, without threads or timers: the feed as the schedule,
the ledger, and one lane per account and network.

    engine = Engine(settings, mode, clock=clock)
    engine.start()          # prepare() then activate():
    engine.prepare()        #   feed, credentials, ledger (what a standby does too)
    engine.activate()       #   recovery, personas, lookups, lanes (the active process)
    engine.tick(now)        # hand every due delivery to its lane; the too-late ones are missed
    lane.step(now)          # each lane does its next call (see bot.run.lanes)
    engine.next_due()       # when the next delivery falls due

`bot.run.service` runs it for real (a timer and a thread per lane); tests run
it in process with an injected clock. The ledger is the only state: at start,
rows left claimed become uncertain and are looked up on their network, every
account is set to wear the persona due, deliveries with a row are never
handed out again, and those too late are recorded missed.

With a PostgreSQL ledger several processes prepare and one activates (see
`bot.run.leader`); a deposed one `deactivate()`s, dropping its lanes, and may
activate again later: activation rebuilds everything from the ledger.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot import publishers
from bot.errors import ConfigError, Deposed, FeedInvalid
from bot.load import feed_cache, paused_gc, years_later
from bot.publishers.base import AccountSettings, Persona, Publisher
from bot.replay.schedule import Delivery, Key, Rehearsal, Window, deliveries, first_instant
from bot.run.lanes import Context, Lane, SwitchMark
from bot.run.ledger import REHEARSAL, YEARS_LATER, BaseLedger, kept_years_later, ledger_exists, open_ledger
from bot.run.logs import LOGGER, event, source
from bot.run.policy import Policy, late_reason
from bot.units import duration
from bot.run.source import FeedSource
from bot.settings import Settings

log = logging.getLogger(LOGGER)
MANY = 20  # more missed entries than this at once are logged as one summary line

PublisherFactory = Callable[[type[Publisher], AccountSettings, Settings, Path, Path], Publisher]


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


def build_publisher(cls: type[Publisher], account: AccountSettings, settings: Settings, feed_dir: Path, state_dir: Path) -> Publisher:
    return cls(account, env=settings.env, feed_dir=feed_dir, state_dir=state_dir)


class Engine:
    def __init__(self, settings: Settings, mode: RunMode = RunMode(), *, clock: Callable[[], datetime],
                 make_publisher: PublisherFactory = build_publisher) -> None:
        self.settings = settings
        self.mode = mode
        self.clock = clock
        self.make_publisher = make_publisher
        self.policy = Policy.of(settings)
        self.lanes: dict[tuple[str, str], Lane] = {}
        self.ledger: BaseLedger | None = None
        self.on_settled: Callable[[Key], None] = lambda key: None  # the service wakes its lane threads
        self.guard: Callable[[], None] = lambda: None  # raises Deposed when this process may not act
        self.on_deposed: Callable[[Deposed], None] = lambda exc: None  # a write was refused: tell the leadership
        self._built: dict | None = None  # publishers made by prepare(), for the first activation
        self._lock = threading.RLock()
        self._seen: set[Key] = set()
        self.cursor = 0

    # -- start ---------------------------------------------------------------

    def start(self) -> None:
        """Prepare and activate at once: one process, no standby (SQLite, tests)."""
        self.prepare()
        self.activate()

    def prepare(self) -> None:
        """The feed, the credentials and the ledger: what a standby holds, to take over warm."""
        settings = self.settings
        cache = feed_cache(settings, progress=False)
        self.source = FeedSource(settings.posts, settings.display, self._report, parse_files=cache.parse_files,
                                 build_timeline=cache.build_timeline, daily_limit=settings.daily_limit)
        with paused_gc(freeze=True):
            if not self.source.load():
                raise FeedInvalid([], "feed.yaml is unusable (see above): nothing to run")
            config = self.source.config
            self.years_later = self._years_later(config)
            timeline = self.source.timeline(self.years_later)
            settings.check_accounts(config.accounts)
            self.window = Window.of(settings.start, settings.end, settings.accounts, timeline.zone)
            self.rehearsal = None
            if self.mode.rehearsal:
                anchor = first_instant(timeline, self.window)
                if anchor is not None:
                    self.rehearsal = Rehearsal(self.mode.start_at or self.clock(), anchor, self.mode.speed or 1.0)
            self._install(timeline)
        self._built = self._publishers()  # credentials are checked before the ledger is made
        self.ledger = self._open_ledger()
        if self.ledger.shared:
            self._check_feed(config)

    def activate(self) -> None:
        """Recover, then build the lanes: this process is the one that publishes now."""
        built, self._built = self._built, None
        if built is None:
            built = self._publishers()
        if self.ledger.shared:
            self._adopt_kept_years_later()
        if self.ledger.get_meta(YEARS_LATER) != str(self.years_later):
            self.ledger.set_meta(YEARS_LATER, str(self.years_later))  # kept: a restart never moves the replay
        if self.rehearsal is not None and self.ledger.get_meta(REHEARSAL) != (kept := self.rehearsal.dumps()):
            self.ledger.set_meta(REHEARSAL, kept)  # bot status reads this ledger on the rehearsal's clock
        for row in self.ledger.recover(self.clock()):
            event(logging.WARNING, "uncertain", kind=row.kind, entry=row.entry_id, account=row.account,
                                               platform=row.network, persona=row.persona, **self.source_of(row.entry_id),
                                               reason=row.reason)
        self.context = Context(
            ledger=self.ledger, clock=self.clock, policy=self.policy, persona=self.persona,
            media_root=lambda: self.source.root, account_of=self._account_of, root_of=self._root_of,
            expects=self._expects, settled=self._settled, zone=self.timeline.zone, source_of=self.source_of,
            guard=lambda: self.guard(), deposed=lambda exc: self.on_deposed(exc),
        )
        with self._lock:
            self._seen = set()
            self.cursor = 0
            self.lanes = {slot: Lane(*slot, publisher, self.context) for slot, publisher in built.items()}
        self._start_personas()
        self._start_lookups()

    def deactivate(self) -> dict[tuple[str, str], Lane]:
        """Deposed: forget the lanes (returned: their threads end after their current call)."""
        with self._lock:
            lanes, self.lanes = self.lanes, {}
            self._seen = set()
            self.cursor = 0
        return lanes

    def _check_feed(self, config) -> None:
        """A PostgreSQL ledger serves one feed: the first to use it names it; another is refused."""
        mine = self.settings.feed_id or feed_identity(config)
        kept = self.ledger.adopt_feed(mine)
        if kept != mine:
            raise ConfigError(
                f"ledger {self.ledger.path} belongs to the feed {kept!r}, not to this one ({mine!r}): give each "
                f"feed a database (or schema) of its own; if it is that feed with a new title or other accounts, "
                f"set BOT_FEED_ID={kept!r}")

    def _adopt_kept_years_later(self) -> None:
        """Another process may have started the replay: keep the years_later it recorded."""
        value = self.ledger.get_meta(YEARS_LATER)
        kept = int(value) if value and value.isdigit() else None
        if kept is None or kept == self.years_later:
            return
        explicit = self.settings.explicit_years_later(self.source.config.years_later)
        if explicit is not None and any(self.ledger.counts().values()):
            raise ConfigError(f"years_later {explicit[0]} (from {explicit[1]}) differs from {kept}, which the "
                              f"ledger {self.ledger.path} keeps: the replay would move")
        self.years_later = kept
        with paused_gc():
            self._install(self.source.timeline(kept))

    def _report(self, diagnostics) -> None:
        for d in diagnostics:
            log.log(logging.ERROR if d.is_error else logging.WARNING, "%s", d)

    @property
    def temporary_ledger(self) -> bool:
        """A rehearsal or dry run without --ledger gets a ledger of its own, never the default one."""
        return not self.settings.ledger_given and (self.mode.rehearsal or self.mode.dry_run)

    def _open_ledger(self) -> BaseLedger:
        target = self.settings.ledger_target
        if self.temporary_ledger:
            target = Path(tempfile.mkdtemp(prefix="bot-rehearsal-")) / "ledger.sqlite3"
            event(logging.INFO, "rehearsal", ledger=str(target), note="temporary ledger, the default one is not touched")
        return open_ledger(target, now=self.clock(), fenced=True)

    def _years_later(self, config) -> int:
        """The option, variable or feed.yaml; else the value the ledger keeps from its first
        run; else the default rule (the feed's first entry in the future). An explicit value
        that differs from the kept one, on a ledger with rows, is refused."""
        settings = self.settings
        kept = None if self.temporary_ledger else kept_years_later(settings.ledger_target)
        explicit = settings.explicit_years_later(config.years_later)
        if kept is not None and explicit is not None and explicit[0] != kept and self._ledger_has_rows():
            raise ConfigError(
                f"years_later {explicit[0]} (from {explicit[1]}) differs from {kept}, which the ledger "
                f"{settings.ledger_name} keeps from its first run: the replay would move. Drop the setting, "
                f"set it to {kept}, or start a new ledger")
        moments = (e.moment for r in self.source.results.values() for e in r.entries)
        return years_later(settings, config, moments, self.clock(), kept) or 1

    def _ledger_has_rows(self) -> bool:
        if not ledger_exists(self.settings.ledger_target):
            return False
        with open_ledger(self.settings.ledger_target, readonly=True) as ledger:
            return any(ledger.counts().values())

    def _publishers(self) -> dict[tuple[str, str], Publisher]:
        config = self.source.config
        state_dir = self.settings.state
        missing, built = [], {}
        for account_key, network in sorted({(d.key.account, d.key.network) for d in self.items}):
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
            built[(account_key, network)] = self.make_publisher(cls, settings, self.settings, self.source.root, state_dir)
        if missing:
            raise ConfigError("\n".join(f"missing credentials: {m} (see config.example.env)" for m in missing))
        return built

    def _install(self, timeline) -> None:
        config = self.source.config
        platforms = {key: account.platforms for key, account in config.accounts.items()}
        override = "console" if self.mode.dry_run else None
        items = deliveries(timeline, platforms, self.window, self.rehearsal, override)
        with self._lock:
            self.timeline = timeline
            self.by_id = {event.id: event for event in timeline.events}
            self.items = items
            self.cursor = 0

    def _start_personas(self) -> None:
        """Each lane's persona due at start: after the last storm of its slot that the
        ledger has seen (a storm still due is the lane's to handle, in order); storms
        before --from count as passed."""
        baseline = self._personas_at(self.window.start)
        storms = [d for d in self.items if d.entry.storm]
        seen = self.ledger.states_for([d.key for d in storms]) if storms else {}
        desired = {slot: baseline.get(slot[0]) for slot in self.lanes}
        coming: dict[tuple[str, str], set[str]] = {slot: set() for slot in self.lanes}  # storms still to handle
        for d in storms:
            slot = (d.key.account, d.key.network)
            if d.key in seen:
                desired[slot] = d.event.persona
            elif slot in coming:
                coming[slot].add(d.event.persona)
        for slot, lane in self.lanes.items():
            lane.personas.start(desired[slot], self.timeline.initial.get(slot[0]), coming[slot])

    def _personas_at(self, moment: datetime | None) -> dict[str, str | None]:
        worn = dict(self.timeline.initial)
        if moment is None:
            return worn
        for happened in self.timeline.events:
            if happened.instant >= moment:
                break
            if happened.entry.storm:
                worn[happened.account] = happened.persona
        return worn

    def _start_lookups(self) -> None:
        """Every uncertain delivery of this run is looked up on its network first thing."""
        uncertain = {row.key for row in self.ledger.uncertain()}
        if not uncertain:
            return
        now = self.clock()
        for item in self.items:
            if item.key in uncertain:
                lane = self.lanes.get((item.key.account, item.key.network))
                if lane is not None:
                    lane.reconciler.add(item, now)
                    uncertain.discard(item.key)
        self.context.given_up.update(uncertain)  # not in this run: only `bot resolve` can settle them

    # -- what lanes ask ------------------------------------------------------------

    def persona(self, key: str | None) -> Persona:
        spec = self.source.config.personas.get(key)
        if spec is None:
            return Persona(key or "", key or "")
        root = self.source.root
        return Persona(key=spec.key, name=spec.name, bio=spec.bio,
                       avatar=(root / spec.avatar) if spec.avatar else None,
                       banner=(root / spec.banner) if spec.banner else None)

    def source_of(self, entry_id: str | None) -> dict:
        """`path` and `line` of an entry of the feed (empty for an id it no longer has)."""
        found = self.by_id.get(entry_id) if entry_id else None
        return {"path": found.entry.path, "line": found.entry.line} if found else {}

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

    def _expects(self, key: Key) -> bool:
        """Is this delivery part of this run (so a reply should wait for it)?"""
        entry_id, account, network = key
        event = self.by_id.get(entry_id)
        return event is not None and self.window.admits(event) and (account, network) in self.lanes

    def _settled(self, key: Key) -> None:
        self.on_settled(key)

    # -- the timer -------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """Hand every due delivery to its lane; record the too-late ones missed (Deposed when
        this process may not act)."""
        self.guard()
        with self._lock:
            items = self.items
            end = self.cursor
            while end < len(items) and items[end].instant <= now:
                end += 1
            due = [item for item in items[self.cursor:end] if item.key not in self._seen]
            if due:
                self._hand_out(due, now)
            self.cursor = end

    def next_due(self) -> datetime | None:
        with self._lock:
            return self.items[self.cursor].instant if self.cursor < len(self.items) else None

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
        if stale:  # first: a missed storm's persona switch must reach its lane before later deliveries
            self._record_missed(stale, now)
            self._seen.update(d.key for d in stale)
        for item, lane in fresh:
            self._seen.add(item.key)
            lane.put(item)

    def _record_missed(self, stale: list[Delivery], now: datetime) -> None:
        grace = self.policy.grace
        rows = [(d.key, d.instant, late_reason((now - d.instant).total_seconds(), grace)) for d in stale]
        self.ledger.record_missed_many(rows, now=now)
        if len(stale) <= MANY:
            for d, (_, _, reason) in zip(stale, rows):
                event(logging.WARNING, "missed", entry=d.key.entry_id, account=d.key.account, persona=d.event.persona,
                                                platform=d.key.network, **source(d), reason=reason)
        else:  # one summary line per account and network
            lanes: dict[tuple[str, str], list[Delivery]] = {}
            for d in stale:
                lanes.setdefault((d.key.account, d.key.network), []).append(d)
            for (account, network), group in lanes.items():
                first, last = group[0], group[-1]
                event(logging.WARNING, "missed", count=len(group), account=account, platform=network,
                      first=first.key.entry_id, **source(first), last=last.key.entry_id, last_path=last.entry.path,
                      last_line=last.entry.line, reason=f"over the grace of {duration(grace)} (bot status lists them)")
        for d in stale:  # a storm's persona still changes
            if d.entry.storm:
                self.lanes[(d.key.account, d.key.network)].put(SwitchMark(d.event.persona, d.key.entry_id))

    # -- reload ------------------------------------------------------------------------

    def reload(self, paths) -> None:
        with paused_gc():
            self.source.changed(paths)
            timeline = self.source.timeline(self.years_later)
            self._install(timeline)
        event(logging.INFO, "reloaded", files=len(paths), entries=len(timeline.events), deliveries=len(self.items))

    def close(self) -> None:
        for lane in self.lanes.values():
            lane.publisher.close()
        for publisher in (self._built or {}).values():
            publisher.close()
        if self.ledger is not None:
            self.ledger.close()


def feed_identity(config) -> str:
    """What names a feed in a shared ledger: its title and a digest of its account keys."""
    import hashlib

    digest = hashlib.sha256("\n".join(sorted(config.accounts)).encode()).hexdigest()[:8]
    return f"{config.title} #{digest}"
