"""twitter-text's data for the X counter: weights, emoji, spaces, TLDs.

bot.publishers.lengths builds its fast X tables from `data()`. Reading this from
twitter_text means importing it (0.1 s) and parsing its emoji and TLD regexes,
so a snapshot of the parsed data, bot/publishers/lengths/_twitter_data.py, is used instead when
it was made from the installed twitter-text-parser; otherwise the library is
read, with the same parsers. scripts/gen_twitter_data.py writes the snapshot
from `library_data()` (``--check`` tells if it is stale), and
tests/test_textlength_data.py fails while it differs from the library.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TwitterData:
    """The parts of twitter-text the fast paths use, before any table is built."""

    config: dict[str, Any]  # config["defaults"]: weights, ranges, scale, URL length
    emoji_sequences: frozenset[str] | None  # None: its emoji regex is not in the expected shape
    emoji_singles: tuple[tuple[int, int], ...] | None  # code point ranges, inclusive
    spaces_group: str  # body of a regex char class
    ascii_tlds: frozenset[str] | None  # lower case; None: its TLD lists look different
    idn_tld_firsts: str | None  # the non-ASCII chars a TLD starts with; None: lists look different
    mixed_tlds: tuple[str, ...] | None  # lower case TLDs of ASCII letters then non-ASCII chars
    latin_accent_chars: str  # body of a regex char class
    origin: str = field(default="library", compare=False)  # or "snapshot"


@functools.cache
def data() -> TwitterData:
    """The snapshot if made from the installed twitter-text-parser, else the library's data."""
    try:
        version, snapshot = snapshot_data()
    except ImportError:  # not generated
        return library_data()
    return snapshot if version == installed_version() else library_data()


@functools.cache
def load_library() -> None:
    """Import twitter_text, lending it a stand-in for pkg_resources.

    Its emoji module reads its data file with pkg_resources.resource_string at
    import. The real pkg_resources takes 80 ms to import (and setuptools >= 81
    has none), so unless it is loaded already a stand-in that does that one
    thing is lent for the import; sys.modules is left as it was.
    """
    import sys
    import types
    from pathlib import Path

    before = sys.modules.get("pkg_resources")
    if isinstance(before, types.ModuleType):  # the real one, already paid for
        import twitter_text  # noqa: F401

        return

    def resource_string(module: str, name: str) -> bytes:
        return Path(sys.modules[module].__file__ or "").with_name(name).read_bytes()

    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_string = resource_string  # type: ignore[attr-defined]
    absent = "pkg_resources" not in sys.modules
    sys.modules["pkg_resources"] = stand_in
    try:
        import twitter_text  # noqa: F401,F811
    finally:
        if absent:
            del sys.modules["pkg_resources"]
        else:  # None: its import was blocked
            sys.modules["pkg_resources"] = before  # type: ignore[assignment]


@functools.cache
def installed_version() -> str | None:
    """twitter-text-parser's installed version, None if not found cheaply.

    Read from the one dist-info beside the package that ``import twitter_text``
    would load, without importing it (importlib.metadata costs 25 ms).
    """
    import importlib.util
    import os

    try:
        spec = importlib.util.find_spec("twitter_text")
        places = list(spec.submodule_search_locations or []) if spec else []
        if len(places) != 1:
            return None
        site = os.path.dirname(places[0])
        infos = [
            n for n in os.listdir(site) if n.lower().startswith("twitter_text_parser-") and n.endswith(".dist-info")
        ]
        if len(infos) != 1:
            return None
        with open(os.path.join(site, infos[0], "METADATA"), encoding="utf-8") as metadata:
            for line in metadata:
                if not line.strip():  # end of the headers
                    break
                if line.startswith("Version:"):
                    return line.partition(":")[2].strip()
    except (ImportError, OSError, ValueError):
        pass
    return None


def snapshot_data() -> tuple[str, TwitterData]:
    """(twitter-text-parser version it was made from, data) of bot/publishers/lengths/_twitter_data.py."""
    from bot.publishers.lengths import _twitter_data as snap

    return snap.VERSION, TwitterData(
        config=snap.CONFIG,
        emoji_sequences=snap.EMOJI_SEQUENCES,
        emoji_singles=snap.EMOJI_SINGLES,
        spaces_group=snap.SPACES_GROUP,
        ascii_tlds=snap.ASCII_TLDS,
        idn_tld_firsts=snap.IDN_TLD_FIRSTS,
        mixed_tlds=snap.MIXED_TLDS,
        latin_accent_chars=snap.LATIN_ACCENT_CHARS,
        origin="snapshot",
    )


