"""Settings: every knob of the bot, resolved once and handed down.

Precedence, for each: a command-line option, then the environment (or `.env`),
then feed.yaml where it has a say, then the default. Nothing else in the bot
reads `BOT_*` variables or knows a default path.

| setting       | option           | variable         | default                                  |
|---------------|------------------|------------------|------------------------------------------|
| feed folder   | DIR, `--posts`   | BOT_POSTS        | ./posts                                  |
| ledger        | `--ledger`       | BOT_LEDGER       | ./state/ledger.sqlite3 (or postgresql://)|
| failover      |                  | BOT_FAILOVER     | 15 s (PostgreSQL ledger: takeover time)  |
| state folder  |                  | BOT_STATE        | the ledger file's folder, else ./state   |
| feed id       |                  | BOT_FEED_ID      | feed.yaml's title and accounts           |
| parse cache   |                  | BOT_CACHE        | the user's cache folder, per feed folder |
| years_later   | `--years-later`  | BOT_YEARS_LATER  | feed.yaml, else the default rule         |
| grace         |                  | BOT_GRACE        | 900 s                                    |
| retries       |                  | BOT_RETRIES      | 5                                        |
| backoff       |                  | BOT_BACKOFF      | 1 s, doubled each retry                  |
| daily limit   |                  | BOT_DAILY_LIMIT  | 17 posts in 24 hours                     |
| window        | `--from`/`--until`/`--account` |    | everything                               |
| notifications |                  | BOT_NOTIFY       | none (Apprise URLs, space or comma apart)|
| daily summary |                  | BOT_NOTIFY_SUMMARY | none (HH:MM in the replay zone)        |
| HTTP endpoints|                  | BOT_HTTP         | off ([HOST:]PORT; host 127.0.0.1)        |
| log format    |                  | BOT_LOG_FORMAT   | text (or json: one object per line)      |
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from pathlib import Path

from bot.errors import ConfigError

DEFAULT_POSTS = "posts"
DEFAULT_LEDGER = "state/ledger.sqlite3"
DEFAULT_GRACE = 900.0
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 1.0
DEFAULT_DAILY_LIMIT = 17  # X's free-tier daily cap
DEFAULT_FAILOVER = 15.0
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class Bound:
    """`--from` or `--until`: an ISO date (a whole day) or date-time, in the replay
    zone unless it carries an offset. Parsed at once; placed in a zone with `at`."""

    moment: datetime  # naive, or aware when the text had an offset
    end: bool  # an `--until`: a bare date means the end of that day

    @classmethod
    def parse(cls, text: str, *, end: bool, name: str) -> Bound:
        try:
            if "T" in text or " " in text.strip():
                moment = datetime.fromisoformat(text)
            else:
                day = datetime.fromisoformat(text).date()
                moment = datetime.combine(day, time.max if end else time.min)
        except ValueError:
            raise ConfigError(f"{name}: {text!r} is not an ISO date or date-time") from None
        return cls(moment, end)

    def at(self, zone: tzinfo) -> datetime:
        """The aware instant, reading a naive moment in `zone`."""
        return self.moment if self.moment.tzinfo else self.moment.replace(tzinfo=zone)


@dataclass(frozen=True)
class Settings:
    posts: Path
    display: str  # the feed folder as the user wrote it (diagnostics show paths under it)
    env: Mapping[str, str] = field(repr=False)
    years_later: int | None = None  # --years-later, else BOT_YEARS_LATER; see `years_later_for`
    years_later_from: str | None = None  # which of the two gave it
    ledger: Path = Path(DEFAULT_LEDGER)  # the SQLite file (unused with a PostgreSQL ledger)
    ledger_given: bool = False  # by --ledger (a rehearsal uses no other ledger than one given so)
    ledger_url: str | None = field(default=None, repr=False)  # a PostgreSQL ledger (may hold a password)
    failover: float = DEFAULT_FAILOVER  # seconds within which a standby takes over (PostgreSQL ledger)
    state: Path = Path(DEFAULT_LEDGER).parent  # the publishers' state (Bluesky sessions)
    feed_id: str | None = None  # the feed's name in a PostgreSQL ledger (default: title and accounts)
    cache: Path = Path(".")
    grace: float = DEFAULT_GRACE
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    daily_limit: int = DEFAULT_DAILY_LIMIT
    start: Bound | None = None
    end: Bound | None = None
    accounts: tuple[str, ...] = ()
    notify: tuple[str, ...] = field(default=(), repr=False)  # Apprise URLs: they carry tokens
    notify_summary: time | None = None  # the daily summary, in the replay zone
    http: tuple[str, int] | None = None  # where /healthz, /metrics and the status page listen
    log_format: str = "text"

    @classmethod
    def resolve(cls, env: Mapping[str, str] | None = None, *, posts: str | None = None,
                years_later: int | None = None, ledger: str | os.PathLike | None = None,
                start: str | None = None, end: str | None = None, accounts: Iterable[str] = ()) -> Settings:
        """Settings from options (None: not given) and `env` (default: os.environ).
        ConfigError names the first malformed value."""
        env = os.environ if env is None else env
        display = posts or env.get("BOT_POSTS") or DEFAULT_POSTS
        target = os.fspath(ledger or env.get("BOT_LEDGER") or DEFAULT_LEDGER)
        url = target if is_postgres(target) else None
        path = Path(DEFAULT_LEDGER if url else target)
        return cls(
            posts=Path(display),
            display=display,
            env=env,
            years_later=years_later if years_later is not None else whole(env, "BOT_YEARS_LATER", None, 1, 5000),
            years_later_from="--years-later" if years_later is not None else (
                "BOT_YEARS_LATER" if (env.get("BOT_YEARS_LATER") or "").strip() else None),
            ledger=path,
            ledger_given=ledger is not None,
            ledger_url=url,
            failover=failover_seconds(env),
            state=Path(env.get("BOT_STATE") or path.parent),
            feed_id=(env.get("BOT_FEED_ID") or "").strip() or None,
            cache=cache_folder(env),
            grace=float(whole(env, "BOT_GRACE", int(DEFAULT_GRACE), 0)),
            retries=whole(env, "BOT_RETRIES", DEFAULT_RETRIES, 0),
            backoff=seconds(env, "BOT_BACKOFF", DEFAULT_BACKOFF),
            daily_limit=whole(env, "BOT_DAILY_LIMIT", DEFAULT_DAILY_LIMIT, 1),
            start=Bound.parse(start, end=False, name="--from") if start else None,
            end=Bound.parse(end, end=True, name="--until") if end else None,
            accounts=tuple(accounts),
            notify=notify_urls(env, "BOT_NOTIFY"),
            notify_summary=clock_time(env, "BOT_NOTIFY_SUMMARY"),
            http=http_address(env, "BOT_HTTP"),
            log_format=choice(env, "BOT_LOG_FORMAT", ("text", "json")),
        )

    @property
    def postgres(self) -> bool:
        """The ledger is a PostgreSQL database: several processes, one active."""
        return self.ledger_url is not None

    @property
    def ledger_target(self) -> str | Path:
        """What `bot.run.ledger.open_ledger` opens: the URL or the file."""
        return self.ledger_url or self.ledger

    @property
    def ledger_name(self) -> str:
        """The ledger as messages show it (a URL's password masked)."""
        return masked_url(self.ledger_url) if self.ledger_url else str(self.ledger)

    def explicit_years_later(self, from_feed: int | None) -> tuple[int, str] | None:
        """(N, where it was given) when years_later is set: the option or variable, else feed.yaml."""
        if self.years_later is not None:
            return self.years_later, self.years_later_from or "--years-later"
        if from_feed is not None:
            return from_feed, "feed.yaml"
        return None

    def years_later_for(self, from_feed: int | None, default_rule, kept: int | None = None) -> int | None:
        """The option or variable, else feed.yaml's `years_later:`, else the value a ledger
        keeps from its first run (`kept`), else `default_rule()` (the anniversary rule's
        default for this feed: its first entry in the future; None without entries)."""
        explicit = self.explicit_years_later(from_feed)
        if explicit is not None:
            return explicit[0]
        if kept is not None:
            return kept
        return default_rule()

    def check_accounts(self, known: Iterable[str]) -> None:
        """ConfigError for an --account the feed does not have."""
        known = set(known)
        unknown = [a for a in self.accounts if a not in known]
        if unknown:
            raise ConfigError(f"--account: the feed has no account {unknown[0]!r}")


def is_postgres(target: str | os.PathLike) -> bool:
    return os.fspath(target).lower().startswith(POSTGRES_SCHEMES)


def masked_url(url: str) -> str:
    """`url` with its password (in the authority or a `password=` parameter) shown as ***."""
    scheme, sep, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        if ":" in userinfo:
            authority = userinfo.split(":", 1)[0] + ":***@" + host
    tail = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", slash + tail)
    return scheme + sep + authority + tail


def failover_seconds(env: Mapping[str, str]) -> float:
    value = seconds(env, "BOT_FAILOVER", DEFAULT_FAILOVER)
    if value < 1:
        raise ConfigError(f"BOT_FAILOVER must be at least 1 second, not {env.get('BOT_FAILOVER')!r}")
    return value


def cache_folder(env: Mapping[str, str]) -> Path:
    """BOT_CACHE, else the user's cache folder (XDG_CACHE_HOME on Linux); the parse
    cache keeps one subfolder per feed folder, named by its absolute path."""
    if env.get("BOT_CACHE"):
        return Path(env["BOT_CACHE"])
    from platformdirs import user_cache_path

    return user_cache_path("anniversary-bot", appauthor=False)


def whole(env: Mapping[str, str], name: str, default: int | None, minimum: int, maximum: int | None = None) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        span = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be {span}, not {value}")
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}")
    return value


