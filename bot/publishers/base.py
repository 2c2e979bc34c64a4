"""The publisher interface: what every network plugin implements.

A publisher class owns its network's facts: the name feeds use in `platform:`
(`name`), a display name, the network's `limits` (which `bot check` enforces
before anything is sent), the credentials an account needs, its timeout
variable, and the optional library it needs (with the pip extra that installs
it). The service builds one publisher per account and network::

    publisher = cls(AccountSettings(key, platforms, options), env=env,
                    feed_dir=feed_folder, state_dir=state_folder)

The base constructor checks the credentials once (ConfigError naming the
missing variables, never their values) and reads the timeout variable. Then
the service calls `publish` for each post and `switch_persona` at each storm,
in a worker thread; both may block and raise only `bot.errors.PublishError`
subclasses (TransientError, RateLimited, UncertainError, RejectedError,
ProfileRefused). Messages never contain credentials.

Two optional abilities let the service keep the story whole under faults
(the base versions say "cannot tell"):

- `reconcile(post, claimed_at, now, may_send=)`: does this exact post exist on the network?
  `Found.posted(remote_id)`, `Found.absent()` (safe to send) or
  `Found.unknown(reason)`.
- `profile()`: the profile as the network shows it now (name, bio, an
  avatar reference), so a start can compare it with the persona due.

Third-party publishers register a class under the entry-point group
`bot.publishers`; the built-ins are registered the same way.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from bot.errors import ConfigError, Deposed

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class Limits:
    """What one post may hold on a network. `bot check` reports any excess, located.

    `count` is the network's length rule (a module-level function, so feeds can
    be checked in worker processes); `text` the most it may count.
    """

    text: int | None
    count: Callable[[str], int] = len
    text_bytes: int | None = None  # most bytes of UTF-8, where the network counts them too
    images: int = 4
    image_bytes: int | None = None
    image_bytes_by_type: Mapping[str, int] = field(default_factory=dict)  # e.g. GIFs may be larger
    image_types: frozenset[str] = IMAGE_TYPES
    alt_text: int | None = None  # most characters of an image's alt text
    alt_count: Callable[[str], int] = len
    # the profile a persona switch writes
    profile_name: int | None = None  # most characters of a display name, as `profile_count` counts
    profile_bio: int | None = None
    profile_count: Callable[[str], int] = len
    profile_name_bytes: int | None = None
    profile_bio_bytes: int | None = None
    profile_image_bytes: int | None = None  # avatar and banner
    profile_image_types: frozenset[str] = IMAGE_TYPES

    def max_image_bytes(self, mime: str | None) -> int | None:
        return self.image_bytes_by_type.get(mime or "", self.image_bytes)

    def fingerprint(self) -> tuple:
        """A plain, stable description (the parse cache keys results by it)."""
        def rule(fn):
            return f"{fn.__module__}.{fn.__qualname__}"
        return (self.text, rule(self.count), self.text_bytes, self.images, self.image_bytes,
                tuple(sorted(self.image_bytes_by_type.items())), tuple(sorted(self.image_types)),
                self.alt_text, rule(self.alt_count), self.profile_name, self.profile_bio,
                rule(self.profile_count), self.profile_name_bytes, self.profile_bio_bytes,
                self.profile_image_bytes, tuple(sorted(self.profile_image_types)))


@dataclass(frozen=True, slots=True)
class Persona:
    key: str
    name: str
    bio: str = ""
    avatar: Path | None = None  # absolute path inside the feed folder
    banner: Path | None = None


@dataclass(frozen=True, slots=True)
class MediaItem:
    path: Path  # absolute path inside the feed folder
    alt: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingPost:
    entry_id: str
    account: str
    network: str
    text: str
    persona: Persona
    media: tuple[MediaItem, ...] = ()
    reply_to_remote: str | None = None  # parent's remote id on this network
    thread_root_remote: str | None = None  # root's remote id (Bluesky needs it)
    idempotency_key: str = ""  # stable for (entry id, account, network)
    scheduled: datetime | None = None  # the delivery's instant in this run (aware UTC)
    replay_at: datetime | None = None  # the entry's anniversary, in the replay zone (a rehearsal moves `scheduled` only)


@dataclass(frozen=True, slots=True)
class Found:
    """What `reconcile` learnt of a post whose fate was unknown."""

    state: str  # "posted", "absent" or "unknown"
    remote_id: str | None = None
    reason: str = ""
    final: bool = False  # unknown, and asking again will not help (the network cannot tell)

    @classmethod
    def posted(cls, remote_id: str, reason: str = "") -> Found:
        return cls("posted", str(remote_id), reason)

    @classmethod
    def absent(cls, reason: str = "") -> Found:
        return cls("absent", None, reason)

    @classmethod
    def unknown(cls, reason: str, *, final: bool = False) -> Found:
        return cls("unknown", None, reason, final)


@dataclass(frozen=True, slots=True)
class Profile:
    """An account's profile as the network shows it. `avatar` is the network's own
    reference to the current avatar (a blob CID, a URL), compared with the one
    recorded after the bot's last upload."""

    name: str
    bio: str
    avatar: str | None = None


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """What feed.yaml says of one account, as a publisher needs it."""

    key: str
    platforms: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. visibility, max_chars


