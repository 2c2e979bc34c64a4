"""Parse cache: a warm run reparses only the post files that changed.

`ParseCache(folder).parse_files` plugs into `load_feed(parse_files=...)`.
`folder` (BOT_CACHE; default `cache/` next to the ledger, i.e. `./state/cache`)
has a subfolder per feed folder and in it one entry per post file: its parse
result, keyed by the file's path, size, mtime_ns and SHA-256 of its bytes,
under the `FileContext.fingerprint()` of feed.yaml and the shape of `Entry`.
Results are stored as plain tuples (marshal), so loading 100,000 entries is
quick, and an edit rewrites only the entry of the file edited.

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
import sys
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime
from operator import attrgetter
from pathlib import Path

from bot.diagnostics import Diagnostic
from bot.feed import read_and_parse
from bot.postfile import Entry, FileContext, FileResult, Media, parse_post_file
from bot.progress import Progress
from bot.yamlsource import SourceProblem, read_source

FORMAT = 1
MAGIC = b"bot-parse-cache\n"
DEFAULT_LEDGER = "state/ledger.sqlite3"  # as bot.service.DEFAULT_LEDGER; the cache sits beside it
POOL_MIN_FILES = 200  # fewer files to parse than this: no process pool
PROGRESS_MIN_FILES = 200

_FIELDS = tuple(f.name for f in dataclasses.fields(Entry))
_MEDIA_FIELDS = tuple(f.name for f in dataclasses.fields(Media))
_MOMENT, _MEDIA, _PATH = (_FIELDS.index(name) for name in ("moment", "media", "path"))
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
    for values in entries:
        values = list(values)
        values[_MOMENT] = datetime.fromisoformat(values[_MOMENT])
        values[_MEDIA] = tuple(Media(*m) for m in values[_MEDIA]) if values[_MEDIA] else ()
        if values[_PATH] is None:
            values[_PATH] = display
        out.append(Entry(*values))
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
        for relative in paths:
            display = feed.display(relative)
            try:
                key, data = _key_and_bytes(feed.root / relative)
            except (OSError, SourceProblem):
                results[relative] = read_and_parse(feed.root, display, relative, context)  # its error, uncached
                continue
            name = _bucket_name(relative)
            if name not in buckets:
                buckets[name] = _read_bucket(store / name)
            header = (SCHEMA, fingerprint, relative, *key)
            stored = buckets[name].get(relative)
            if isinstance(stored, tuple) and stored[:-1] == header:
                try:
                    results[relative] = unpack(stored[-1], display)
                    self.hits += 1
                    continue
                except (TypeError, ValueError, IndexError):
                    pass  # an entry of another shape: parse again
            todo.append((relative, data, header))
        self.misses += len(todo)
        jobs = [(data, feed.display(relative)) for relative, data, _ in todo]
        changed = {_bucket_name(relative) for relative, _, _ in todo}
        for (relative, _, header), (result, packed) in zip(todo, self._parse(jobs, context)):
            results[relative] = result
            buckets[_bucket_name(relative)][relative] = (*header, packed)
        self._save(store, buckets, changed, set(paths))
        return [results[relative] for relative in paths]

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
# header is (SCHEMA, fingerprint, relative path, size, mtime_ns, SHA-256 of the file).

BUCKETS = 64
BUCKET_SUFFIX = ".bucket"


def _digest(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()[:24]


def _bucket_name(relative: str) -> str:
    return f"{int(_digest(relative)[:8], 16) % BUCKETS:02x}{BUCKET_SUFFIX}"


def _read_bucket(path: Path) -> dict:
    """The entries stored at `path`; {} when missing, unreadable or corrupt."""
    try:
        with open(path, "rb") as handle:
            blob = handle.read()
    except OSError:
        return {}
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
