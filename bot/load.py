"""Feed folder + settings + clock -> checked timeline: what check, preview and run share."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bot.replay.anniversary import default_years_later
from bot.feed.diagnostics import Diagnostic
from bot.errors import ConfigError
from bot.feed.folder import Feed, load_feed
from bot.replay.timeline import Timeline, build

DEFAULT_DAILY_LIMIT = 17


@dataclass
class Loaded:
    feed: Feed
    timeline: Timeline | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.is_error)


def env_int(env: Mapping[str, str], name: str, default: int | None, minimum: int = 0) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def resolve_years_later(option: int | None, env: Mapping[str, str], feed: Feed, now: datetime) -> int | None:
    """--years-later beats BOT_YEARS_LATER beats feed.yaml; else the smallest N >= 1
    that puts the feed's last entry in the future (None for a feed without entries)."""
    if option is not None:
        return option
    from_env = env_int(env, "BOT_YEARS_LATER", None, minimum=1)
    if from_env is not None:
        return from_env
    if feed.config.years_later is not None:
        return feed.config.years_later
    if not feed.entries:
        return None
    last = max(entry.moment for entry in feed.entries)
    return default_years_later(last, feed.config.replay_zone, now)


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


def load(
    posts: Path | str,
    display: str | None = None,
    *,
    now: datetime,
    years_later: int | None = None,
    env: Mapping[str, str] | None = None,
    parse_files=None,
    build_timeline=None,
    freeze: bool = False,
) -> Loaded:
    """`build_timeline(feed, years_later, daily_limit=)` may replace `timeline.build`
    (the parse cache's `build_timeline` keeps the last one); `freeze` as in `paused_gc`
    (for a command that ends once it has used the feed)."""
    env = os.environ if env is None else env
    with paused_gc(freeze=freeze):
        feed = load_feed(posts, display, parse_files=parse_files)
        diagnostics = list(feed.diagnostics)
        timeline = None
        if feed.config is not None:
            n = resolve_years_later(years_later, env, feed, now)
            daily = env_int(env, "BOT_DAILY_LIMIT", DEFAULT_DAILY_LIMIT, minimum=1)
            timeline = (build_timeline or build)(feed, n or 1, daily_limit=daily)
            diagnostics.extend(timeline.diagnostics)
    diagnostics.sort(key=sort_key(feed))
    return Loaded(feed, timeline, diagnostics)
