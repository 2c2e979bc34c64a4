"""From imported posts to feed files: threads, ids, one file per historical day.

The importers hand over `Post`s in historical order. Each post too long for
the platform becomes a thread (every part replies to the one before, all at
the post's time); a post marked `reply` answers the previous post, or the
last part of its thread. Ids are written only where needed: on reply targets,
and on every entry after the first that would share a default id
(`<date>T<HHMM>-<account>`), which then gets `-2`, `-3`, ...
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bot.errors import ImportFailed
from bot.importers.split import split_text
from bot.importers.yamlout import FeedMeta, OutEntry, render_day, render_feed


@dataclass(frozen=True, slots=True)
class Post:
    day: str  # YYYY-MM-DD as written in the source (Old Style for julian)
    time: str  # HH:MM or HH:MM:SS
    text: str
    reply: bool = False  # answers the previous post in historical order


@dataclass(frozen=True, slots=True)
class Output:
    files: dict[str, str]  # file name -> content, day files in date order
    entries: int
    threads: int
    days: int


def default_id(day: str, time: str, account: str) -> str:
    return f"{day}T{time.replace(':', '')}-{account}"


def build(posts: list[Post], meta: FeedMeta) -> Output:
    """All files of the feed (feed.yaml included) for `posts` in historical order."""
    # (day, time, text, index of the entry replied to)
    flat: list[tuple[str, str, str, int | None]] = []
    threads = 0
    last_part: int | None = None
    for post in posts:
        parts = split_text(post.text, meta.platform)
        threads += len(parts) > 1
        parent = last_part if post.reply else None
        for part in parts:
            flat.append((post.day, post.time, part, parent))
            parent = len(flat) - 1
        last_part = parent
    ids = _ids(flat, meta.account)
    days: dict[str, list[OutEntry]] = {}
    for index, (day, time, text, parent) in enumerate(flat):
        reply_to = None if parent is None else ids[parent]
        days.setdefault(day, []).append(OutEntry(time, meta.account, text, ids[index], reply_to))
    files = {"feed.yaml": render_feed(meta)}
    for day in sorted(days):
        files[f"{day}.yaml"] = render_day(day, days[day])
    return Output(files, len(flat), threads, len(days))


def _ids(flat, account: str) -> list[str | None]:
    """The id to write for each entry, None where the default serves and nothing refers to it."""
    targets = {parent for *_, parent in flat if parent is not None}
    seen: Counter[str] = Counter()
    ids: list[str | None] = []
    for index, (day, time, _, _) in enumerate(flat):
        base = default_id(day, time, account)
        seen[base] += 1
        if seen[base] > 1:
            ids.append(f"{base}-{seen[base]}")
        else:
            ids.append(base if index in targets else None)
    return ids


def title_from(path: Path) -> str:
    """A feed title from a file or folder name: `petrograd-1917.txt` -> `Petrograd 1917`."""
    path = path.resolve()
    name = path.stem if path.is_file() else path.name
    if name.lower() in ("posts", "txt", "text", "") and path.parent != path:
        name = path.parent.name
    words = " ".join(re.split(r"[\s_-]+", name)).strip() or "Imported feed"
    return words[0].upper() + words[1:]


def write(out: Path, output: Output, force: bool) -> list[str]:
    """Write the files into `out`; returns the names kept as they were (feed.yaml)."""
    if out.exists() and not out.is_dir():
        raise ImportFailed(f"{out}: exists and is not a folder")
    kept = []
    names = list(output.files)
    if (out / "feed.yaml").exists() and not force:
        kept.append("feed.yaml")
        names.remove("feed.yaml")
    clashes = [name for name in names if (out / name).exists()] if not force else []
    if clashes:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise ImportFailed(f"{out / clashes[0]} already exists{more}; use --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / name).write_text(output.files[name], encoding="utf-8", newline="\n")
    return kept