def env_name(account_key: str) -> str:
    """ACCOUNT part of credential variable names: upper case, non-alphanumerics -> '_'."""
    return "".join(c if c.isalnum() else "_" for c in account_key.upper())


def seconds_setting(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from `env[name]`; ConfigError naming the variable."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a positive number of seconds, not {raw!r}")
    return value


class Publisher(ABC):
    #: the name feeds use in `platform:`
    name: ClassVar[str] = ""
    #: the network's name as people write it
    display_name: ClassVar[str] = ""
    #: what one post may hold (see Limits); `limits_for` adapts it to an account
    limits: ClassVar[Limits] = Limits(text=None)
    #: environment variable with the seconds each request may take (None: none)
    timeout_variable: ClassVar[str | None] = None
    default_timeout: ClassVar[float] = 30.0
    #: modules the network's client library provides, and the pip extra installing them
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    #: Set by the service (a PostgreSQL ledger): raises `bot.errors.Deposed` when this
    #: process may no longer act (its lease lapsed or another process took over). A call
    #: that makes several requests calls `sending()` right before each one (never after
    #: the request that creates the post was sent): a process paused or cut off in the
    #: middle of a call sends nothing more once it wakes up deposed. The built-in
    #: publishers do, and let the Deposed out unchanged (`deposed_in` finds it inside a
    #: client library's own exception).
    before_send: Callable[[], None] | None = None

    def __init__(self, account: AccountSettings, *, env: Mapping[str, str], feed_dir: Path, state_dir: Path) -> None:
        self.account = account
        self.env = env
        self.feed_dir = feed_dir
        self.state_dir = state_dir
        missing = self.missing_credentials(account.key, env)
        if missing:
            raise ConfigError(f"account {account.key!r} on {self.name} lacks {', '.join(missing)}")
        self.timeout = (seconds_setting(env, self.timeout_variable, self.default_timeout)
                        if self.timeout_variable else self.default_timeout)

    # -- facts ---------------------------------------------------------------

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        """Names of the environment variables this publisher needs for the account."""
        return []

    @classmethod
    def missing_credentials(cls, account_key: str, env: Mapping[str, str]) -> list[str]:
        return [name for name in cls.required_credentials(account_key) if not env.get(name)]

    @classmethod
    def limits_for(cls, options: Mapping[str, Any]) -> Limits:
        """The limits for an account with these feed.yaml options (default: `limits`)."""
        return cls.limits

    @classmethod
    def missing_library(cls) -> str | None:
        """An install hint when the client library is not installed, else None."""
        import importlib.util

        for module in cls.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                extra = f"anniversary-bot[{cls.extra}]" if cls.extra else module
                return f"platform {cls.name!r} needs its extra: pip install '{extra}'"
        return None

    @classmethod
    def title(cls) -> str:
        return cls.display_name or cls.name

    def sending(self) -> None:
        """Right before a request goes out: Deposed if this process may no longer act."""
        check = self.before_send
        if check is not None:
            check()

    # -- the calls -------------------------------------------------------------

    @abstractmethod
    def publish(self, post: OutgoingPost) -> str:
        """Publish one post; return its remote id."""

    @abstractmethod
    def switch_persona(self, persona: Persona) -> Profile | None:
        """Make the account wear `persona` (display name, bio, avatar, banner).
        May return the profile as it now stands (its avatar reference is recorded)."""

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        """Whether `post`, claimed at `claimed_at` and then lost from sight, exists now.
        `may_send`: a network whose only safe lookup is an idempotent re-send (Mastodon's
        key) may use it; False once the post is past its grace (it must not go out then).
        May raise TransientError (asked again later)."""
        return Found.unknown(f"the {self.name} publisher cannot look a post up", final=True)

    def profile(self) -> Profile | None:
        """The account's profile as the network shows it, or None when it cannot be read."""
        return None

    def close(self) -> None:
        """Release connections. Called once when the service stops."""


def deposed_in(exc: BaseException | None) -> Deposed | None:
    """The `Deposed` that `exc` is or carries (as its cause or context, at any depth), or None."""
    todo, seen = [exc], set()
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        if isinstance(item, Deposed):
            return item
        seen.add(id(item))
        todo += [item.__cause__, item.__context__]
    return None


def with_text_limit(limits: Limits, text: int | None) -> Limits:
    return replace(limits, text=text)
