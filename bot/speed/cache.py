"""Parse cache: a warm run reparses only the post files that changed.

`ParseCache(folder).parse_files` plugs into `load_feed(parse_files=...)`.
`folder` (BOT_CACHE; default `cache/` next to the ledger, i.e. `./state/cache`)
has a subfolder per feed folder and in it one entry per post file: its parse
result, keyed by the file's path, size, mtime_ns and SHA-256 of its bytes,
under the `FileContext.fingerprint()` of feed.yaml and the shape of `Entry`.
Results are stored as plain tuples (marshal), so loading 100,000 entries is
quick, and an edit rewrites only the entry of the file edited.

A file whose size, mtime, inode and ctime are those stored, and that was last
written well before its entry was (RACY_NS), is not read again: ctime moves on
every write and cannot be set back, so only the content hash of files changed
since is computed. On top, `build_timeline` keeps the last timeline built (event
order, instants, personas and its diagnostics; keyed by every file's path and
content hash, feed.yaml's bytes, years_later and the daily limit) and `preview_lines` the JSON
preview of it, so a warm run rebuilds nothing; media are checked on every run.

Files that miss are parsed by `bot.speed.pool.MissParser`: in worker processes
when there are many (a cold run), while the rest are still being read.
Entries are written atomically; one that is unreadable, truncated or corrupt
(its checksum says so) is ignored and replaced, and entries of deleted files
are removed. Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import __version__
from bot.feed.diagnostics import Diagnostic
from bot.feed.folder import FEED_FILE, read_and_parse
from bot.speed.packing import SHAPE, unpack
from bot.speed.pool import MissParser
from bot.feed.postfile import FileContext, FileResult
from bot.replay.timeline import Event, Timeline, build
from bot.errors import SourceProblem
from bot.feed.yamlsource import MAX_BYTES, read_source

FORMAT = 3
MAGIC = b"bot-parse-cache\n"
SCHEMA = repr((FORMAT, SHAPE))


# -- the cache -----------------------------------------------------------------------


class ParseCache:
    def __init__(self, folder: Path | str, *, workers: int | None = None, progress: bool = True) -> None:
        self.folder = Path(folder)
        self.workers = workers if workers is not None else min(_cores(), 4)
        self.progress = progress
        self.hits = 0
        self.misses = 0
        self.last_misses: list[str] = []  # relative paths parsed by the last parse_files
        self.used_pool = False
        self.timeline_hit = False
        self._feeds: dict[str, str | None] = {}  # feed root -> key of all its files as last read
        self._timelines: dict[str, str | None] = {}  # feed root -> key of its last timeline

    def folder_for(self, root: Path) -> Path:
        """Where the entries of the feed folder `root` live."""
        return self.folder / f"feed-{_digest(os.path.abspath(root))}"

    def parse_files(self, feed, context: FileContext, paths: list[str]) -> list[FileResult]:
        """The `load_feed` hook: one FileResult per path, in order, from the cache when it can."""
        fingerprint = context.fingerprint()
        store = self.folder_for(feed.root)
        buckets: dict[str, dict] = {}  # bucket name -> {relative: (header..., packed)} as stored
        results: dict[str, FileResult] = {}
        todo: list[tuple[str, str, tuple]] = []  # (relative, bucket name, header) of each file to parse
        whole = hashlib.sha256(repr((SCHEMA, fingerprint, os.path.abspath(feed.root), feed.display_root)).encode())
        cacheable = True
        written: dict[str, int] = {}  # bucket name -> when it was written (ns)
        refreshed = set()  # buckets whose stored stat of a file is out of date
        parser = MissParser(context, workers=self.workers, progress=self.progress)
        root = os.fspath(feed.root)
        for relative in paths:
            display = feed.display(relative)
            name = _bucket_name(relative)
            if name not in buckets:
                buckets[name], written[name] = _read_bucket_at(store / name)
            stored = buckets[name].get(relative)
            path = os.path.join(root, relative)
            try:
                info = os.stat(path)
                key, data = _trusted(stored, info, written[name]), None
                if key is None:
                    key, data = _key_and_bytes(path, info)
            except (OSError, SourceProblem):
                results[relative] = read_and_parse(feed.root, display, relative, context)  # its error, uncached
                cacheable = False
                continue
            header = (SCHEMA, fingerprint, relative, *key)
            identity = (info.st_ino, info.st_ctime_ns)
            whole.update(repr((relative, key[2])).encode())  # the content: an edit undone finds its records again
            # the same content (a touch, an edit undone) is a hit too: only the stat is updated
            if isinstance(stored, tuple) and len(stored) == 9 and stored[:4] == header[:4] and stored[5] == header[5]:
                try:
                    results[relative] = unpack(stored[-1], display)
                    self.hits += 1
                    if stored[4] != header[4] or stored[6:8] != identity:
                        buckets[name][relative] = (*header, *identity, stored[-1])
                        refreshed.add(name)
                    continue
                except (TypeError, ValueError, IndexError):
                    pass  # an entry of another shape: parse again
            if data is None:
                try:
                    key, data = _key_and_bytes(path, info)
                except (OSError, SourceProblem):
                    results[relative] = read_and_parse(feed.root, display, relative, context)
                    cacheable = False
                    continue
                header = (SCHEMA, fingerprint, relative, *key)
            todo.append((relative, name, (*header, *identity)))
            parser.add(data, display)
        self.misses += len(todo)
        self.last_misses = [relative for relative, _, _ in todo]
        changed = {name for _, name, _ in todo} | refreshed
        parsed = parser.results()
        self.used_pool = parser.used_pool
        for (relative, name, header), (result, packed) in zip(todo, parsed):
            results[relative] = result
            buckets[name][relative] = (*header, packed)
        self._save(store, buckets, changed, set(paths))
        self._feeds[os.path.abspath(feed.root)] = whole.hexdigest() if cacheable else None
        return [results[relative] for relative in paths]

    # -- the whole feed's timeline -------------------------------------------------

    def build_timeline(self, feed, years_later: int, *, daily_limit: int) -> Timeline:
        """`timeline.build(feed, ...)`, from the cache when no file, feed.yaml, years_later
        or daily limit changed since it was stored (`feed` as `parse_files` just read it)."""
        key = self._timeline_key(feed, years_later, daily_limit)
        store = self.folder_for(feed.root) / TIMELINE_FILE
        self._timelines[os.path.abspath(feed.root)] = key
        if key is not None:
            timeline = _restore_timeline(_read_bucket(store), key, feed, years_later)
            if timeline is not None:
                self.timeline_hit = True
                return timeline
        timeline = build(feed, years_later, daily_limit=daily_limit)
        if key is not None:
            record = _timeline_record(timeline, feed, key)
            if record is not None:
                _write_bucket(store, record)
        return timeline

    def preview_lines(self, feed, timeline: Timeline, platforms, encode) -> list[str]:
        """`list(encode(timeline.events, timeline, platforms))` (the JSON preview lines of every
        event), kept beside the timeline record when `timeline` came from `build_timeline`."""
        key = self._timelines.get(os.path.abspath(feed.root))
        if key is None:
            return list(encode(timeline.events, timeline, platforms))
        key = hashlib.sha256(repr((key, __version__, encode.__module__, encode.__qualname__, sorted(platforms.items()))).encode()).hexdigest()
        store = self.folder_for(feed.root) / PREVIEW_FILE
        record = _read_bucket(store)
        lines = record.get("lines")
        if record.get("key") == key and isinstance(lines, list) and len(lines) == len(timeline.events):
            return lines
        lines = list(encode(timeline.events, timeline, platforms))
        _write_bucket(store, {"key": key, "lines": lines})
        return lines

    def _timeline_key(self, feed, years_later: int, daily_limit: int) -> str | None:
        files = self._feeds.get(os.path.abspath(feed.root))
        if files is None or feed.config is None:
            return None
        try:
            settings = (feed.root / FEED_FILE).read_bytes()
        except OSError:
            return None
        return hashlib.sha256(repr((files, hashlib.sha256(settings).hexdigest(), years_later, daily_limit,
                                    len(feed.entries), sorted(feed.broken))).encode()).hexdigest()

    def _save(self, store: Path, buckets: dict[str, dict], changed: set[str], paths: set[str]) -> None:
        """Write the buckets that changed or hold files that are gone; remove empty ones."""
        keep = set()
        for name, entries in buckets.items():
            gone = [relative for relative in entries if relative not in paths]
            for relative in gone:
                del entries[relative]
            if entries:
                keep.add(name)
                if name in changed or gone:
                    _write_bucket(store / name, entries)
        _prune(store, keep)

# -- bucket files -------------------------------------------------------------------
# Post files are spread over BUCKETS files by a hash of their path: a cold run
# writes a few dozen files, an edit rewrites one. A bucket is MAGIC, the
# SHA-256 of the rest, then marshal of {relative: (header..., packed)} where the
# header is (SCHEMA, fingerprint, relative path, size, mtime_ns, SHA-256 of the file, inode, ctime_ns).

BUCKETS = 64
RACY_NS = 2_000_000_000  # a file written less than this before its bucket is always hashed again
BUCKET_SUFFIX = ".bucket"
TIMELINE_FILE = "timeline.record"  # the last timeline built, in the same format as a bucket
PREVIEW_FILE = "preview.record"  # the JSON preview lines of that timeline (written by `bot preview`)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _digest(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:24]


def _bucket_name(relative: str) -> str:
    return f"{int(_digest(relative)[:8], 16) % BUCKETS:02x}{BUCKET_SUFFIX}"


def _read_bucket(path: Path) -> dict:
    """The entries stored at `path`; {} when missing, unreadable or corrupt."""
    return _read_bucket_at(path)[0]


def _read_bucket_at(path: Path) -> tuple[dict, int]:
    """(entries, when the bucket was written in ns); ({}, 0) when missing, unreadable or corrupt."""
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
            written = os.fstat(handle.fileno()).st_mtime_ns
    except OSError:
        return {}, 0
    entries = _entries(blob)
    return entries, (written if entries else 0)


def _entries(blob: bytes) -> dict:
    head = len(MAGIC)
    body = memoryview(blob)[head + 32:]
    if not blob.startswith(MAGIC) or hashlib.sha256(body).digest() != blob[head:head + 32]:
        return {}
    try:
        entries = marshal.loads(body)
    except (EOFError, ValueError, TypeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _write_bucket(path: Path, entries: dict) -> None:
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


def _prune(store: Path, keep: set[str]) -> None:
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


def _trusted(stored, info: os.stat_result, written: int) -> tuple | None:
    """The stored (size, mtime_ns, SHA-256) of a file when its stat says it was not written
    since (same size, mtime, inode and ctime; ctime moves on every write and cannot be set
    back), and it was last written well before the bucket (else an edit in the same clock
    tick could go unseen); None: read and hash it."""
    if not (isinstance(stored, tuple) and len(stored) == 9 and stat.S_ISREG(info.st_mode)):
        return None
    size, mtime, sha, ino, ctime = stored[3:8]
    if (info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns) != (size, mtime, ino, ctime):
        return None
    if max(mtime, ctime) >= written - RACY_NS or size > MAX_BYTES:
        return None
    return size, mtime, sha


def _key_and_bytes(path: str, info: os.stat_result) -> tuple[tuple, bytes]:
    """(size, mtime_ns, SHA-256) and the bytes of the file whose stat, taken before reading, is `info`."""
    data = read_source(path, info)
    return (info.st_size, info.st_mtime_ns, hashlib.sha256(data).digest()), data


def _cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# -- the timeline record ---------------------------------------------------------------
# {"key": ..., "entries": count, "order": [index in feed.entries], "at": [seconds since
# EPOCH], "persona": [...], "previous": [...], "diagnostics": [...], "initial": {...}}


def _timeline_record(timeline: Timeline, feed, key: str) -> dict | None:
    index = {id(entry): i for i, entry in enumerate(feed.entries)}
    events = timeline.events
    at = [(event.instant - EPOCH) // SECOND for event in events]
    if any(event.instant.microsecond for event in events) or any(id(event.entry) not in index for event in events):
        return None
    return {
        "key": key,
        "schema": SCHEMA,
        "entries": len(feed.entries),
        "order": [index[id(event.entry)] for event in events],
        "at": at,
        "persona": [event.persona for event in events],
        "previous": [event.previous for event in events],
        "diagnostics": [(d.path, d.line, d.severity, d.message) for d in timeline.diagnostics],
        "initial": dict(timeline.initial),
    }


def _restore_timeline(record: dict, key: str, feed, years_later: int) -> Timeline | None:
    if record.get("key") != key or record.get("schema") != SCHEMA or record.get("entries") != len(feed.entries):
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
