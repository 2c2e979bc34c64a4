"""What the service must do and when: deliveries in order. Pure functions.

A delivery is one entry on one network of its account. A rehearsal moves the
whole schedule so that its first delivery falls at `start_at` and divides
every gap by `speed`; the anchor (the first instant) is fixed when the run
starts, so an edit during a rehearsal does not shift what is already planned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from bot.replay.timeline import Event, Timeline


class Key(NamedTuple):
    entry_id: str
    account: str
    network: str


@dataclass(frozen=True, slots=True)
class Delivery:
    key: Key
    event: Event
    instant: datetime  # aware UTC: when it is due in this run (rehearsal applied)

    @property
    def entry(self):
        return self.event.entry


@dataclass(frozen=True, slots=True)
class Window:
    """Which events a run takes: replay instants in [start, end], of `accounts` (all when empty)."""

    start: datetime | None = None
    end: datetime | None = None
    accounts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, start, end, accounts, zone) -> Window:
        """From `Bound`s (see bot.settings; None: open) placed in the replay `zone`."""
        return cls(start.at(zone) if start else None, end.at(zone) if end else None, frozenset(accounts))

    def select(self, events: list[Event]) -> list[Event]:
        return list(events) if self == Window() else [event for event in events if self.admits(event)]

    def admits(self, event: Event) -> bool:
        return (
            (self.start is None or event.instant >= self.start)
            and (self.end is None or event.instant <= self.end)
            and (not self.accounts or event.account in self.accounts)
        )


@dataclass(frozen=True, slots=True)
class Rehearsal:
    """instant -> start_at + (instant - anchor) / speed."""

    start_at: datetime
    anchor: datetime
    speed: float = 1.0

    def apply(self, instant: datetime) -> datetime:
        return self.start_at + (instant - self.anchor) / self.speed

    def back(self, moment: datetime) -> datetime:
        """The replay instant that falls at `moment` of this rehearsal (the inverse of `apply`)."""
        return self.anchor + (moment - self.start_at) * self.speed

    def dumps(self) -> str:
        """As kept in a rehearsal's ledger, so `bot status` reads that ledger on the rehearsal's clock."""
        return json.dumps({"start_at": self.start_at.isoformat(), "anchor": self.anchor.isoformat(), "speed": self.speed})

    @classmethod
    def loads(cls, text: str | None) -> Rehearsal | None:
        """The rehearsal `dumps` wrote; None for no text or a value this version cannot read."""
        try:
            data = json.loads(text) if text else None
            return cls(datetime.fromisoformat(data["start_at"]), datetime.fromisoformat(data["anchor"]),
                       float(data["speed"])) if data else None
        except (ValueError, TypeError, KeyError):
            return None


def first_instant(timeline: Timeline, window: Window) -> datetime | None:
    return next((e.instant for e in timeline.events if window.admits(e)), None)


def deliveries(
    timeline: Timeline,
    platforms: dict[str, tuple[str, ...]],
    window: Window = Window(),
    rehearsal: Rehearsal | None = None,
    network_override: str | None = None,
) -> list[Delivery]:
    """Every delivery of the events in `window`, ordered as the timeline is.

    `network_override` (the dry run's "console") replaces every account's networks.
    """
    out = []
    admits = None if window == Window() else window.admits
    override = (network_override,) if network_override else None
    key = tuple.__new__  # Key(...) without its Python-level __new__ (100,000 of them at start)
    for event in timeline.events:
        if admits is not None and not admits(event):
            continue
        instant = rehearsal.apply(event.instant) if rehearsal else event.instant
        entry = event.entry
        account = entry.account
        for network in override or platforms.get(account, ()):
            out.append(Delivery(key(Key, (entry.id, account, network)), event, instant))
    return out


def persona_now(items: list[Delivery], initial: dict[str, str | None], now: datetime) -> dict[Key, str | None]:
    """The persona each (account, network) should wear at `now`, keyed by Key with entry_id ''."""
    wearing: dict[tuple[str, str], str | None] = {}
    for item in items:
        _, account, network = item.key
        slot = (account, network)
        if slot not in wearing:
            wearing[slot] = initial.get(account)
        if item.instant <= now and item.event.entry.storm:
            wearing[slot] = item.event.persona
    return {Key("", account, network): persona for (account, network), persona in wearing.items()}
