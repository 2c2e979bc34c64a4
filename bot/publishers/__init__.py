"""Publisher plugins, found by name through the `bot.publishers` entry-point group."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from bot.publishers.base import (
    AccountSettings,
    MediaItem,
    OutgoingPost,
    Persona,
    Publisher,
    env_name,
)

GROUP = "bot.publishers"

__all__ = [
    "AccountSettings",
    "MediaItem",
    "OutgoingPost",
    "Persona",
    "Publisher",
    "available",
    "env_name",
    "load",
]


@cache
def _entry_points():
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available() -> list[str]:
    """Names of every installed publisher."""
    return sorted(_entry_points())


def load(name: str) -> type[Publisher]:
    """The publisher class registered as `name`.

    Raises LookupError naming the installed publishers when `name` is unknown,
    and ImportError (with an install hint) when its library is missing.
    """
    ep = _entry_points().get(name)
    if ep is None:
        known = ", ".join(available()) or "none"
        raise LookupError(f"no publisher named {name!r} (installed: {known})")
    return ep.load()
