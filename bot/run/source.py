"""The feed as a running service sees it: the last valid content of every file.

At start every file is read; a file with errors contributes its valid entries
and its problems are reported. On a change, only the changed files are read
again; a file made invalid is reported once and its last valid content stays
scheduled, so one bad edit never takes other posts down with it. A broken
feed.yaml keeps the last good settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from bot.feed.config import FeedConfig, load_config
from bot.feed.diagnostics import Diagnostic
from bot.feed.folder import FEED_FILE, Feed, check_media, parse_sequential, post_files, read_and_parse
from bot.feed.postfile import FileContext, FileResult
from bot.replay.timeline import Timeline, build, remember_instants

Report = Callable[[list[Diagnostic]], None]


class FeedSource:
    def __init__(self, root: Path, display: str, report: Report, *, daily_limit: int, parse_files=None,
                 build_timeline=None) -> None:
        self.root = Path(root)
        self.display_root = display
        self.report = report
        self.daily_limit = daily_limit
        self.parse_files = parse_files or parse_sequential  # for the full reads (the parse cache plugs in)
        self._instants: dict = {}  # replay instants kept between timelines (see timeline.build)
        self.build_timeline = build_timeline  # for a timeline of the files exactly as a full read left them
        self._as_read = False  # True from a full read (load) until a file changes
        self.config: FeedConfig | None = None
        self.results: dict[str, FileResult] = {}
        self._reported: dict[str, tuple[str, ...]] = {}
        self._reported_feed: set[str] = set()
        self._seen: dict[str, tuple[int, int]] = {}  # (mtime_ns, size) of each file when last read

    def _display(self, relative: str) -> str:
        return Feed(self.root, self.display_root, None).display(relative)

    def _say(self, where: str, diagnostics: list[Diagnostic]) -> None:
        """Report a file's problems once: again only when they change."""
        lines = tuple(str(d) for d in diagnostics)
        if self._reported.get(where, ()) != lines:
            self._reported[where] = lines
            if diagnostics:
                self.report(diagnostics)

    def load(self) -> bool:
        """Read everything. False when feed.yaml is unusable (nothing can run)."""
        self._seen = {FEED_FILE: self._stat(FEED_FILE)}
        config, problems = load_config(self.root / FEED_FILE, self._display(FEED_FILE))
        self._say(FEED_FILE, problems)
        if config is None:
            return False
        self.config = config
        relatives = post_files(self.root)
        for relative in relatives:
            self._seen[relative] = self._stat(relative)
        results = self.parse_files(Feed(self.root, self.display_root, config), FileContext.of(config), relatives)
        self.results = {}
        for relative, result in zip(relatives, results):
            self._say(relative, result.diagnostics)
            self.results[relative] = result
        self._as_read = True
        return True

    def _stat(self, relative: str) -> tuple[int, int] | None:
        try:
            info = (self.root / relative).stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def stale(self) -> set[Path]:
        """Files added, changed or deleted since they were last read (one scan, for start-up)."""
        current = {relative: self._stat(relative) for relative in [FEED_FILE, *post_files(self.root)]}
        names = set(current) | set(self._seen)
        return {self.root / name for name in names if current.get(name) != self._seen.get(name)}

    def _read(self, relative: str, *, initial: bool = False) -> None:
        self._as_read = False
        self._seen[relative] = self._stat(relative)
        result = read_and_parse(self.root, self._display(relative), relative, FileContext.of(self.config))
        self._say(relative, result.diagnostics)
        broken = any(d.is_error for d in result.diagnostics)
        if not broken or initial or relative not in self.results:
            self.results[relative] = result

    def changed(self, paths: Iterable[Path]) -> None:
        """Take in changed, added or deleted files (absolute or relative paths)."""
        relatives = set()
        for path in paths:
            path = Path(path)
            try:
                relative = path.resolve().relative_to(self.root.resolve()).as_posix() if path.is_absolute() else path.as_posix()
            except ValueError:
                continue
            relatives.add(relative)
        if FEED_FILE in relatives:
            self._seen[FEED_FILE] = self._stat(FEED_FILE)
            config, problems = load_config(self.root / FEED_FILE, self._display(FEED_FILE))
            self._say(FEED_FILE, problems)
            if config is not None and not any(d.is_error for d in problems):
                self.load()  # new settings: every file is read against them
                return
        current = set(post_files(self.root))
        for relative in sorted(relatives - {FEED_FILE}):
            if relative in current:
                self._read(relative)
            elif relative in self.results:
                self._as_read = False
                del self.results[relative]
                self._seen.pop(relative, None)
                self._say(relative, [])

    def feed(self) -> Feed:
        feed = Feed(self.root, self.display_root, self.config)
        feed.files = len(self.results) + 1
        for relative in sorted(self.results):
            result = self.results[relative]
            feed.entries.extend(result.entries)
            feed.broken.update(result.broken)
        check_media(feed)
        return feed

    def timeline(self, years_later: int) -> Timeline:
        feed = self.feed()
        if self._as_read and self.build_timeline is not None:
            timeline = self.build_timeline(feed, years_later, daily_limit=self.daily_limit)
        else:
            timeline = build(feed, years_later, daily_limit=self.daily_limit, instants=self._instants)
        fresh = [d for d in feed.diagnostics + timeline.diagnostics if d.is_error and str(d) not in self._reported_feed]
        self._reported_feed.update(str(d) for d in fresh)
        if fresh:
            self.report(fresh)
        return timeline

    def remember_instants(self, years_later: int) -> None:
        """Work out now the replay instants a later `timeline` would reuse (the service
        calls it after start, so that its first reload is as quick as the next ones)."""
        if self.config is not None:
            entries = (entry for result in list(self.results.values()) for entry in result.entries)
            remember_instants(entries, years_later, self.config.replay_zone, self._instants)
