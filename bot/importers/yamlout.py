"""Feed files as YAML text, written by hand so the output is stable byte for byte.

Every string is double-quoted, so YAML never reads a time as a number, `no`
as false or `@name` as an error. Dates are written plain (`1917-11-06`),
except Julian dates that do not exist in the Gregorian calendar (1700-02-29):
those are quoted, so that plain YAML readers do not fail on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

# what a YAML double-quoted scalar must escape: quote, backslash, and every
# character outside YAML 1.1's printable set or read as a line break
_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029\ufeff]')
_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _escape(match: re.Match) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def quote(text: str) -> str:
    """`text` as a YAML double-quoted scalar that reads back exactly."""
    return '"' + _ESCAPE.sub(_escape, text) + '"'


@dataclass(frozen=True, slots=True)
class OutEntry:
    """One entry of a post file as it will be written."""

    time: str
    account: str
    text: str
    id: str | None = None
    reply_to: str | None = None


def plain_date(day: str) -> str:
    """`day` (YYYY-MM-DD) plain when YAML reads it as a date, else quoted."""
    try:
        date.fromisoformat(day)
    except ValueError:
        return quote(day)
    return day


def render_day(day: str, entries: list[OutEntry]) -> str:
    """A post file: `date:` and the day's entries in order."""
    lines = [f"date: {plain_date(day)}", "posts:"]
    for entry in entries:
        lines.append(f"  - time: {quote(entry.time)}")
        lines.append(f"    account: {quote(entry.account)}")
        if entry.id is not None:
            lines.append(f"    id: {quote(entry.id)}")
        if entry.reply_to is not None:
            lines.append(f"    reply_to: {quote(entry.reply_to)}")
        lines.append(f"    text: {quote(entry.text)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """What feed.yaml says: one account wearing one persona of the same key."""

    title: str
    timezone: str
    calendar: str
    account: str
    name: str
    platform: str
    description: str = ""

    @property
    def bio(self) -> str:
        return f"Historical reenactment: {self.title}, replayed on its anniversaries."


def render_feed(meta: FeedMeta) -> str:
    lines = [f"title: {quote(meta.title)}"]
    if meta.description:
        lines.append(f"description: {quote(meta.description)}")
    lines += [
        f"timezone: {quote(meta.timezone)}",
        f"calendar: {quote(meta.calendar)}",
        "accounts:",
        f"  {quote(meta.account)}:",
        f"    platform: {quote(meta.platform)}",
        f"    persona: {quote(meta.account)}",
        "personas:",
        f"  {quote(meta.account)}:",
        f"    name: {quote(meta.name)}",
        f"    bio: {quote(meta.bio)}",
    ]
    return "\n".join(lines) + "\n"
