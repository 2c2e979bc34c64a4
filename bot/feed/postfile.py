"""One post file to entries, with every problem it has. Pure and picklable.

`parse_post_file(data, display, context)` depends only on the file's bytes and
a `FileContext` (what it needs of feed.yaml), so its result can be cached by
content and computed in worker processes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from bot.feed.dates import CALENDARS, parse_time, to_gregorian, valid_date
from bot.feed.config import did_you_mean, show as _show
from bot.feed.diagnostics import Diagnostic, error, warning
from bot.publishers.base import Limits
from bot.errors import SourceProblem
from bot.feed.yamlsource import YList, YMap, decode, parse

FILE_KEYS = ("date", "posts")
ENTRY_KEYS = ("time", "account", "text", "id", "date", "media", "reply_to", "storm")
_ENTRY_KEYS = frozenset(ENTRY_KEYS)
MAX_MEDIA = 4
DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})\Z")
ID = re.compile(r"[^\s]+\Z")


@dataclass(frozen=True, slots=True)
class FileContext:
    """What a post file is checked against: feed.yaml's calendar, accounts and
    personas, and each account's networks with their limits (the publishers').

    None stands for a part of feed.yaml that is broken (already reported there):
    the checks that depend on it are skipped. A calendar of None accepts a date
    valid in either calendar; accounts of None accept any account name (with no
    network, so no limit); personas of None accept any storm. `FileContext()`
    is the context of a feed.yaml that could not be read at all."""

    calendar: str | None = None
    accounts: tuple[tuple[str, tuple[tuple[str, Limits], ...]], ...] | None = None  # (account, ((platform, limits), ...))
    personas: frozenset[str] | None = None
    aliases: tuple[tuple[str, str], ...] = ()  # (account key as written in upper case, its key)

    @classmethod
    def of(cls, config) -> FileContext:
        """The context of a feed config, usable or partial (see `bot.feed.config.read_config`)."""
        accounts = config.accounts
        return cls(
            calendar=config.calendar,
            accounts=None if accounts is None else tuple(sorted((a.key, network_limits(a)) for a in accounts.values())),
            personas=None if config.personas is None else frozenset(config.personas),
            aliases=tuple(sorted(config.aliases.items())),
        )

    def fingerprint(self) -> str:
        accounts = None if self.accounts is None else [(key, [(p, limits.fingerprint()) for p, limits in networks]) for key, networks in self.accounts]
        personas = None if self.personas is None else sorted(self.personas)
        return hashlib.sha256(repr((self.calendar, accounts, personas, self.aliases)).encode()).hexdigest()[:16]


def network_limits(account) -> tuple[tuple[str, Limits], ...]:
    """(platform, limits) for each network of a feed.yaml account, from its publisher."""
    from bot import publishers

    return tuple((p, publishers.load(p).limits_for(account.options)) for p in account.platforms)


@dataclass(frozen=True, slots=True)
class Media:
    file: str
    alt: str | None
    line: int


@dataclass(slots=True)
class Entry:
    id: str
    account: str
    written: str  # "YYYY-MM-DDTHH:MM:SS", the date as written (Old Style with the Julian calendar)
    moment: datetime  # naive wall-clock, Gregorian
    text: str | None
    media: tuple[Media, ...]
    reply_to: str | None
    storm: str | None
    path: str  # display path of its file
    line: int
    position: int  # index in its file
    length: int  # largest weighted length over the account's platforms (0 without text)
    lengths: tuple[tuple[str, int], ...]  # per platform

    @property
    def kind(self) -> str:
        return "storm" if self.text is None else "post"

    @property
    def text_hash(self) -> str:
        return hashlib.sha256((self.text or "").encode()).hexdigest()[:16]


@dataclass(slots=True)
class FileResult:
    entries: list[Entry]
    diagnostics: list[Diagnostic]
    broken: list[str] = field(default_factory=list)  # ids of entries left out for their errors


def parse_post_file(data: bytes, display: str, context: FileContext) -> FileResult:
    out: list[Diagnostic] = []
    try:
        doc = parse(decode(data))
    except SourceProblem as exc:
        return FileResult([], [error(display, exc.line, exc.message)])
    if doc is None:
        return FileResult([], [warning(display, 1, "empty post file (no posts)")])
    if not isinstance(doc, YMap):
        return FileResult([], [error(display, getattr(doc, "line", 1), "a post file must be a mapping with 'date' and 'posts'")])
    for key in doc:
        if key not in FILE_KEYS:
            out.append(error(display, doc.key_lines[key], f"unknown key {key!r} in post file{did_you_mean(key, FILE_KEYS)}"))
    file_date = None  # absent; False when present but wrong
    if "date" in doc:
        file_date = _date(doc, "date", display, context.calendar, out) or False
    posts = doc.get("posts")
    if posts is None:
        if "posts" not in doc:
            out.append(error(display, doc.line, "a post file needs 'posts', a list of entries"))
        return FileResult([], out)
    if not isinstance(posts, YList):
        out.append(error(display, doc.key_lines["posts"], "'posts' must be a list of entries"))
        return FileResult([], out)
    if context.accounts is not None:
        accounts = dict(context.accounts)
    else:  # feed.yaml's accounts are broken: every name given here is taken for one, on no network
        accounts = {item["account"]: () for item in posts if isinstance(item, YMap) and type(item.get("account")) is str}
    entries = []
    broken = []
    days: dict = {}  # (y, m, d) as written -> ("YYYY-MM-DD", Gregorian date): one per file, mostly
    for position, item in enumerate(posts):
        line = posts.item_lines[position]
        if not isinstance(item, YMap):
            out.append(error(display, line, "an entry must be a mapping with time, account and text"))
            continue
        entry = _entry(item, position, file_date, display, context, accounts, out, days)
        if isinstance(entry, Entry):
            entries.append(entry)
        elif entry:
            broken.append(entry)
    return FileResult(entries, out, broken)


def _date(mapping: YMap, key: str, display: str, calendar: str | None, out) -> tuple[int, int, int] | None:
    raw = mapping.raw.get(key)
    line = mapping.key_lines[key]
    match = DATE.match(raw) if raw is not None else None
    if match is None:
        out.append(error(display, line, f"{key!r} must be a date written YYYY-MM-DD, not {_show(mapping[key])}"))
        return None
    y, m, d = (int(g) for g in match.groups())
    if calendar is None:  # feed.yaml's calendar is broken: a date of either calendar will do
        if not any(valid_date(y, m, d, c) for c in CALENDARS):
            out.append(error(display, line, f"impossible date {raw} in either calendar (gregorian or julian)"))
            return None
    elif not valid_date(y, m, d, calendar):
        out.append(error(display, line, f"impossible date {raw} in the {calendar} calendar"))
        return None
    return y, m, d


def _entry(item: YMap, position, file_date, display, context: FileContext, accounts, out, days) -> Entry | str | None:
    """The entry, or when it has errors its id (if known) so replies to it are not reported again."""
    line = item.line
    lines = item.key_lines
    bad = len(out)
    if not _ENTRY_KEYS.issuperset(item):
        for key in item:
            if key not in _ENTRY_KEYS:
                out.append(error(display, lines[key], f"unknown key {key!r} in entry{did_you_mean(key, ENTRY_KEYS)}"))

    if "date" in item:
        date = _date(item, "date", display, context.calendar, out)
    elif file_date is None:
        date = None
        out.append(error(display, line, "entry has no date: give the file a 'date:' or the entry one"))
    else:
        date = file_date or None  # False: the file's date is wrong, already reported

    clock = None
    raw_time = item.raw.get("time")
    if raw_time is None or (clock := parse_time(raw_time)) is None:
        if "time" not in item:
            out.append(error(display, line, "entry needs 'time' (HH:MM or HH:MM:SS)"))
        else:
            out.append(error(display, lines["time"], f"impossible time {_show(raw_time if raw_time is not None else item['time'])}: use HH:MM or HH:MM:SS (00:00 to 23:59:59)"))

    account = item.get("account")
    if type(account) is not str or account not in accounts:
        account = _other_account(item, account, accounts, context.aliases, display, out)

    storm = item.get("storm")
    if storm is not None and (not isinstance(storm, str) or (context.personas is not None and storm not in context.personas)):
        out.append(error(display, lines["storm"], f"storm to unknown persona {_show(storm)}{did_you_mean(storm, context.personas or ())}"))

    text = item.get("text")
    if text is None:
        if storm is None:
            out.append(error(display, lines.get("text", line), "entry needs 'text' (only a storm entry may have none)"))
    elif type(text) is not str:
        out.append(error(display, lines["text"], f"text must be a string, not {_show(text)} (put it in quotes)"))
        text = None
    elif text.isspace() or not text:
        out.append(error(display, lines["text"], "empty text"))
        text = None

    media = _media(item, display, out) if "media" in item else ()

    reply_to = item.get("reply_to")
    if reply_to is not None and (type(reply_to) is not str or not reply_to):
        out.append(error(display, lines["reply_to"], "reply_to must be the id of an earlier entry"))
        reply_to = None

    entry_id = item.get("id")
    if entry_id is not None and (type(entry_id) is not str or not ID.match(entry_id)):
        out.append(error(display, lines["id"], f"id must be text without spaces, not {_show(entry_id)}"))
        entry_id = None

    lengths = ()
    length = 0
    if account is not None:
        networks = accounts[account]
        if text is not None:
            lengths = tuple([(p, limits.count(text)) for p, limits in networks])
            for (platform, limits), (_, n) in zip(networks, lengths):
                if limits.text is not None and n > limits.text:
                    out.append(error(display, lines["text"], f"text is {n} characters on {platform}, over its limit of {limits.text}"))
                if limits.text_bytes is not None and (size := len(text.encode("utf-8"))) > limits.text_bytes:
                    out.append(error(display, lines["text"], f"text is {size} bytes of UTF-8 on {platform}, over its limit of {limits.text_bytes} bytes"))
                if n > length:
                    length = n
        if media:
            _media_limits(media, networks, display, lines["media"], out)
    if date is None or (len(out) > bad and any(d.is_error for d in out[bad:])):  # no date: the file's is wrong, reported once
        if isinstance(entry_id, str):
            return entry_id
        if date and clock and account:
            return _default_id(_ymd(date), clock, raw_time, account)
        return None
    day = days.get(date)
    if day is None:
        day = days[date] = (_ymd(date), _gregorian(date, context.calendar))
    hms = clock.isoformat()
    if entry_id is None:
        entry_id = _default_id(day[0], clock, raw_time, account)
    return Entry(
        id=entry_id,
        account=account,
        written=f"{day[0]}T{hms}",
        moment=datetime.combine(day[1], clock),
        text=text,
        media=media,
        reply_to=reply_to,
        storm=storm,
        path=display,
        line=line,
        position=position,
        length=length,
        lengths=lengths,
    )


def _other_account(item: YMap, account, accounts, aliases, display: str, out) -> str | None:
    """The key of an account that is not one of feed.yaml's keys as written: the key of one
    written there in upper case (reported there, once), else None with the error."""
    for written, key in aliases:
        if account == written:
            return key
    if "account" not in item:
        out.append(error(display, item.line, "entry needs 'account'"))
    else:
        out.append(error(display, item.key_lines["account"], f"unknown account {_show(account)}{did_you_mean(account, accounts)}"))
    return None


def _gregorian(date: tuple[int, int, int], calendar: str | None):
    if calendar is None:  # no calendar (feed.yaml's is broken): the entry is read, never replayed
        return to_gregorian(*date, "gregorian" if valid_date(*date, "gregorian") else "julian")
    return to_gregorian(*date, calendar)


def _ymd(date: tuple[int, int, int]) -> str:
    y, m, d = date
    return f"{y:04d}-{m:02d}-{d:02d}"


def _default_id(day: str, clock, raw_time: str, account: str) -> str:
    """YYYY-MM-DDTHHMM[SS]-account: seconds only when the time was written with them."""
    hms = clock.isoformat()  # HH:MM:SS
    seconds = hms[6:] if raw_time.count(":") == 2 else ""
    return f"{day}T{hms[:2]}{hms[3:5]}{seconds}-{account}"


def _media(item: YMap, display: str, out) -> tuple[Media, ...]:
    raw = item.get("media")
    if raw is None:
        return ()
    at = item.key_lines["media"]
    if not isinstance(raw, YList):
        out.append(error(display, at, "media must be a list of {file: PATH, alt: TEXT}"))
        return ()
    if len(raw) > MAX_MEDIA:  # above every network's count: the per-network check says which
        out.append(error(display, at, f"{len(raw)} images: at most {MAX_MEDIA} per post"))
    found = []
    for i, spec in enumerate(raw):
        line = raw.item_lines[i]
        if isinstance(spec, str):
            spec_file, alt = spec, None
        elif isinstance(spec, YMap):
            for key in spec:
                if key not in ("file", "alt"):
                    out.append(error(display, spec.key_lines[key], f"unknown key {key!r} in media{did_you_mean(key, ('file', 'alt'))}"))
            spec_file, alt = spec.get("file"), spec.get("alt")
            if alt is not None and not isinstance(alt, str):
                out.append(error(display, spec.key_lines["alt"], "alt must be text"))
                alt = None
        else:
            out.append(error(display, line, "a media item must be {file: PATH, alt: TEXT}"))
            continue
        if not isinstance(spec_file, str) or not spec_file.strip():
            out.append(error(display, line, "a media item needs 'file', a path inside the feed folder"))
            continue
        found.append(Media(spec_file, alt if alt and alt.strip() else None, line))
    return tuple(found)


def _media_limits(media: tuple[Media, ...], networks, display: str, line: int, out) -> None:
    """Image count and alt text length against each network's limits (sizes and
    types need the files: `bot.feed.folder.check_media`)."""
    for platform, limits in networks:
        if MAX_MEDIA >= len(media) > limits.images:
            out.append(error(display, line, f"{len(media)} images: {platform} takes at most {limits.images} per post"))
        if limits.alt_text is None:
            continue
        for item in media:
            if item.alt is not None and (n := limits.alt_count(item.alt)) > limits.alt_text:
                out.append(error(display, item.line, f"alt text is {n} characters on {platform}, over its limit of {limits.alt_text}"))
