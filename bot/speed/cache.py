"""Parse cache: a warm run reparses only the post files that changed.

`ParseCache(folder).parse_files` plugs into `load_feed(parse_files=...)`.
`folder` (BOT_CACHE, else the user's cache folder: see bot.settings)
has a subfolder per feed folder and in it one entry per post file: its parse
result, keyed by the file's path, size, mtime_ns and SHA-256 of its bytes,
under the `FileContext.fingerprint()` of feed.yaml and `records.stamp()` (the
bot's code and the versions of the libraries behind a result).
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
import os
from pathlib import Path

from bot.errors import SourceProblem
from bot.feed.folder import FEED_FILE, read_and_parse
from bot.feed.postfile import FileContext, FileResult
from bot.replay.timeline import Timeline, build
from bot.speed.packing import unpack
from bot.speed.pool import MissParser
from bot.speed.records import (
    PREVIEW_FILE,
    TIMELINE_FILE,
    StoredFile,
    bucket_name,
    cores,
    digest,
    key_and_bytes,
    prune,
    read_bucket,
    read_bucket_at,
    restore_timeline,
    stamp,
    timeline_record,
    trusted,
    write_bucket,
)


# -- the cache -----------------------------------------------------------------------


class ParseCache:
    def __init__(self, folder: Path | str, *, workers: int | None = None, progress: bool = True) -> None:
        self.folder = Path(folder)
        self.workers = workers if workers is not None else min(cores(), 4)
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
        return self.folder / f"feed-{digest(os.path.abspath(root))}"

    def parse_files(self, feed, context: FileContext, paths: list[str]) -> list[FileResult]:
        """The `load_feed` hook: one FileResult per path, in order, from the cache when it can."""
        fingerprint = context.fingerprint()
        store = self.folder_for(feed.root)
        buckets: dict[str, dict] = {}  # bucket name -> {relative: StoredFile as a tuple}, as stored
        results: dict[str, FileResult] = {}
        todo: list[tuple[str, str, StoredFile]] = []  # (relative, bucket name, record without its result)
        whole = hashlib.sha256(repr((stamp(), fingerprint, os.path.abspath(feed.root), feed.display_root)).encode())
        cacheable = True
        written: dict[str, int] = {}  # bucket name -> when it was written (ns)
        refreshed = set()  # buckets whose stored stat of a file is out of date
        parser = MissParser(context, workers=self.workers, progress=self.progress)
        root = os.fspath(feed.root)
        for relative in paths:
            display = feed.display(relative)
            name = bucket_name(relative)
            if name not in buckets:
                buckets[name], written[name] = read_bucket_at(store / name)
            stored = StoredFile.read(buckets[name].get(relative))
            path = os.path.join(root, relative)
            try:
                info = os.stat(path)
                key, data = trusted(stored, info, written[name]), None
                if key is None:
                    key, data = key_and_bytes(path, info)
            except (OSError, SourceProblem):
                results[relative] = read_and_parse(feed.root, display, relative, context)  # its error, uncached
                cacheable = False
                continue
            now = StoredFile(stamp(), fingerprint, relative, *key, info.st_ino, info.st_ctime_ns, ())
            whole.update(repr((relative, now.sha256)).encode())  # the content: an edit undone finds its records again
            if stored is not None and stored.same_input(now):  # a touch or an edit undone hits too
                try:
                    results[relative] = unpack(stored.packed, display)
                    self.hits += 1
                    if (stored.mtime_ns, stored.inode, stored.ctime_ns) != (now.mtime_ns, now.inode, now.ctime_ns):
                        buckets[name][relative] = tuple(now._replace(packed=stored.packed))
                        refreshed.add(name)
                    continue
                except (TypeError, ValueError, IndexError):
                    pass  # a result of another shape: parse again
            if data is None:
                try:
                    key, data = key_and_bytes(path, info)
                except (OSError, SourceProblem):
                    results[relative] = read_and_parse(feed.root, display, relative, context)
                    cacheable = False
                    continue
                now = now._replace(size=key[0], mtime_ns=key[1], sha256=key[2])
            todo.append((relative, name, now))
            parser.add(data, display)
        self.misses += len(todo)
        self.last_misses = [relative for relative, _, _ in todo]
        changed = {name for _, name, _ in todo} | refreshed
        parsed = parser.results()
        self.used_pool = parser.used_pool
        for (relative, name, record), (result, packed) in zip(todo, parsed):
            results[relative] = result
            buckets[name][relative] = tuple(record._replace(packed=packed))
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
            timeline = restore_timeline(read_bucket(store), key, feed, years_later)
            if timeline is not None:
                self.timeline_hit = True
                return timeline
        timeline = build(feed, years_later, daily_limit=daily_limit)
        if key is not None:
            record = timeline_record(timeline, feed, key)
            if record is not None:
                write_bucket(store, record)
        return timeline

    def preview_lines(self, feed, timeline: Timeline, platforms, encode) -> list[str]:
        """`list(encode(timeline.events, timeline, platforms))` (the JSON preview lines of every
        event), kept beside the timeline record when `timeline` came from `build_timeline`."""
        key = self._timelines.get(os.path.abspath(feed.root))
        if key is None:
            return list(encode(timeline.events, timeline, platforms))
        key = hashlib.sha256(repr((key, stamp(), encode.__module__, encode.__qualname__, sorted(platforms.items()))).encode()).hexdigest()
        store = self.folder_for(feed.root) / PREVIEW_FILE
        record = read_bucket(store)
        lines = record.get("lines")
        if record.get("key") == key and isinstance(lines, list) and len(lines) == len(timeline.events):
            return lines
        lines = list(encode(timeline.events, timeline, platforms))
        write_bucket(store, {"key": key, "lines": lines})
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
                    write_bucket(store / name, entries)
        prune(store, keep)

