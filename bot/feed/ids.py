"""Entry ids across a feed's files: duplicates (the first in file order wins, with a
hint when the id is a default one), replies to themselves or to no entry, and a
did-you-mean for an id that names no entry. What can be told without replaying
anything; the timeline (`bot.replay.timeline`) adds what needs the replay order.
"""

from __future__ import annotations

from bot.feed.diagnostics import Diagnostic, error
from bot.feed.postfile import Entry


def unique_ids(entries, out: list[Diagnostic]) -> tuple[dict[str, Entry], list[Entry]]:
    """Duplicate ids reported: the first in file order wins. (first entry of each id, entries kept)."""
    first: dict[str, Entry] = {}
    kept = []
    for entry in entries:
        other = first.get(entry.id)
        if other is not None:
            out.append(error(entry.path, entry.line, f"duplicate id {entry.id!r} (first at {other.path}:{other.line}){_default_id_hint(entry)}"))
            continue
        first[entry.id] = entry
        kept.append(entry)
    return first, kept


def _default_id_hint(entry: Entry) -> str:
    """When a duplicate id is the entry's default one (no `id:` written): how to make it unique."""
    written = entry.written  # YYYY-MM-DDTHH:MM:SS
    day, minute, seconds = written[:10], f"{written[11:13]}{written[14:16]}", written[17:19]
    if entry.id == f"{day}T{minute}-{entry.account}":
        return (f": the default id of a post of {entry.account!r} at {written[11:16]} on {day};"
                " give this entry an 'id:' of its own, or write its time with seconds (HH:MM:SS)")
    if entry.id == f"{day}T{minute}{seconds}-{entry.account}":
        return f": the default id of a post of {entry.account!r} at {written[11:]} on {day}; give this entry an 'id:' of its own"
    return ""


def identity_problems(entries, broken) -> list[Diagnostic]:
    """What the timeline's rules say without replaying anything, for a feed whose
    feed.yaml leaves no timeline to build: duplicate ids, replies to themselves and
    replies that name no entry (their order needs the replay: not checked)."""
    out: list[Diagnostic] = []
    first, kept = unique_ids(entries, out)
    suggest = None
    for entry in kept:
        parent = entry.reply_to
        if parent is None:
            continue
        if parent == entry.id:
            out.append(error(entry.path, entry.line, "entry replies to itself"))
        elif parent not in first and parent not in broken:
            suggest = suggest or Suggester(first, broken)
            out.append(error(entry.path, entry.line, f"reply_to {parent!r} names no entry of this feed{suggest.hint(parent)}"))
    return out


class Suggester:
    """Did-you-mean for an id that names no entry, among a feed's ids (100,000 of them
    or more, much alike: `difflib` would take seconds for each). It finds an id equal
    but for case and `-`/`_`/space, else one a single edit away (a character added,
    dropped, changed, or two swapped), through an index of each id's first and last
    halves built once, on the first id that needs it (the error path only)."""

    def __init__(self, *id_sets) -> None:
        self.ids = sorted(set().union(*id_sets))
        self._loose: dict[str, str] | None = None
        self._halves: dict[tuple, list[str]] | None = None

    @staticmethod
    def _loosen(text: str) -> str:
        return text.casefold().replace("_", "-").replace(" ", "-")

    @staticmethod
    def _half(length: int) -> int:
        # an id one edit from one of `length` +-1 characters shares a prefix or a suffix of at least this
        return max(0, (length - 3) // 2)

    def hint(self, word: str) -> str:
        close = self.closest(word)
        return f" (did you mean {close!r}?)" if close else ""

    def closest(self, word: str) -> str | None:
        if self._loose is None:
            self._loose = {}
            for known in self.ids:
                self._loose.setdefault(self._loosen(known), known)
        if (same := self._loose.get(self._loosen(word))) is not None and same != word:
            return same
        if self._halves is None:
            self._halves = halves = {}
            for known in self.ids:
                n, h = len(known), self._half(len(known))
                halves.setdefault((n, 0, known[:h]), []).append(known)
                halves.setdefault((n, 1, known[n - h:]), []).append(known)
        found = []
        for n in (len(word) - 1, len(word), len(word) + 1):
            h = self._half(n)
            for side, part in ((0, word[:h]), (1, word[len(word) - h:])):
                found += [known for known in self._halves.get((n, side, part), ()) if _one_edit(word, known)]
        return min(found) if found else None


def _one_edit(a: str, b: str) -> bool:
    """True when `b` is `a` with one character added, dropped or changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    shortest = min(len(a), len(b))
    start = 0
    while start < shortest and a[start] == b[start]:
        start += 1
    end = 0
    while end < shortest - start and a[-1 - end] == b[-1 - end]:
        end += 1
    if len(a) != len(b):
        return start + end >= shortest
    if start + end >= len(a) - 1:
        return True
    return start + end == len(a) - 2 and a[start] == b[start + 1] and a[start + 1] == b[start]
