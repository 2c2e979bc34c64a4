"""Read line-per-post diaries: `YYYY-MM-DD HH:MM[ r] text`, one post a line.

`r` (one space after the time, then `r`, then whitespace) marks a reply to the
previous post in time, wherever that post is. A file may list its posts
newest first or oldest first; all posts are put in historical order (ties
keep the order of their file, read forwards in time). A line that starts
like a post (a date, then something time-like) but does not parse is a
warning, located; any other non-blank line is skipped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.feed.dates import valid_date
from bot.feed.diagnostics import Diagnostic, error, warning
from bot.importers.writer import Post

_POST = re.compile(
    r"(?P<day>\d{4}-\d{2}-\d{2})[ \t]+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)"
    r"(?:[ \t](?P<reply>r)(?=[ \t]))?[ \t]+(?P<text>\S.*?)\s*\Z"
)
# a date then something time-like: meant as a post, so a parse failure is reported
_LOOKS_LIKE_POST = re.compile(r"\s*\d{3,4}[-/.]\w{1,2}[-/.]\w{1,2}[ \tT]+\d{1,3}[:.h]?\d")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_TIME = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?\Z")


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    line: int
    text: str


@dataclass
class Lines:
    posts: list[Post] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0
    malformed: int = 0  # skipped lines that look like posts (each has a warning)


def source_files(path: Path, shown: str) -> list[tuple[Path, str]]:
    """The files to read, with the name to show for each: PATH itself, or its *.txt files."""
    if path.is_file():
        return [(path, shown)]
    found = sorted(p for p in path.rglob("*.txt") if p.is_file())
    found.sort(key=lambda p: p.relative_to(path).parts)
    return [(p, str(Path(shown) / p.relative_to(path))) for p in found]


def read_lines(path: Path, shown: str, calendar: str = "gregorian") -> Lines:
    """All posts under `path` (shown as `shown` in messages) in historical order."""
    result = Lines()
    files = source_files(path, shown)
    if not files:
        result.diagnostics.append(error(shown, 1, "no *.txt files here"))
    keyed = []
    for number, (file, name) in enumerate(files):
        result.files += 1
        items = _read_file(file, name, calendar, result)
        if len(items) > 1 and _key(items[0]) > _key(items[-1]):
            items.reverse()  # newest first
        keyed.extend((_key(item), number, position, item) for position, item in enumerate(items))
    keyed.sort(key=lambda item: item[:3])
    for index, (_, _, _, (post, name, line)) in enumerate(keyed):
        if post.reply and index == 0:
            result.diagnostics.append(warning(name, line, "reply marker 'r' on the earliest post: nothing to reply to, imported as a plain post"))
            post = Post(post.day, post.time, post.text)
        result.posts.append(post)
    return result


def _key(item) -> tuple[str, int]:
    """(date as written, seconds into the day): historical order."""
    hours, minutes, *seconds = (int(part) for part in item[0].time.split(":"))
    return item[0].day, hours * 3600 + minutes * 60 + sum(seconds)


def _read_file(file: Path, name: str, calendar: str, result: Lines) -> list[tuple[Post, str, int]]:
    try:
        data = file.read_bytes()
    except OSError as exc:
        result.diagnostics.append(error(name, 1, f"cannot read: {exc.strerror}"))
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result.diagnostics.append(error(name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x})"))
        return []
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    posts = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        match = _POST.match(line)
        problem = _problem(match, line, calendar)
        if problem is None:
            time = match["time"] if match["time"][2] == ":" else "0" + match["time"]
            post = Post(match["day"], time, match["text"], match["reply"] is not None)
            posts.append((post, name, number))
        elif _LOOKS_LIKE_POST.match(line):
            result.diagnostics.append(warning(name, number, f"looks like a post but {problem}; line skipped"))
            result.malformed += 1
            result.skipped.append(Skipped(name, number, line))
        else:
            result.skipped.append(Skipped(name, number, line))
    return posts


def _problem(match, line: str, calendar: str) -> str | None:
    """Why `line` is not a valid post, or None when it is one."""
    if match is None:
        fields = line.split()
        day = fields[0] if fields else ""
        time = fields[1] if len(fields) > 1 else ""
        if not _DATE.match(day):
            return f"the date {day!r} is not YYYY-MM-DD"
        if not _TIME.match(time):
            return f"the time {time!r} is not HH:MM"
        return "it has no text"
    if match["reply"] is None and match["text"] == "r":
        return "the reply has no text"
    year, month, day = (int(part) for part in match["day"].split("-"))
    if not valid_date(year, month, day, calendar):
        return f"{match['day']} is not a date in the {calendar} calendar"
    hours, mins, *secs = (int(part) for part in match["time"].split(":"))
    if hours > 23 or mins > 59 or (secs and secs[0] > 59):
        return f"{match['time']} is not a time of day"
    return None
