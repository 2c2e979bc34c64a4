"""The publisher interface: what every network plugin implements.

A publisher speaks for one account on one network. The service builds it with
`Publisher(account_key, settings, env=..., feed_dir=..., state_dir=...)`, then
calls `publish` for each post and `switch_persona` at each storm. Both run
in a worker thread and may block; they raise only `bot.errors.PublishError`
subclasses (TransientError, RateLimited, UncertainError, RejectedError,
ProfileRefused). Messages must never contain credentials.

Third-party publishers register a class under the entry-point group
`bot.publishers`; the built-ins are registered the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


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


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """What feed.yaml says of one account, as a publisher needs it."""

    key: str
    platforms: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)  # e.g. visibility, max_chars


def env_name(account_key: str) -> str:
    """ACCOUNT part of credential variable names: upper case, non-alphanumerics -> '_'."""
    return "".join(c if c.isalnum() else "_" for c in account_key.upper())


class Publisher(ABC):
    #: the name feeds use in `platform:`; set by each implementation
    name: ClassVar[str] = ""
    #: characters a post may have on this network (None: no limit); see bot.publishers.textlength
    max_length: ClassVar[int | None] = None

    def __init__(
        self,
        account: AccountSettings,
        *,
        env: Mapping[str, str],
        feed_dir: Path,
        state_dir: Path,
    ) -> None:
        self.account = account
        self.env = env
        self.feed_dir = feed_dir
        self.state_dir = state_dir

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        """Names of the environment variables this publisher needs for the account."""
        return []

    @classmethod
    def missing_credentials(cls, account_key: str, env: Mapping[str, str]) -> list[str]:
        return [name for name in cls.required_credentials(account_key) if not env.get(name)]

    @abstractmethod
    def publish(self, post: OutgoingPost) -> str:
        """Publish one post; return its remote id."""

    @abstractmethod
    def switch_persona(self, persona: Persona) -> None:
        """Make the account wear `persona` (display name, bio, avatar, banner)."""

    def close(self) -> None:
        """Release connections. Called once when the service stops."""