def notify_urls(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Apprise URLs, apart by spaces or by commas before the next `scheme://` (a comma
    inside a URL's query stays); the error names the scheme only: the rest is a token."""
    parts = re.split(r"\s+|,+(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)", (env.get(name) or "").strip())
    urls = tuple(part.strip(",") for part in parts if part.strip(","))
    for url in urls:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://\S+", url):
            shown = url.split("://")[0] + "://***" if "://" in url else "a value without scheme://"
            raise ConfigError(f"{name} must be Apprise URLs (like json://HOST/ or mailto://USER:PASS@HOST), not {shown}")
    return urls


def clock_time(env: Mapping[str, str], name: str) -> time | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", raw)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ConfigError(f"{name} must be a time of day HH:MM (00:00 to 23:59), not {raw!r}")
    return time(int(match[1]), int(match[2]))


def http_address(env: Mapping[str, str], name: str) -> tuple[str, int] | None:
    """`PORT`, `HOST:PORT` or `[IPV6]:PORT`; a bare port listens on 127.0.0.1 (loopback only)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+)\]:|([^:\s\[\]]+):)?(\d{1,5})", raw)
    port = int(match[3]) if match else -1
    if not match or port > 65535:
        raise ConfigError(f"{name} must be PORT or HOST:PORT (like 127.0.0.1:9108), not {raw!r}")
    return (match[1] or match[2] or "127.0.0.1", port)


def choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return allowed[0]
    if raw not in allowed:
        raise ConfigError(f"{name} must be {' or '.join(allowed)}, not {env[name].strip()!r}")
    return raw
