"""A feed folder to its configuration, entries and problems.

`load_feed(root)` reads feed.yaml and every other `*.yaml` / `*.yml` below
the folder (hidden files and folders are skipped), parses each post file
(`bot.feed.postfile`), and checks media paths. Cross-entry rules (order, ids,
replies, storms) live in `bot.replay.timeline`.

A broken feed.yaml does not stop the post files from being checked: each is
checked against what could be read of feed.yaml (`read_config`'s partial
config; nothing at all when it does not parse), with the checks that depend
on a broken part skipped, and the cross-entry rules that need no replay
(duplicate ids, replies to no entry) are checked here, as no timeline can be built.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bot.feed.config import FeedConfig, read_config
from bot.feed.diagnostics import Diagnostic, error, warning
from bot.feed.ids import identity_problems
from bot.feed.postfile import Entry, FileContext, FileResult, network_limits, parse_post_file
from bot.errors import SourceProblem
from bot.feed.yamlsource import read_source

FEED_FILE = "feed.yaml"
SUFFIXES = (".yaml", ".yml")


@dataclass
class Feed:
    root: Path
    display_root: str
    config: FeedConfig | None
    entries: list[Entry] = field(default_factory=list)  # in file order
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    broken: set[str] = field(default_factory=set)  # ids of entries left out for their errors
    partial: FeedConfig | None = None  # feed.yaml as far as it could be read, when `config` is None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def display(self, relative: str) -> str:
        return os.path.join(self.display_root, relative) if self.display_root not in ("", ".") else relative


def post_files(root: Path) -> list[str]:
    """Relative POSIX paths of the post files under `root`, sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = os.path.relpath(folder, root)
        for name in files:
            if name.startswith(".") or not name.endswith(SUFFIXES):
                continue
            rel = name if base == "." else f"{base}/{name}".replace(os.sep, "/")
            if rel != FEED_FILE:
                found.append(rel)
    found.sort()
    return found


def load_feed(root: Path | str, display_root: str | None = None, *, parse_files=None) -> Feed:
    """Read the feed at `root`. `parse_files(feed, context, paths)` may replace the
    plain sequential parser (the cache and the process pool plug in there)."""
    root = Path(root)
    display_root = str(root) if display_root is None else display_root
    feed = Feed(root, display_root, None)
    if not root.is_dir():
        feed.diagnostics.append(error(display_root, 1, "feed folder not found"))
        return feed
    config, partial, problems = read_config(root / FEED_FILE, feed.display(FEED_FILE))
    feed.config = config
    feed.partial = None if config is not None else partial
    feed.diagnostics.extend(problems)
    paths = post_files(root)
    feed.files = len(paths) + 1
    known = config or partial
    context = FileContext.of(known) if known is not None else FileContext()  # FileContext(): nothing could be read
    results = (parse_files or parse_sequential)(feed, context, paths)
    for result in results:
        feed.entries.extend(result.entries)
        feed.diagnostics.extend(result.diagnostics)
        feed.broken.update(result.broken)
    check_media(feed)
    if config is None:  # no timeline will be built: what of its rules needs none
        feed.diagnostics.extend(identity_problems(feed.entries, feed.broken))
    return feed


def read_and_parse(root: Path, display: str, relative: str, context: FileContext) -> FileResult:
    try:
        data = read_source(root / relative)
    except OSError as exc:
        return FileResult([], [error(display, 1, f"cannot read file: {exc.strerror}")])
    except SourceProblem as exc:
        return FileResult([], [error(display, exc.line, exc.message)])
    return parse_post_file(data, display, context)


def parse_sequential(feed: Feed, context: FileContext, paths: list[str]) -> list[FileResult]:
    return [read_and_parse(feed.root, feed.display(p), p, context) for p in paths]


def inside(root: Path, relative: str) -> Path | None:
    """The real path of `relative` when it stays inside `root` (symlinks followed), else None."""
    if not relative or os.path.isabs(relative) or relative.startswith("~"):
        return None
    real_root = root.resolve()
    target = (root / relative).resolve()
    if target != real_root and real_root not in target.parents:
        return None
    return target


