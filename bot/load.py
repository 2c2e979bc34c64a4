"""Settings + clock -> a checked feed and its timeline: what check, preview,
status and run share. The only door to `bot.speed` (the parse cache and the
worker pool): everything else asks this module.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from bot.feed.diagnostics import Diagnostic
from bot.feed.folder import Feed, load_feed
from bot.replay.anniversary import default_years_later
from bot.replay.timeline import Timeline
from bot.settings import Settings


@dataclass
class Loaded:
    feed: Feed
    timeline: Timeline | None
    diagnostics: list[Diagnostic]
    cache: object | None = None  # the parse cache that built it (see `lines`)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)

    def span(self) -> str | None:
        """`replays 2027-01-11 .. 2036-06-10, years_later 367` (replay zone dates), or None."""
        timeline = self.timeline
        if timeline is None or not timeline.events:
            return None
        zone = timeline.zone
        first, last = timeline.events[0].instant.astimezone(zone), timeline.events[-1].instant.astimezone(zone)
        return f"replays {first:%Y-%m-%d} .. {last:%Y-%m-%d}, years_later {timeline.years_later}"

    def in_the_past(self, settings: Settings, now: datetime) -> list[Diagnostic]:
        """A warning, with a count, when an explicit years_later puts entries before `now`
        (`bot run` would record them missed); the default rule never does."""
        from bot.feed.diagnostics import warning

        explicit = settings.explicit_years_later(self.feed.config.years_later) if self.feed.config else None
        if self.timeline is None or explicit is None:
            return []
        past = [event for event in self.timeline.events if event.instant <= now]
        if not past:
            return []
        first = past[0].entry
        n, source = explicit
        return [warning(first.path, first.line, f"{len(past)} of {len(self.timeline.events)} entries replay before now with "
                                                f"years_later {n} (from {source}): `bot run` would record them missed")]

    def lines(self, encode, platforms) -> list[str]:
        """`list(encode(timeline.events, timeline, platforms))`, kept by the cache between runs."""
        if self.cache is None:
            return list(encode(self.timeline.events, self.timeline, platforms))
        return self.cache.preview_lines(self.feed, self.timeline, platforms, encode)


def feed_cache(settings: Settings, *, progress: bool = True):
    """The parse cache for these settings (`parse_files` and `build_timeline` hooks)."""
    from bot.speed import ParseCache

    return ParseCache(settings.cache, progress=progress)


def years_later(settings: Settings, config, moments, now: datetime, kept: int | None = None) -> int | None:
    """The years_later in force: the option or variable, else feed.yaml, else the value
    kept by the ledger, else the default rule for these entry moments (None when there
    are none)."""
    def rule():
        first = min(moments, default=None)
        return default_years_later(first, config.replay_zone, now) if first is not None else None

    return settings.years_later_for(config.years_later, rule, kept)


@contextmanager
def paused_gc(*, freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a feed's many objects are built.

    Building 100,000 entries makes it run hundreds of full passes over objects
    that are all alive (it roughly doubles the time). Reference counting still
    frees what is dropped; the rare cycle (a YAML alias inside itself) is
    collected once the collector runs again. `freeze`: what was built stays alive
    for long (a service's feed): move it out of the collector's sight (gc.freeze),
    else its first pass after the pause walks every object built (~0.1 s)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def sort_key(feed: Feed):
    first = feed.display("feed.yaml")
    return lambda d: (d.path != first, d.path, d.line)


def load(settings: Settings, *, now: datetime, cache=None, freeze: bool = False, kept: int | None = None) -> Loaded:
    """Read and check the feed of `settings`, and build its timeline.

    `cache`: a parse cache from `feed_cache` (None: parse every file here);
    `freeze` as in `paused_gc` (for a command that ends once it has used the feed);
    `kept`: the years_later a ledger keeps (see `kept_years_later`)."""
    from bot.replay.timeline import build

    with paused_gc(freeze=freeze):
        feed = load_feed(settings.posts, settings.display, parse_files=cache.parse_files if cache else None)
        diagnostics = list(feed.diagnostics)
        timeline = None
        if feed.config is not None:
            n = years_later(settings, feed.config, (entry.moment for entry in feed.entries), now, kept)
            timeline = (cache.build_timeline if cache else build)(feed, n or 1, daily_limit=settings.daily_limit)
            diagnostics.extend(timeline.diagnostics)
    diagnostics.sort(key=sort_key(feed))
    return Loaded(feed, timeline, diagnostics, cache)
