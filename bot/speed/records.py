"""The parse cache's files: named records, checksummed buckets, and the stamp of
what every stored result depends on besides its input.

A bucket is MAGIC, the SHA-256 of the rest, then marshal of a plain dict. Post
files are spread over BUCKETS buckets by a hash of their path (a cold run
writes a few dozen files, an edit rewrites one); each file's entry is a
`StoredFile`, kept as a plain tuple (marshal reads tuples several times faster
than pickle reads objects) and read back by field name.

`STAMP` covers this bot's code (a digest of every .py file of the package)
and the versions of the libraries whose results are stored (PyYAML parses,
twitter-text-parser counts), so an upgrade that changes a rule never serves a
result computed under the old one.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from bot.feed.diagnostics import Diagnostic
from bot.feed.yamlsource import MAX_BYTES, read_source
from bot.replay.timeline import Event, Timeline
from bot.speed.packing import SHAPE

FORMAT = 4
MAGIC = b"bot-parse-cache\n"


@functools.cache
def stamp() -> str:
    """What every stored result depends on besides its input: the record format, the shape
    of a parse result, this bot's code, PyYAML's and twitter-text-parser's versions."""
    import yaml

    import bot
    from bot.publishers.lengths.twitterdata import installed_version

    digest = hashlib.sha256(repr((FORMAT, SHAPE, yaml.__version__, installed_version())).encode())
    package = os.path.dirname(os.path.abspath(bot.__file__))
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                digest.update(os.path.relpath(path, package).encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


class StoredFile(NamedTuple):
    """One post file's entry in a bucket: what it was parsed from, and its packed result."""

    stamp: str  # see `stamp()`
    context: str  # FileContext.fingerprint(): what feed.yaml says of accounts, personas, limits
    relative: str
    size: int
    mtime_ns: int
    sha256: bytes
    inode: int
    ctime_ns: int
    packed: tuple

    @classmethod
    def read(cls, stored) -> StoredFile | None:
        """The record a bucket holds, or None when it is of another shape."""
        if isinstance(stored, tuple) and len(stored) == len(cls._fields):
            return cls._make(stored)
        return None

    def same_input(self, other: StoredFile) -> bool:
        """Parsed from the same bytes under the same rules (a touch or an edit undone still hits)."""
        return (self.stamp, self.context, self.relative, self.size, self.sha256) == (
            other.stamp, other.context, other.relative, other.size, other.sha256)


# -- bucket files --------------------------------------------------------------------

BUCKETS = 64
RACY_NS = 2_000_000_000  # a file written less than this before its bucket is always hashed again
BUCKET_SUFFIX = ".bucket"
TIMELINE_FILE = "timeline.record"  # the last timeline built, in the same format as a bucket
PREVIEW_FILE = "preview.record"  # the JSON preview lines of that timeline (written by `bot preview`)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def digest(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:24]


def bucket_name(relative: str) -> str:
    return f"{int(digest(relative)[:8], 16) % BUCKETS:02x}{BUCKET_SUFFIX}"


def read_bucket(path: Path) -> dict:
    """The entries stored at `path`; {} when missing, unreadable or corrupt."""
    return read_bucket_at(path)[0]


def read_bucket_at(path: Path) -> tuple[dict, int]:
    """(entries, when the bucket was written in ns); ({}, 0) when missing, unreadable or corrupt."""
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
            written = os.fstat(handle.fileno()).st_mtime_ns
    except OSError:
        return {}, 0
    entries = unpack_bucket(blob)
    return entries, (written if entries else 0)


def unpack_bucket(blob: bytes) -> dict:
    head = len(MAGIC)
    body = memoryview(blob)[head + 32:]
    if not blob.startswith(MAGIC) or hashlib.sha256(body).digest() != blob[head:head + 32]:
        return {}
    try:
        entries = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def write_bucket(path: Path, entries: dict) -> None:
    try:
        payload = marshal.dumps(entries)
    except ValueError:  # a value marshal cannot store: these files go uncached
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=BUCKET_SUFFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(MAGIC)
                out.write(hashlib.sha256(payload).digest())
                out.write(payload)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except OSError:
        pass  # a read-only or full disk: the cache is only an optimisation


def prune(store: Path, keep: set[str]) -> None:
    """Remove buckets not in `keep` (their post files are gone) and temp files left by a killed run."""
    try:
        names = os.listdir(store)
    except OSError:
        return
    for name in names:
        if not name.endswith(BUCKET_SUFFIX):
            continue
        if name.startswith(".tmp-") or name not in keep:
            try:
                os.unlink(store / name)
            except OSError:
                pass


def trusted(stored: StoredFile | None, info: os.stat_result, written: int) -> tuple | None:
    """The stored (size, mtime_ns, SHA-256) of a file when its stat says it was not written
    since (same size, mtime, inode and ctime; ctime moves on every write and cannot be set
    back), and it was last written well before the bucket (else an edit in the same clock
    tick could go unseen); None: read and hash it."""
    if stored is None or not stat.S_ISREG(info.st_mode):
        return None
    if (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns) != (stored.size, stored.mtime_ns, stored.inode, stored.ctime_ns):
        return None
    if max(stored.mtime_ns, stored.ctime_ns) >= written - RACY_NS or stored.size > MAX_BYTES:
        return None
    return stored.size, stored.mtime_ns, stored.sha256


def key_and_bytes(path: str, info: os.stat_result) -> tuple[tuple, bytes]:
    """(size, mtime_ns, SHA-256) and the bytes of the file whose stat, taken before reading, is `info`."""
    data = read_source(path, info)
    return (info.st_size, info.st_mtime_ns, hashlib.sha256(data).digest()), data


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- the timeline record ---------------------------------------------------------------
# {"key": ..., "entries": count, "order": [index in feed.entries], "at": [seconds since
# EPOCH], "persona": [...], "previous": [...], "diagnostics": [...], "initial": {...}}


def timeline_record(timeline: Timeline, feed, key: str) -> dict | None:
    index = {id(entry): i for i, entry in enumerate(feed.entries)}
    events = timeline.events
    at = [(event.instant - EPOCH) // SECOND for event in events]
    if any(event.instant.microsecond for event in events) or any(id(event.entry) not in index for event in events):
        return None
    return {
        "key": key,
        "stamp": stamp(),
        "entries": len(feed.entries),
        "order": [index[id(event.entry)] for event in events],
        "at": at,
        "persona": [event.persona for event in events],
        "previous": [event.previous for event in events],
        "diagnostics": [(d.path, d.line, d.severity, d.message) for d in timeline.diagnostics],
        "initial": dict(timeline.initial),
    }


def restore_timeline(record: dict, key: str, feed, years_later: int) -> Timeline | None:
    if record.get("key") != key or record.get("stamp") != stamp() or record.get("entries") != len(feed.entries):
        return None
    try:
        entries = feed.entries
        epoch, second = EPOCH, SECOND
        events = [
            Event(entries[i], epoch + second * at, persona, previous)
            for i, at, persona, previous in zip(record["order"], record["at"], record["persona"], record["previous"], strict=True)
        ]
        diagnostics = [Diagnostic(*d) for d in record["diagnostics"]]
        return Timeline(events, feed.config.replay_zone, years_later, diagnostics, dict(record["initial"]))
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return None
