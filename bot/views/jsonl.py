"""The feed as JSON Lines, one object per entry in replay order (a contract:
exactly the keys of `JSON_KEYS`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from json.encoder import encode_basestring

from bot.replay.timeline import Event, Timeline

JSON_KEYS = ("id", "kind", "account", "persona", "storm", "historical", "scheduled", "text", "media", "reply_to", "length", "platforms")


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
