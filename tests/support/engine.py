"""The service core in process: a manual clock, scripted networks and a driver.

    net = ScriptedNetwork("x")
    engine = make_engine(feed_root, tmp_path / "ledger.sqlite3", clock, {"x": net})
    drive(engine, clock, until=...)   # ticks and lane steps, time jumping to what is due next

`ScriptedPublisher` subclasses the real `bot.publishers.base.Publisher`: the
engine calls it exactly as it calls X, Mastodon or Bluesky. Its network keeps
the posts and profiles it "created" and answers each call by a script of
outcomes (an exception to raise, or a function of the call).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.errors import ConfigError
from bot.publishers.base import Found, Limits, OutgoingPost, Persona, Profile, Publisher
from bot.run.engine import Engine, RunMode
from bot.settings import Settings


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Killed(BaseException):
    """Raised inside a call to stand for kill -9: nothing after it runs, the row stays claimed."""


@dataclass
class Call:
    kind: str  # "post", "switch", "lookup", "profile"
    account: str
    at: datetime
    post: OutgoingPost | None = None
    persona: Persona | None = None


@dataclass
class ScriptedNetwork:
    """One fake network shared by every account on it."""

    name: str
    clock: ManualClock | None = None
    can_look_up: bool = True  # reconcile finds posts by their idempotency key
    shows_profile: bool = True
    posts: dict[str, OutgoingPost] = field(default_factory=dict)  # remote id -> post
    profiles: dict[str, Profile] = field(default_factory=dict)  # account -> profile now
    calls: list[Call] = field(default_factory=list)
    script: dict[str, list] = field(default_factory=dict)  # call kind -> outcomes, consumed in order
    duration: float = 0.0  # seconds each call takes (the manual clock moves)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def fail(self, kind: str, *outcomes) -> None:
        """Script the next calls of `kind`: an exception instance (raised), "create" then an
        exception (the post is created, then the exception: a lost answer), or None (normal)."""
        self.script.setdefault(kind, []).extend(outcomes)

    def down(self, kind: str, error: Callable[[], Exception], until: datetime) -> None:
        """Every call of `kind` raises `error()` while the clock is before `until`."""
        self.script.setdefault(kind, []).append(("until", until, error))

    def _next(self, kind: str):
        queue = self.script.get(kind) or []
        while queue:
            head = queue[0]
            if isinstance(head, tuple) and head[0] == "until":
                if self.clock is not None and self.clock() < head[1]:
                    return head[2]()
                queue.pop(0)
                continue
            return queue.pop(0)
        return None

    def texts(self, account: str | None = None) -> list[str]:
        return [p.text for p in self.posts.values() if account is None or p.account == account]

    def by_entry(self, entry_id: str) -> list[tuple[str, OutgoingPost]]:
        return [(rid, p) for rid, p in self.posts.items() if p.entry_id == entry_id]


class ScriptedPublisher(Publisher):
    name = "scripted"
    display_name = "Scripted"
    limits = Limits(text=None)

    def __init__(self, *args, network: ScriptedNetwork, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network = network

    def _begin(self, kind: str, **extra) -> object:
        net = self.network
        net.calls.append(Call(kind, self.account.key, net.clock() if net.clock else None, **extra))
        if net.clock is not None and net.duration:
            net.clock.advance(net.duration)
        return net._next(kind)

    def publish(self, post: OutgoingPost) -> str:
        outcome = self._begin("post", post=post)
        if isinstance(outcome, Killed):
            raise outcome
        if isinstance(outcome, tuple) and outcome[0] == "create":
            self._create(post)
            raise outcome[1]
        if isinstance(outcome, BaseException):
            raise outcome
        return self._create(post)

    def _create(self, post: OutgoingPost) -> str:
        remote = f"{self.network.name}-{next(self.network._ids)}"
        self.network.posts[remote] = post
        return remote

    def switch_persona(self, persona: Persona) -> Profile | None:
        outcome = self._begin("switch", persona=persona)
        if isinstance(outcome, BaseException):
            raise outcome
        avatar = hashlib.sha256(persona.avatar.read_bytes()).hexdigest()[:12] if persona.avatar else None
        profile = Profile(persona.name, persona.bio, f"ref-{avatar}-{len(self.network.calls)}" if avatar else None)
        self.network.profiles[self.account.key] = profile
        return profile

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        outcome = self._begin("lookup", post=post)
        if isinstance(outcome, BaseException):
            raise outcome
        if not self.network.can_look_up:
            return Found.unknown("this network cannot look a post up", final=True)
        found = [rid for rid, p in self.network.posts.items() if p.idempotency_key == post.idempotency_key]
        return Found.posted(found[0], "by its key") if found else Found.absent("no post with its key")

    def profile(self) -> Profile | None:
        outcome = self._begin("profile")
        if isinstance(outcome, BaseException):
            raise outcome
        if not self.network.shows_profile:
            return None
        return self.network.profiles.get(self.account.key, Profile("", ""))


def make_engine(root: Path, ledger: Path, clock: ManualClock, networks: dict[str, ScriptedNetwork], *,
                env: dict | None = None, mode: RunMode = RunMode(watch=False), **options) -> Engine:
    """An engine over the feed at `root` whose networks are the scripted ones named like
    them (`networks["x"]` stands for X); credentials come from `credentials()`, checked
    by the real publishers' rules."""
    for net in networks.values():
        net.clock = clock
    env = {"BOT_CACHE": str(Path(ledger).parent / "cache"), **credentials(root), **(env or {})}
    settings = Settings.resolve(env, posts=str(root), ledger=str(ledger), **options)

    def factory(cls, account, settings, feed_dir, state_dir):
        if cls.name not in networks:
            raise ConfigError(f"no scripted network for {cls.name}")
        return ScriptedPublisher(account, env=settings.env, feed_dir=feed_dir, state_dir=state_dir,
                                 network=networks[cls.name])

    return Engine(settings, mode, clock=clock, make_publisher=factory)