def media_problem(root: Path, relative: str) -> str | None:
    if "\0" in relative:
        return f"media path {relative!r} contains a NUL character"
    try:
        target = inside(root, relative)
    except (OSError, RuntimeError):  # a symlink loop is a RuntimeError before Python 3.13
        return f"media {relative!r} cannot be resolved (a symlink loop?)"
    if target is None:
        return f"media {relative!r} is outside the feed folder"
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return f"media file {relative!r} not found"
    except OSError as exc:  # a name too long, a file inside a file...
        return f"media {relative!r} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"media {relative!r} is not a regular file"
    return None


def check_media(feed: Feed) -> None:
    """Media and persona images exist inside the feed folder and fit every network
    that will receive them; persona names and bios fit those networks' profiles."""
    config = feed.config or feed.partial  # None, or parts of it None: what depends on them is skipped
    accounts = config.accounts if config is not None and config.accounts is not None else {}
    networks = {key: network_limits(account) for key, account in accounts.items()}
    seen: dict[str, str | None] = {}
    sizes: dict[str, int] = {}
    out = feed.diagnostics
    worn: dict[str, set[str]] = {}  # persona -> accounts that wear it at some point
    bad: set[int] = set()  # entries whose media cannot go out
    for key, account in accounts.items():
        if account.persona:
            worn.setdefault(account.persona, set()).add(key)
    for entry in feed.entries:
        if entry.storm:
            worn.setdefault(entry.storm, set()).add(entry.account)
        for media in entry.media:
            if media.file not in seen:
                seen[media.file] = media_problem(feed.root, media.file)
            if seen[media.file]:
                out.append(error(entry.path, media.line, seen[media.file]))
                bad.add(id(entry))
                continue
            if media.alt is None:
                out.append(warning(entry.path, media.line, f"image {media.file!r} has no alt text"))
            for platform, limits in networks.get(entry.account, ()):
                problem = _image_fits(feed.root, media.file, sizes, limits.image_types, limits.max_image_bytes(_mime(media.file)), platform)
                if problem:
                    out.append(error(entry.path, media.line, problem))
                    bad.add(id(entry))
    if bad:  # an entry with an error is left out, like one with an error in its file
        feed.broken.update(entry.id for entry in feed.entries if id(entry) in bad)
        feed.entries = [entry for entry in feed.entries if id(entry) not in bad]
    if config is None or config.personas is None:
        return
    for persona in config.personas.values():
        platforms = {p: limits for account in worn.get(persona.key, ()) for p, limits in networks.get(account, ())}
        for image in (persona.avatar, persona.banner):
            if image is None:
                continue
            problem = media_problem(feed.root, image)
            if problem:
                out.append(error(config.path, persona.line, f"persona {persona.key!r}: {problem}"))
                continue
            for platform, limits in sorted(platforms.items()):
                problem = _image_fits(feed.root, image, sizes, limits.profile_image_types, limits.profile_image_bytes, platform)
                if problem:
                    out.append(error(config.path, persona.line, f"persona {persona.key!r}: {problem} (profile image)"))
        for platform, limits in sorted(platforms.items()):
            for what, value, most, most_bytes in (("name", persona.name, limits.profile_name, limits.profile_name_bytes),
                                                  ("bio", persona.bio, limits.profile_bio, limits.profile_bio_bytes)):
                if most is not None and (n := limits.profile_count(value)) > most:
                    out.append(error(config.path, persona.line, f"persona {persona.key!r}: {what} is {n} characters, over {platform}'s limit of {most}"))
                elif most_bytes is not None and (n := len(value.encode("utf-8"))) > most_bytes:
                    out.append(error(config.path, persona.line, f"persona {persona.key!r}: {what} is {n} bytes of UTF-8, over {platform}'s limit of {most_bytes}"))


def _mime(relative: str) -> str | None:
    return mimetypes.guess_type(relative)[0]


def _image_fits(root: Path, relative: str, sizes: dict[str, int], types, most: int | None, platform: str) -> str | None:
    mime = _mime(relative)
    if mime not in types:
        return f"{platform} does not take {mime or 'files of unknown type'} ({relative!r}; it takes {', '.join(sorted(types))})"
    if most is None:
        return None
    if relative not in sizes:
        try:
            sizes[relative] = (root / relative).stat().st_size
        except OSError:
            return None  # reported by media_problem
    if sizes[relative] > most:
        return f"image {relative!r} is {sizes[relative]} bytes; {platform} takes at most {most}"
    return None
