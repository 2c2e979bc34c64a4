"""Render a timeline as the feed will go out: text for people, JSON Lines for programs."""

from __future__ import annotations

import json
from json.encoder import encode_basestring
from collections.abc import Iterable
from datetime import datetime

from bot.replay.timeline import Event, Timeline

JSON_KEYS = ("id", "kind", "account", "persona", "storm", "historical", "scheduled", "text", "media", "reply_to", "length", "platforms")


def select(timeline: Timeline, *, start: datetime | None = None, end: datetime | None = None, accounts: Iterable[str] = ()) -> list[Event]:
    """Events with start <= instant <= end (aware datetimes), of the given accounts (all when empty)."""
    wanted = set(accounts)
    return [
        event
        for event in timeline.events
        if (start is None or event.instant >= start)
        and (end is None or event.instant <= end)
        and (not wanted or event.account in wanted)
    ]


def as_json(event: Event, timeline: Timeline, platforms: dict[str, tuple[str, ...]]) -> dict:
    entry = event.entry
    return {
        "id": entry.id,
        "kind": entry.kind,
        "account": entry.account,
        "persona": event.persona,
        "storm": entry.storm,
        "historical": entry.written,
        "scheduled": event.instant.astimezone(timeline.zone).isoformat(),
        "text": entry.text,
        "media": [m.file for m in entry.media],
        "reply_to": entry.reply_to,
        "length": entry.length,
        "platforms": list(platforms.get(entry.account, ())),
    }


_encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False), built once
_string = encode_basestring  # one JSON string, ensure_ascii=False (C-accelerated)


def _maybe(value) -> str:
    return "null" if value is None else _string(value)


def _strings(values) -> str:
    return "[" + ", ".join(map(_string, values)) + "]"


def json_lines(events: list[Event], timeline: Timeline, platforms) -> Iterable[str]:
    """`_encode(as_json(...))` of each event, written out directly (about four times faster);
    any value of an unexpected type goes through the json module instead."""
    zone = timeline.zone
    listed = {}
    for event in events:
        entry = event.entry
        try:
            account = entry.account
            networks = listed.get(account)
            if networks is None:
                networks = listed[account] = _strings(platforms.get(account, ()))
            if type(entry.length) is not int:
                raise TypeError
            yield (
                f'{{"id": {_string(entry.id)}, "kind": {_string(entry.kind)}, "account": {_string(account)}, '
                f'"persona": {_maybe(event.persona)}, "storm": {_maybe(entry.storm)}, '
                f'"historical": {_string(entry.written)}, "scheduled": {_string(event.instant.astimezone(zone).isoformat())}, '
                f'"text": {_maybe(entry.text)}, "media": {_strings([m.file for m in entry.media])}, '
                f'"reply_to": {_maybe(entry.reply_to)}, "length": {entry.length!r}, "platforms": {networks}}}'
            )
        except TypeError:
            yield _encode(as_json(event, timeline, platforms))


def write_lines(out, lines: Iterable[str], batch: int = 1000) -> None:
    """Write each line and a newline, `batch` lines per write (100,000 small writes are slow)."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == batch:
            out.write("\n".join(chunk) + "\n")
            chunk.clear()
    if chunk:
        out.write("\n".join(chunk) + "\n")


def text_lines(events: list[Event], timeline: Timeline, personas, style=lambda text, **_: text) -> Iterable[str]:
    """Grouped by replay day: time, display name, account, text, media, reply marker, storms."""
    day = None
    for event in events:
        entry = event.entry
        local = event.instant.astimezone(timeline.zone)
        if local.date() != day:
            if day is not None:
                yield ""
            day = local.date()
            yield style(f"{local:%A %d %B %Y} ({timeline.zone.key})", bold=True)
        name = personas[event.persona].name if event.persona in personas else event.persona
        clock = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
        if entry.storm:
            was = personas[event.previous].name if event.previous in personas else event.previous
            yield style(f"  {clock}  *** {entry.account} is now {name} (was {was}) ***", fg="red", bold=True)
            if entry.text is None:
                continue
        yield f"  {clock}  " + style(name, bold=True) + style(f" @{entry.account}", fg="cyan") + style(f"  [{entry.id}]", dim=True)
        if entry.reply_to:
            yield style(f"         ↳ reply to {entry.reply_to}", fg="yellow")
        for line in entry.text.splitlines() or [""]:
            yield f"         {line}"
        for media in entry.media:
            yield style(f"         [image {media.file}: {media.alt or 'no alt text'}]", fg="green")
