"""Publisher plugins, found by name through the `bot.publishers` entry-point group.

Each publisher class owns its network's facts (see `base.Publisher`); the rest
of the bot asks this registry: `load(name)` for the class, `known(name)`,
`available()`. Bot's own four are registered as entry points like any
plugin; they are also imported here directly, because scanning every
installed package's entry points costs about 20 ms a command.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from bot.publishers.base import (
    AccountSettings,
    Found,
    Limits,
    MediaItem,
    OutgoingPost,
    Persona,
    Profile,
    Publisher,
    env_name,
)

GROUP = "bot.publishers"
BUILTIN = {
    "console": "bot.publishers.console:ConsolePublisher",
    "x": "bot.publishers.x:XPublisher",
    "mastodon": "bot.publishers.mastodon:MastodonPublisher",
    "bluesky": "bot.publishers.bluesky:BlueskyPublisher",
}

__all__ = [
    "AccountSettings",
    "Found",
    "Limits",
    "MediaItem",
    "OutgoingPost",
    "Persona",
    "Profile",
    "Publisher",
    "available",
    "env_name",
    "known",
    "load",
    "measure",
]


@cache
def _entry_points():
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of every installed publisher."""
    return sorted(set(_entry_points()) | set(BUILTIN))


def known(name) -> bool:
    return isinstance(name, str) and (name in BUILTIN or name in _entry_points())


@cache
def load(name: str) -> type[Publisher]:
    """The publisher class registered as `name`.

    Raises LookupError naming the installed publishers when `name` is unknown.
    """
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    ep = _entry_points().get(name)
    if ep is None:
        known_names = ", ".join(available()) or "none"
        raise LookupError(f"no publisher named {name!r} (installed: {known_names})")
    return ep.load()


def measure(text: str, platform: str) -> int:
    """The length of `text` by `platform`'s own rule (its publisher's `limits.count`)."""
    return load(platform).limits.count(text)
