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

Files that miss are parsed in a process pool when there are many (a cold
run) and this process has no other thread (forking beside running threads is
not safe), else in this process. Entries are written atomically; one that is
unreadable, truncated or corrupt (its checksum says so) is ignored and
replaced, and entries of deleted files are removed. Deleting the folder is
always safe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path

from bot import __version__
from bot.diagnostics import Diagnostic
from bot.feed import FEED_FILE, read_and_parse
from bot.postfile import Entry, FileContext, FileResult, Media, parse_post_file
from bot.progress import Progress
from bot.timeline import Event, Timeline, build
from bot.yamlsource import MAX_BYTES, SourceProblem, read_source

FORMAT = 2
MAGIC = b"bot-parse-cache\n"
DEFAULT_LEDGER = "state/ledger.sqlite3"  # as bot.service.DEFAULT_LEDGER; the cache sits beside it
POOL_MIN_FILES = 200  # fewer files to parse than this: no process pool
PROGRESS_MIN_FILES = 200

_FIELDS = tuple(f.name for f in dataclasses.fields(Entry))
_MEDIA_FIELDS = tuple(f.name for f in dataclasses.fields(Media))
_MOMENT, _MEDIA, _PATH = (_FIELDS.index(name) for name in ("moment", "media", "path"))  # packed differently
_entry_values = attrgetter(*_FIELDS)
SCHEMA = repr((FORMAT, _FIELDS, _MEDIA_FIELDS, tuple(f.name for f in dataclasses.fields(Diagnostic))))


def cache_folder(env: Mapping[str, str], ledger: Path | None = None) -> Path:
    """BOT_CACHE, else `cache/` in the folder of the ledger (given, $BOT_LEDGER or the default)."""
    if env.get("BOT_CACHE"):
        return Path(env["BOT_CACHE"])
    return Path(ledger or env.get("BOT_LEDGER") or DEFAULT_LEDGER).parent / "cache"


# -- results as plain values ---------------------------------------------------


def pack(result: FileResult, display: str) -> tuple:
    """A FileResult as nested tuples of str, int and None (the display path left out)."""
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


def _parse_packed(jobs: list[tuple[bytes, str]], context: FileContext) -> list[tuple]:
    """Parse and pack each (bytes, display); runs in the pool's workers too."""
    return [pack(parse_post_file(data, display, context), display) for data, display in jobs]


# -- the cache -----------------------------------------------------------------------


class ParseCache:
    def __init__(self, folder: Path | str, *, workers: int | None = None, progress: bool = True) -> None:
        self.folder = Path(folder)
        self.workers = workers if workers is not None else min(_cores(), 4)
        self.progress = progress
        self.hits = 0
        self.misses = 0
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
        todo: list[tuple[str, bytes, tuple]] = []  # (relative, bytes, header) to parse
        whole = hashlib.sha256(repr((SCHEMA, fingerprint, os.path.abspath(feed.root), feed.display_root)).encode())
        cacheable = True
        written: dict[str, int] = {}  # bucket name -> when it was written (ns)
        refreshed = set()  # buckets whose stored stat of a file is out of date
        for relative in paths:
            display = feed.display(relative)
            name = _bucket_name(relative)
            if name not in buckets:
                buckets[name], written[name] = _read_bucket_at(store / name)
            stored = buckets[name].get(relative)
            try:
                info = os.stat(feed.root / relative)
                key, data = _trusted(stored, info, written[name]), None
                if key is None:
                    key, data = _key_and_bytes(feed.root / relative)
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
                key, data = _key_and_bytes(feed.root / relative)
                header = (SCHEMA, fingerprint, relative, *key)
            todo.append((relative, data, (*header, *identity)))
        self.misses += len(todo)
        jobs = [(data, feed.display(relative)) for relative, data, _ in todo]
        changed = {_bucket_name(relative) for relative, _, _ in todo} | refreshed
        for (relative, _, header), (result, packed) in zip(todo, self._parse(jobs, context)):
            results[relative] = result
            buckets[_bucket_name(relative)][relative] = (*header, packed)
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

    # -- parsing the misses ------------------------------------------------------

    def _parse(self, jobs: list[tuple[bytes, str]], context: FileContext) -> list[tuple[FileResult, tuple]]:
        """(result, packed) for each (bytes, display), in order: in a pool when it is worth it."""
        bar = Progress("parsing", len(jobs), enabled=None if self.progress and len(jobs) >= PROGRESS_MIN_FILES else False)
        with bar:
            if self.workers > 1 and len(jobs) >= POOL_MIN_FILES and threading.active_count() == 1:
                done = self._in_pool(jobs, context, bar)
                if done is not None:
                    return done
            out = []
            for data, display in jobs:
                result = parse_post_file(data, display, context)
                out.append((result, pack(result, display)))
                bar.advance()
            return out

    def _in_pool(self, jobs: list[tuple[bytes, str]], context: FileContext, bar: Progress) -> list[tuple[FileResult, tuple]] | None:
        """(result, packed) in order, from `workers` processes; None if no pool can run."""
        size = -(-len(jobs) // (self.workers * 8))
        spans = [(start, min(start + size, len(jobs))) for start in range(0, len(jobs), size)]
        out: list = [None] * len(jobs)
        try:
            with ProcessPoolExecutor(self.workers, mp_context=_fast_context()) as pool:
                futures = {pool.submit(_parse_packed, jobs[a:b], context): (a, b) for a, b in spans}
                for future in as_completed(futures):
                    a, b = futures[future]
                    out[a:b] = [(unpack(packed, display), packed) for packed, (_, display) in zip(future.result(), jobs[a:b])]
                    bar.advance(b - a)
        except (OSError, RuntimeError, ImportError):  # BrokenProcessPool is a RuntimeError
            return None
        return out


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


def _key_and_bytes(path: Path) -> tuple[tuple, bytes]:
    info = os.stat(path)
    data = read_source(path)
    return (info.st_size, info.st_mtime_ns, hashlib.sha256(data).digest()), data


def _cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _fast_context():
    """fork where it is safe and cheap (Linux): workers start with the modules loaded."""
    import multiprocessing

    return multiprocessing.get_context("fork") if sys.platform == "linux" else None


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