def drive(engine: Engine, clock: ManualClock, until: datetime, *, max_rounds: int = 100_000) -> None:
    """Run `engine` as the service does, until `until`: tick, step every lane until none
    can do more now, then move the clock to the earliest instant anything is due."""
    wakes: dict = {}
    for _ in range(max_rounds):
        engine.tick(clock())
        for _ in range(10_000):
            progressed = False
            for slot in sorted(engine.lanes):
                lane = engine.lanes[slot]
                wake = lane.step(clock())
                wakes[slot] = wake
                if wake is not None and wake <= clock():
                    progressed = True
            if not progressed:
                break
        else:
            raise AssertionError("lanes kept stepping without time passing")
        upcoming = [w for w in (engine.next_due(), *wakes.values()) if w is not None and w > clock()]
        if not upcoming or min(upcoming) > until:
            clock.now = max(clock.now, until)
            engine.tick(clock())
            return
        clock.now = min(upcoming)
    raise AssertionError("the engine did not settle")


def kill(engine: Engine) -> None:
    """kill -9 as far as the ledger can tell: the file and its lock are let go, nothing settled."""
    engine.ledger.close()


def credentials(root: Path) -> dict[str, str]:
    """Fake credentials for every account and network of the feed at `root`."""
    from bot import publishers
    from bot.feed.config import load_config

    config, _ = load_config(Path(root) / "feed.yaml", "feed.yaml")
    env = {}
    for account in (config.accounts.values() if config else ()):
        for platform in account.platforms:
            for name in publishers.load(platform).required_credentials(account.key):
                env[name] = f"fake-{name.lower()}-value"
    return env


def real_engine(root: Path, ledger: Path, clock: ManualClock, env: dict, *, mode: RunMode = RunMode(watch=False),
                **options) -> Engine:
    """An engine over the feed at `root` with the real publishers (X, Mastodon, Bluesky),
    which `env` points at fake servers; time is the manual clock's."""
    env = {"BOT_CACHE": str(Path(ledger).parent / "cache"), **env}
    settings = Settings.resolve(env, posts=str(root), ledger=str(ledger), **options)
    return Engine(settings, mode, clock=clock)


class ActionLog(logging.Handler):
    """The service's action lines (`bot` logger), formatted as on stderr, kept in a list."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        from bot.run.logs import Formatter, LOGGER

        self.setFormatter(Formatter())
        self.lines: list[str] = []
        self._logger = logging.getLogger(LOGGER)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> ActionLog:
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)
