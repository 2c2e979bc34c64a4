"""Parse results as plain values (tuples of str, int and None), for marshal.

The parse cache stores files' results this way, and pool workers send theirs
back this way: marshal reads and writes such values several times faster than
pickle does dataclasses. `SHAPE` changes whenever the fields do, so stored
values of another shape are never read as this one.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from operator import attrgetter

from bot.feed.diagnostics import Diagnostic
from bot.feed.postfile import Entry, FileResult, Media

_FIELDS = tuple(f.name for f in dataclasses.fields(Entry))
_MEDIA_FIELDS = tuple(f.name for f in dataclasses.fields(Media))
_MOMENT, _MEDIA, _PATH = (_FIELDS.index(name) for name in ("moment", "media", "path"))  # packed differently
_entry_values = attrgetter(*_FIELDS)
SHAPE = (_FIELDS, _MEDIA_FIELDS, tuple(f.name for f in dataclasses.fields(Diagnostic)))


def pack(result: FileResult, display: str) -> tuple:
    """A FileResult as nested tuples (its display path left out: it is given back to `unpack`)."""
    entries = []
    for entry in result.entries:
        values = list(_entry_values(entry))
        values[_MOMENT] = values[_MOMENT].isoformat()
        values[_MEDIA] = tuple(tuple(getattr(m, name) for name in _MEDIA_FIELDS) for m in values[_MEDIA])
        values[_PATH] = None if values[_PATH] == display else values[_PATH]
        entries.append(tuple(values))
    diagnostics = tuple((None if d.path == display else d.path, d.line, d.severity, d.message) for d in result.diagnostics)
    return tuple(entries), diagnostics, tuple(result.broken)


def unpack(packed: tuple, display: str) -> FileResult:
    """The FileResult that `pack(result, display)` made (TypeError, ValueError or
    IndexError when `packed` has another shape)."""
    entries, diagnostics, broken = packed
    out = []
    moment = datetime.fromisoformat
    for values in entries:
        entry = Entry(*values)  # then the three fields packed differently
        entry.moment = moment(entry.moment)
        entry.media = tuple(Media(*m) for m in entry.media) if entry.media else ()
        if entry.path is None:
            entry.path = display
        out.append(entry)
    problems = [Diagnostic(display if path is None else path, line, severity, message) for path, line, severity, message in diagnostics]
    return FileResult(out, problems, list(broken))
