"""Read a live blog saved as plain text: a preamble, date headings, entries newest first.

A heading is a line holding only a date: `06 November 2017`, `6 November 2017`,
`November 6, 2017` or `2017-11-06` (a weekday in front, `6th` and month
abbreviations are accepted too). Every other non-blank line under a heading is
one entry. The entries have no times, so a day's entries, put back in
chronological order (source order reversed), get times spread evenly from
`day_start` to `day_end`: the first at `day_start`, the last at `day_end`,
a lone entry at `day_start`.
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass, field

from bot.feed.dates import valid_date
from bot.feed.diagnostics import Diagnostic, error, warning
from bot.importers.writer import Post

_MONTHS = {name.lower(): number for number, name in enumerate(_calendar.month_name) if name}
_MONTHS |= {name[:3].lower(): number for name, number in list(_MONTHS.items())}
_MONTHS["sept"] = 9
_MONTH = "(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_HEADINGS = [
    re.compile(r"(?P<year>\d{4})-(?P<mnum>\d{2})-(?P<day>\d{2})\Z"),
    re.compile(_WEEKDAY + _DAY + r"\s+" + _MONTH + r",?\s+" + _YEAR + r"\Z", re.IGNORECASE),
    re.compile(_WEEKDAY + _MONTH + r"\s+" + _DAY + r",?\s+" + _YEAR + r"\Z", re.IGNORECASE),
]


@dataclass
class LiveBlog:
    description: str = ""
    posts: list[Post] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    headings: int = 0


def heading_date(line: str) -> tuple[int, int, int] | None:
    """(year, month, day) when `line` is a date heading (not checked for existence)."""
    text = line.strip()
    for pattern in _HEADINGS:
        match = pattern.match(text)
        if match:
            groups = match.groupdict()
            month = int(groups["mnum"]) if groups.get("mnum") else _MONTHS[groups["month"].lower()]
            return int(groups["year"]), month, int(groups["day"])
    return None


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def spread(count: int, start: int, end: int) -> list[str]:
    """`count` times HH:MM evenly from minute `start` to minute `end` of the day."""
    if count == 1:
        return [f"{start // 60:02d}:{start % 60:02d}"]
    out = []
    for i in range(count):
        at = start + i * (end - start) // (count - 1)
        out.append(f"{at // 60:02d}:{at % 60:02d}")
    return out


def parse_liveblog(
    text: str, path: str, years_back: int = 0, day_start: str = "08:00", day_end: str = "22:00"
) -> LiveBlog:
    """The live blog in `text` (read from `path`, for messages) as posts in historical order."""
    blog = LiveBlog()
    preamble: list[str] = []
    days: dict[str, list[str]] = {}
    current: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        found = heading_date(stripped) if stripped else None
        if found is not None:
            blog.headings += 1
            current = _day(found, years_back, path, number, blog.diagnostics)
            if current is not None:
                days.setdefault(current, [])
            continue
        if current is None and blog.headings == 0:
            preamble.append(stripped)
        elif current is not None and stripped:
            days[current].append(stripped)
    if blog.headings == 0:
        blog.diagnostics.append(error(path, 1, "no date headings found (a heading is a line like '6 November 2017')"))
    blog.description = _paragraphs(preamble)
    start, end = minutes(day_start), minutes(day_end)
    for day in sorted(days):
        entries = list(reversed(days[day]))
        for time, entry in zip(spread(len(entries), start, end), entries):
            blog.posts.append(Post(day, time, entry))
    return blog


def _day(found, years_back, path, number, diagnostics) -> str | None:
    year, month, day = found
    if not valid_date(year, month, day, "gregorian"):
        diagnostics.append(error(path, number, f"impossible date heading {year:04d}-{month:02d}-{day:02d}"))
        return None
    year -= years_back
    if year < 1:
        diagnostics.append(error(path, number, f"--years-back {years_back} puts this day before year 1"))
        return None
    if month == 2 and day == 29 and not _calendar.isleap(year):
        diagnostics.append(warning(path, number, f"{year:04d} has no 29 February: its entries go on 28 February"))
        day = 28
    return f"{year:04d}-{month:02d}-{day:02d}"


def _paragraphs(lines: list[str]) -> str:
    """Preamble lines as text: lines of a paragraph joined by a space, paragraphs by a blank line."""
    paragraphs, current = [], []
    for line in lines + [""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return "\n\n".join(paragraphs)