def library_data() -> TwitterData:
    """The data read from twitter_text itself (imports it)."""
    load_library()
    from twitter_text.config import config
    from twitter_text.regexp.emoji import emoji
    from twitter_text.regexp.latin_accent_chars import latin_accent_chars
    from twitter_text.regexp.spaces_group import spaces_group
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld

    sequences, singles = _parse_emoji_pattern(emoji) or (None, None)
    return TwitterData(
        config=config["defaults"],
        emoji_sequences=sequences,
        emoji_singles=singles,
        spaces_group=spaces_group,
        ascii_tlds=_parse_tlds([valid_gtld, valid_cctld]),
        idn_tld_firsts=_idn_firsts([valid_gtld, valid_cctld]),
        mixed_tlds=_mixed_tlds([valid_gtld, valid_cctld]),
        latin_accent_chars=latin_accent_chars.pattern,
    )


# --- parsers of the library's regexes -----------------------------------------

_HEX8 = r"\\U[0-9a-fA-F]{8}"


def _parse_emoji_pattern(
    rx: re.Pattern[str],
) -> tuple[frozenset[str], tuple[tuple[int, int], ...]] | None:
    """twitter-text's emoji regex as (sequences of 2+ code points, single code point ranges).

    None unless it is alternatives of sequences, longest first (so the first
    match is the longest), then one class of single code points and ranges.
    """
    if rx.flags & (re.IGNORECASE | re.VERBOSE | re.DOTALL | re.MULTILINE):
        return None
    *alternatives, last = rx.pattern.split("|")
    if not re.fullmatch(rf"\[(?:{_HEX8}(?:-{_HEX8})?)+\]", last):
        return None
    sequences = []
    for alt in alternatives:
        if not re.fullmatch(f"(?:{_HEX8})+", alt):
            return None
        sequences.append("".join(chr(int(h, 16)) for h in re.findall(r"U([0-9a-fA-F]{8})", alt)))
    lengths = [len(s) for s in sequences]
    if lengths != sorted(lengths, reverse=True):
        return None
    singles = re.findall(r"U([0-9a-fA-F]{8})(?:-\\U([0-9a-fA-F]{8}))?", last)
    return frozenset(sequences), tuple((int(a, 16), int(b or a, 16)) for a, b in singles)


def _tld_list(regexes: list[re.Pattern[str]]) -> list[str] | None:
    """The alternatives of twitter-text's TLD regexes; None if they look different."""
    tlds: list[str] = []
    for rx in regexes:
        body = re.fullmatch(r"\(\?:\(\?:(.*)\)\(\?=\[\^0-9a-zA-Z@\+-\]\|\$\)\)", rx.pattern, re.S)
        if body is None:
            return None
        tlds += body.group(1).split("|")
    return tlds


def _idn_firsts(regexes: list[re.Pattern[str]]) -> str | None:
    """The non-ASCII chars TLDs start with, sorted; None if the lists look different."""
    tlds = _tld_list(regexes)
    return None if tlds is None else "".join(sorted({t[0] for t in tlds if not t[0].isascii()}))


def _mixed_tlds(regexes: list[re.Pattern[str]]) -> tuple[str, ...] | None:
    """TLDs that start with ASCII and hold non-ASCII chars ("vermögensberatung"), lower
    case and sorted; None if the lists look different."""
    tlds = _tld_list(regexes)
    if tlds is None:
        return None
    return tuple(sorted({t.lower() for t in tlds if t[0].isascii() and not t.isascii()}))


def _parse_tlds(regexes: list[re.Pattern[str]]) -> frozenset[str] | None:
    """twitter-text's all-ASCII TLDs in lower case; None if its lists look different.

    bot.publishers.lengths's TLD filter assumes: ASCII in a TLD is letters, and no
    non-ASCII char of a TLD matches an ASCII char case-insensitively.
    """
    tlds = _tld_list(regexes)
    if tlds is None:
        return None
    chars = set("".join(tlds))
    if any(ch.isascii() and not ch.isalpha() for ch in chars):
        return None
    others = "".join(re.escape(ch) for ch in sorted(chars) if not ch.isascii())
    if re.search(f"[{others}]", "".join(map(chr, range(128))), re.I):
        return None
    return frozenset(t.lower() for t in tlds if t.isascii())
