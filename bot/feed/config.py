"""feed.yaml: the feed's settings, accounts and personas, validated."""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.feed.dates import CALENDARS
from bot.feed.diagnostics import Diagnostic, error
from bot.errors import SourceProblem
from bot.feed.yamlsource import YMap, decode, parse, read_source

ACCOUNT_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
FEED_KEYS = ("title", "description", "timezone", "calendar", "replay_timezone", "years_later", "accounts", "personas")
ACCOUNT_KEYS = ("platform", "persona", "visibility", "max_chars")
PERSONA_KEYS = ("name", "bio", "avatar", "banner")
VISIBILITIES = ("public", "unlisted", "private", "direct")

def did_you_mean(word, choices) -> str:
    """` (did you mean 'x'?)` for the choice closest to `word` (case aside), or ''."""
    if not isinstance(word, str):
        return ""  # never str() a list or mapping: with YAML aliases it can be exponentially large
    lowered = {choice.lower(): choice for choice in choices if isinstance(choice, str)}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def show(value) -> str:
    """A value for a message, short and bounded (a list or mapping is named, never printed)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class PersonaDef:
    key: str
    name: str
    bio: str
    avatar: str | None
    banner: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Account:
    key: str
    platforms: tuple[str, ...]
    persona: str | None  # None only in a feed.yaml with errors
    line: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def max_chars(self) -> int | None:
        return self.options.get("max_chars")


@dataclass(frozen=True)
class FeedConfig:
    """feed.yaml's settings. A usable config has every field; the partial one that
    `read_config` also returns for an unusable feed.yaml has None for each part that
    is broken (timezone, replay_timezone, calendar, accounts, personas), so that the
    checks depending on that part are skipped rather than reported falsely."""

    title: str
    description: str
    timezone: str
    calendar: str
    replay_timezone: str
    years_later: int | None
    accounts: dict[str, Account]
    personas: dict[str, PersonaDef]
    path: str  # display path of feed.yaml
    years_later_line: int = 1
    aliases: dict[str, str] = field(default_factory=dict)  # an account key written in upper case -> its key

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def replay_zone(self) -> ZoneInfo:
        return ZoneInfo(self.replay_timezone)


def check_keys(mapping: YMap, allowed, path: str, what: str, out: list[Diagnostic]) -> None:
    for key in mapping:
        if key not in allowed:
            out.append(error(path, mapping.key_lines[key], f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}"))


@functools.lru_cache(maxsize=1)
def _zone_names() -> tuple[dict[str, str], dict[str, str]]:
    """Every zone name zoneinfo knows by its lower-case form, and by the lower-case form of
    its last part (its city: `berlin` -> Europe/Berlin). Read once, on the error path."""
    names = sorted(available_timezones())
    cities: dict[str, str] = {}
    for name in names:
        if "/" in name and not name.startswith(("Etc/", "SystemV/")):
            cities.setdefault(name.rsplit("/", 1)[1].lower(), name)
    return {name.lower(): name for name in names}, cities


def zone_hint(name) -> str:
    """For an unknown time zone: the right case, or the closest known name, or an example."""
    if isinstance(name, str) and name:
        names, cities = _zone_names()
        if (right := names.get(name.lower())) is not None and right != name:
            return f": zone names are case-sensitive, write {right!r}"
        if (city := cities.get(name.lower().replace(" ", "_"))) is not None:
            return f" (did you mean {city!r}?)"
        close = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.8)
        if close:
            return f" (did you mean {names[close[0]]!r}?)"
    return " (use an IANA name such as Europe/Moscow)"


def valid_zone(name) -> bool:
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class _KnownPlatforms:
    """The installed publishers' names, for validation and messages (the registry's)."""

    def __contains__(self, name) -> bool:
        from bot import publishers

        return publishers.known(name)

    def __iter__(self):
        from bot import publishers

        return iter(publishers.available())


def load_config(path: Path, display: str, platforms: list[str] | None = None) -> tuple[FeedConfig | None, list[Diagnostic]]:
    """Read and validate feed.yaml; None when it is unusable (the diagnostics say why)."""
    config, _, out = read_config(path, display, platforms)
    return config, out


def read_config(path: Path, display: str, platforms: list[str] | None = None) -> tuple[FeedConfig | None, FeedConfig | None, list[Diagnostic]]:
    """(usable config or None, what could be read of it, diagnostics). The second is the
    config itself when usable; for an unusable feed.yaml it has None for each broken part
    (see FeedConfig); it is None when feed.yaml is missing, unreadable or not a mapping."""
    out: list[Diagnostic] = []
    try:
        data = read_source(path)
    except FileNotFoundError:
        return None, None, [error(display, 1, "feed.yaml is missing: every feed folder needs one (title, timezone, accounts, personas)")]
    except OSError as exc:
        return None, None, [error(display, 1, f"cannot read feed.yaml: {exc.strerror}")]
    except SourceProblem as exc:
        return None, None, [error(display, exc.line, exc.message)]
    try:
        doc = parse(decode(data))
    except SourceProblem as exc:
        return None, None, [error(display, exc.line, exc.message)]
    if doc is None:
        return None, None, [error(display, 1, "feed.yaml is empty: it needs title, timezone, accounts and personas")]
    if not isinstance(doc, YMap):
        return None, None, [error(display, 1, "feed.yaml must be a mapping of settings")]
    check_keys(doc, FEED_KEYS, display, "feed.yaml", out)
    line = doc.key_lines.get

    def text_field(key, required):
        value = doc.get(key)
        if value is None:
            if required:
                out.append(error(display, doc.line, f"feed.yaml needs {key!r}"))
            return ""
        if not isinstance(value, str):
            out.append(error(display, line(key), f"{key!r} must be text"))
            return ""
        return value

    title = text_field("title", True)
    description = text_field("description", False)
    timezone = doc.get("timezone")
    if timezone is None:
        out.append(error(display, doc.line, "feed.yaml needs 'timezone' (an IANA zone such as Europe/Moscow)"))
    elif not valid_zone(timezone):
        out.append(error(display, line("timezone"), f"unknown time zone {show(timezone)}{zone_hint(timezone)}"))
        timezone = None
    replay_timezone = doc.get("replay_timezone", timezone)
    if "replay_timezone" in doc and not valid_zone(replay_timezone):
        out.append(error(display, line("replay_timezone"), f"unknown time zone {show(replay_timezone)} in replay_timezone{zone_hint(replay_timezone)}"))
        replay_timezone = None
    calendar = doc.get("calendar", "gregorian")
    if calendar not in CALENDARS:
        out.append(error(display, line("calendar") or doc.line, f"unknown calendar {show(calendar)} (use gregorian or julian){did_you_mean(calendar, CALENDARS)}"))
        calendar = None
    years_later = doc.get("years_later")
    if years_later is not None and (type(years_later) is not int or not 1 <= years_later <= 5000):
        out.append(error(display, line("years_later"), "years_later must be a whole number from 1 to 5000"))
        years_later = None

    personas = _personas(doc, display, out)
    aliases: dict[str, str] = {}
    accounts = _accounts(doc, display, personas, platforms if platforms is not None else _KnownPlatforms(), aliases, out)
    config = FeedConfig(
        title=title,
        description=description,
        timezone=timezone,
        calendar=calendar,
        replay_timezone=replay_timezone,
        years_later=years_later,
        accounts=accounts,
        personas=personas,
        path=display,
        years_later_line=line("years_later") or 1,
        aliases=aliases,
    )
    broken = timezone is None or replay_timezone is None or calendar is None or not accounts or personas is None
    if any(d.is_error for d in out) and broken:
        return None, config, out
    return config, config, out


def _personas(doc: YMap, display: str, out: list[Diagnostic]) -> dict[str, PersonaDef] | None:
    """The personas; None when the section is missing or not a mapping (then nothing is
    checked against them: no persona can be called unknown)."""
    raw = doc.get("personas")
    if raw is None:
        out.append(error(display, doc.line, "feed.yaml needs 'personas' (display name and bio of each face an account wears)"))
        return None
    if not isinstance(raw, YMap):
        out.append(error(display, doc.key_lines["personas"], "'personas' must be a mapping of persona keys"))
        return None
    personas = {}
    for key, spec in raw.items():
        at = raw.key_lines[key]
        if not isinstance(spec, YMap):
            out.append(error(display, at, f"persona {key!r} must be a mapping with name and bio"))
            continue
        check_keys(spec, PERSONA_KEYS, display, f"persona {key!r}", out)
        name = spec.get("name")
        if not isinstance(name, str) or not name.strip():
            out.append(error(display, spec.key_lines.get("name", at), f"persona {key!r} needs a display 'name' (text)"))
            name = key
        bio = spec.get("bio", "")
        if not isinstance(bio, str):
            out.append(error(display, spec.key_lines["bio"], f"'bio' of persona {key!r} must be text"))
            bio = ""
        images = {}
        for image in ("avatar", "banner"):
            value = spec.get(image)
            if value is not None and not isinstance(value, str):
                out.append(error(display, spec.key_lines[image], f"{image!r} of persona {key!r} must be a file path"))
                value = None
            images[image] = value
        personas[key] = PersonaDef(key, name, bio, images["avatar"], images["banner"], at)
    return personas


def _accounts(doc: YMap, display: str, personas, platforms, aliases: dict[str, str], out: list[Diagnostic]) -> dict[str, Account] | None:
    """The accounts; None when the section is missing or not a mapping (then posts are
    not checked against accounts). An account key that is right but for its case is
    reported once and kept under its lower-case key; posts may name it either way
    meanwhile (`aliases`), so none of them is reported as naming an unknown account."""
    raw = doc.get("accounts")
    if raw is None:
        out.append(error(display, doc.line, "feed.yaml needs 'accounts'"))
        return None
    if not isinstance(raw, YMap) or not raw:
        out.append(error(display, doc.key_lines["accounts"], "'accounts' must be a mapping of account keys"))
        return None
    accounts = {}
    for written, spec in raw.items():
        at = raw.key_lines[written]
        key = written
        if not ACCOUNT_KEY.match(key):
            lower = key.lower()
            if not ACCOUNT_KEY.match(lower) or lower in raw or lower in accounts:  # no merging into another account
                out.append(error(display, at, f"account key {key!r} must match [a-z0-9][a-z0-9_-]*"))
                continue
            out.append(error(display, at, f"account key {key!r} must be lower case: write {lower!r}"
                                          f" (posts that name it {key!r} must then say {lower!r} too)"))
            key = aliases[written] = lower
        if not isinstance(spec, YMap):
            out.append(error(display, at, f"account {key!r} must be a mapping with platform and persona"))
            continue
        check_keys(spec, ACCOUNT_KEYS, display, f"account {key!r}", out)
        names = _platforms(spec, key, at, display, platforms, out)
        persona = spec.get("persona")
        if persona is None:
            out.append(error(display, at, f"account {key!r} needs a 'persona'"))
        elif not isinstance(persona, str):
            out.append(error(display, spec.key_lines["persona"], f"account {key!r} wears unknown persona {show(persona)}"))
            persona = None
        elif personas is not None and persona not in personas:  # None: the personas section is broken, reported
            out.append(error(display, spec.key_lines["persona"], f"account {key!r} wears unknown persona {show(persona)}{did_you_mean(persona, personas)}"))
            persona = None
        options = {}
        if "visibility" in spec:
            if spec["visibility"] not in VISIBILITIES:
                out.append(error(display, spec.key_lines["visibility"], f"visibility must be one of {', '.join(VISIBILITIES)}"))
            else:
                options["visibility"] = spec["visibility"]
        if "max_chars" in spec:
            value = spec["max_chars"]
            if type(value) is not int or value < 1:
                out.append(error(display, spec.key_lines["max_chars"], "max_chars must be a positive whole number"))
            else:
                options["max_chars"] = value
        # kept even when half broken, so its posts are not all reported as unknown
        accounts[key] = Account(key, names, persona, at, options)
    return accounts


def _platforms(spec: YMap, key: str, at: int, display: str, known, out) -> tuple[str, ...]:
    value = spec.get("platform")
    line = spec.key_lines.get("platform", at)
    if value is None:
        out.append(error(display, at, f"account {key!r} needs a 'platform' ({', '.join(known)})"))
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        out.append(error(display, line, f"'platform' of account {key!r} must be a name or a list of names"))
        return ()
    good = []
    for name in names:
        if name not in known:
            out.append(error(display, line, f"unknown platform {name!r} for account {key!r} (installed: {', '.join(known)}){did_you_mean(name, known)}"))
        elif hint := _library_hint(name):
            out.append(error(display, line, hint))
        elif name in good:
            out.append(error(display, line, f"platform {name!r} listed twice for account {key!r}"))
        else:
            good.append(name)
    return tuple(good)


def _library_hint(name: str) -> str | None:
    from bot import publishers

    return publishers.load(name).missing_library()
