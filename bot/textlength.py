"""Post lengths as each network counts them, and each network's limit.

- x: twitter-text's ``weightedLength`` (twitter-text-parser), by an exact fast
  path (about 1 us a plain post instead of parse_tweet's 1 ms) that reads the
  library's own weights, emoji list and URL extractor; the slow, memoised
  ``parse_tweet`` runs only if that data is not in the shape expected here.
- mastodon: grapheme clusters of the server's "countable text" (its
  StatusLengthValidator): every http(s) URL counts 23 and ``@user@domain``
  counts as ``@user``; a blank text counts 0.
- bluesky: extended grapheme clusters (UAX #29, the ``regex`` module's ``\\X``).
- console and unknown networks: ``len(text)``.

The heavy libraries (twitter_text, regex) load on first use.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

_LIMITS: dict[str, int | None] = {"x": 280, "mastodon": 500, "bluesky": 300, "console": None}
_URL_CHARS = 23  # Mastodon's URL placeholder length


def limit(platform: str, max_chars: int | None = None) -> int | None:
    """Most characters a post may have on `platform` (None: no limit).

    `max_chars` (an account's ``max_chars:``) overrides Mastodon's 500 only.
    """
    if platform == "mastodon" and max_chars is not None:
        return max_chars
    return _LIMITS.get(platform)


def weighted_length(text: str, platform: str) -> int:
    """Length of `text` as network `platform` counts it against its limit."""
    if platform == "x":
        return x_length(text)
    if platform == "mastodon":
        return mastodon_length(text)
    if platform == "bluesky":
        return grapheme_count(text)
    return len(text)


# --- graphemes (bluesky, mastodon) -------------------------------------------


@functools.cache
def _rx() -> Any:
    import regex  # UAX #29 grapheme clusters and Unicode properties

    return regex


@functools.cache
def _grapheme_res() -> tuple[Any, Any]:
    rx = _rx()
    # Every UAX #29 rule that keeps two code points in one cluster needs one of
    # these "joiners" beside the gap: between two other chars there is always
    # a break, so only the windows around joiners need \X.
    joiner = rx.compile(
        r"[\r\p{GCB=Extend}\p{GCB=ZWJ}\p{GCB=SpacingMark}\p{GCB=Prepend}"
        r"\p{GCB=Regional_Indicator}\p{GCB=L}\p{GCB=V}\p{GCB=T}\p{GCB=LV}\p{GCB=LVT}]"
    )
    return joiner, rx.compile(r"\X")


_joiners: dict[str, bool] = {}  # memo: a regex class of properties is slow to scan
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _non_ascii(text: str) -> set[str]:
    """The distinct non-ASCII chars of `text` (quicker than set(text) for mostly-ASCII text)."""
    return set(_NON_ASCII.findall(text))


def _find_all(text: str, c: str, out: list[int]) -> None:
    """Append every index of char `c` in `text` to `out`."""
    i = text.find(c)
    while i >= 0:
        out.append(i)
        i = text.find(c, i + 1)


def grapheme_count(text: str) -> int:
    """Number of extended grapheme clusters in `text`."""
    if text.isascii():  # every ASCII char is its own cluster, except CR LF
        return len(text) - text.count("\r\n")
    joiner, cluster = _grapheme_res()
    at: list[int] = []
    for c in _non_ascii(text) | ({"\r"} if "\r" in text else set()):
        if (is_joiner := _joiners.get(c)) is None:
            is_joiner = _joiners[c] = joiner.match(c) is not None
        if is_joiner:
            _find_all(text, c, at)
    if not at:
        return len(text)
    at.sort()
    # Windows: runs of joiners (one other char between two joiners keeps the
    # run going), plus one char on each side; \X counts each alone.
    count, first, last = len(text), at[0], at[0]
    for i in at[1:] + [len(text) + 2]:
        if i - last > 2:
            a, b = max(first - 1, 0), min(last + 2, len(text))
            count += len(cluster.findall(text, a, b)) - (b - a)
            first = i
        last = i
    return count


# --- twitter-text ------------------------------------------------------------


@functools.cache
def _load_twitter_text() -> None:
    """Import twitter_text, lending it pkg_resources if setuptools >= 81 took that away.

    Its emoji module reads its data file with pkg_resources.resource_string at
    import; the stand-in does that one thing and leaves sys.modules afterwards.
    """
    import warnings

    try:
        with warnings.catch_warnings():  # not the user's concern, on every run
            warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
            import twitter_text  # noqa: F401
        return
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    import sys
    import types
    from pathlib import Path

    def resource_string(module: str, name: str) -> bytes:
        return Path(sys.modules[module].__file__ or "").with_name(name).read_bytes()

    stand_in = types.ModuleType("pkg_resources")
    stand_in.resource_string = resource_string  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = stand_in
    try:
        import twitter_text  # noqa: F401,F811
    finally:
        del sys.modules["pkg_resources"]


# --- URLs, found token by token ----------------------------------------------
# twitter-text's URL never contains one of its "space" characters, and its
# regex looks at most one character before a URL and one after; so running the
# extractor on one whitespace-free token (plus the space before it) finds
# exactly the URLs a run over the whole text finds in that token. Its regex
# costs 10-30 us per "." it meets, so tokens whose dots cannot start a TLD
# ("e.g.", "Mr.Smith") are skipped, and results are memoised per token.

_BARE_URL_HINT = re.compile(r"\.(?:[A-Za-z]|[^\x00-\x7f])")  # "." then a TLD's first char
_SCHEME_URL_HINT = re.compile(r"://")
_LETTERS = re.compile(r"[A-Za-z]*")
_NOT_AFTER_TLD = frozenset("0123456789@+-")


@functools.cache
def _space_re() -> re.Pattern[str]:
    _load_twitter_text()
    from twitter_text.regexp.spaces_group import spaces_group

    return re.compile(f"[{spaces_group}]")


@functools.cache
def _ascii_tlds() -> frozenset[str] | None:
    """twitter-text's all-ASCII TLDs in lower case; None if its lists look different.

    The TLD filter below assumes: ASCII in a TLD is letters, and no non-ASCII
    char of a TLD matches an ASCII char case-insensitively.
    """
    _load_twitter_text()
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld

    tlds: list[str] = []
    for rx in (valid_gtld, valid_cctld):
        body = re.fullmatch(r"\(\?:\(\?:(.*)\)\(\?=\[\^0-9a-zA-Z@\+-\]\|\$\)\)", rx.pattern, re.S)
        if body is None:
            return None
        tlds += body.group(1).split("|")
    chars = set("".join(tlds))
    if any(ch.isascii() and not ch.isalpha() for ch in chars):
        return None
    others = "".join(re.escape(ch) for ch in sorted(chars) if not ch.isascii())
    if re.search(f"[{others}]", "".join(map(chr, range(128))), re.I):
        return None
    return frozenset(t.lower() for t in tlds if t.isascii())


def _may_hold_tld(text: str, start: int, end: int, tlds: frozenset[str]) -> bool:
    """False only if no "." in text[start:end] can be followed by a TLD."""
    for m in _BARE_URL_HINT.finditer(text, start, end):
        run = _LETTERS.match(text, m.end() - 1, end)  # always matches, maybe empty
        assert run is not None
        after = text[run.end()] if run.end() < len(text) else ""
        word = run.group().lower()
        if not after.isascii():  # a TLD with non-ASCII chars may go on
            return True
        if word == "xn" and after == "-":  # punycode
            return True
        if word in tlds and after not in _NOT_AFTER_TLD:  # a TLD, then its lookahead
            return True
    return False


@functools.lru_cache(maxsize=8192)
def _chunk_urls(chunk: str, bare: bool) -> tuple[tuple[int, int, str], ...]:
    _load_twitter_text()
    from twitter_text.extract_urls import extract_urls_with_indices

    found = extract_urls_with_indices(chunk, bare)
    return tuple((e["indices"][0], e["indices"][1], e["url"]) for e in found)


def _url_entities(text: str, bare: bool) -> list[tuple[int, int, str]]:
    """twitter-text's URL entities as (start, end, url); `bare`: also without scheme."""
    hint = _BARE_URL_HINT if bare else _SCHEME_URL_HINT
    tlds = _ascii_tlds() if bare else None
    space = _space_re()
    found: list[tuple[int, int, str]] = []
    done = 0
    for m in hint.finditer(text):
        at = m.start()
        if at < done:  # in a token already searched
            continue
        start = max(text.rfind(" ", 0, at), text.rfind("\n", 0, at)) + 1
        for other in space.finditer(text, start, at):
            start = other.end()
        after = space.search(text, at)
        end = done = after.start() if after else len(text)
        if tlds is not None and not _may_hold_tld(text, start, end, tlds):
            continue
        lo = start - 1 if start else 0
        found += ((s + lo, e + lo, url) for s, e, url in _chunk_urls(text[lo:end], bare))
    return found


# --- mastodon ----------------------------------------------------------------


@functools.cache
def _mastodon_res() -> tuple[Any, Any, Any]:
    rx = _rx()
    _load_twitter_text()
    from twitter_text.regexp.latin_accent_chars import latin_accent_chars

    word = r"\p{L}\p{M}\p{Nd}\p{Pc}"  # Ruby's [[:word:]]
    mention = rx.compile(
        rf"(?<![=/{word}])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[{word}.-]+[{word}]+)?)",
        rx.IGNORECASE,
    )
    end_mention = rx.compile(rf"[@＠]|[{latin_accent_chars.pattern}]|://", rx.IGNORECASE)
    blank = rx.compile(r"[\t\n\x0b\x0c\r\x85\p{Zs}\p{Zl}\p{Zp}]*")
    return mention, end_mention, blank


def mastodon_length(text: str) -> int:
    """Mastodon's count: graphemes, URLs as 23, remote mentions without @domain."""
    mention, end_mention, blank = _mastodon_res()
    if blank.fullmatch(text):
        return 0
    entities = [(s, e, "x" * _URL_CHARS) for s, e, _ in _url_entities(text, bare=False)]
    if "@" in text:
        for m in mention.finditer(text):
            if not end_mention.match(text, m.end()):
                entities.append((m.start(1) - 1, m.end(1), "@" + m.group(1).split("@")[0]))
    if not entities:
        return grapheme_count(text)
    parts, pos = [], 0
    for start, end, replacement in sorted(entities):
        if start < pos:  # overlaps the entity kept before it
            continue
        parts += (text[pos:start], replacement)
        pos = end
    parts.append(text[pos:])
    return grapheme_count("".join(parts))


# --- x -----------------------------------------------------------------------


@dataclass(frozen=True)
class _XTables:
    """twitter-text's weights and emoji list, in a form quick to apply."""

    scale: int
    light: int  # weight of a char inside the config ranges
    heavy: int  # default weight (outside the ranges), also an emoji's weight
    url: int
    heavy_re: re.Pattern[str]
    emoji: bool  # emoji parsing on
    starts: frozenset[str]  # chars that may begin an emoji, but ASCII firsts of sequences
    ascii_firsts: frozenset[str]  # ASCII chars beginning a sequence (keycaps "1", "#", "*")
    ascii_seconds: frozenset[str]  # what follows them in a sequence
    multi: frozenset[str]  # emoji of 2+ code points (and any 1-cp alternative)
    multi_lengths: dict[str, tuple[int, ...]]  # first char -> lengths, longest first
    singles: frozenset[str]
    ascii_plain: bool  # ASCII chars weigh `light`; emoji begin or go on with non-ASCII


_HEX8 = r"\\U[0-9a-fA-F]{8}"


def _parse_emoji_pattern(rx: re.Pattern[str]) -> tuple[list[str], set[str]] | None:
    """The alternatives of twitter-text's emoji regex: (sequences in order, singles)."""
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
    singles: set[str] = set()
    for a, b in re.findall(r"U([0-9a-fA-F]{8})(?:-\\U([0-9a-fA-F]{8}))?", last):
        singles.update(map(chr, range(int(a, 16), int(b or a, 16) + 1)))
    return sequences, singles


def _build_x_tables() -> _XTables | None:
    """Read twitter-text's data; None if it is not what this fast path assumes."""
    _load_twitter_text()
    from twitter_text.config import config
    from twitter_text.regexp.emoji import emoji

    opts = config["defaults"]
    weights = {r["weight"] for r in opts["ranges"]}
    parsed = _parse_emoji_pattern(emoji)
    if len(weights) != 1 or parsed is None:
        return None
    sequences, singles = parsed
    lengths = [len(s) for s in sequences]
    if lengths != sorted(lengths, reverse=True):  # first match must be longest match
        return None
    by_first: dict[str, list[int]] = {}
    for s in sequences:
        by_first.setdefault(s[0], []).append(len(s))
    multi_lengths = {c: tuple(sorted(set(ns), reverse=True)) for c, ns in by_first.items()}
    ranges = "".join(f"\\U{r['start']:08x}-\\U{r['end']:08x}" for r in opts["ranges"])
    heavy_re = re.compile(f"[^{ranges}]") if ranges else re.compile(r"[\s\S]")
    ascii_led = [q for q in sequences if q[0].isascii() and len(q) > 1]
    starts = {q[0] for q in sequences if not (q[0].isascii() and len(q) > 1)} | singles
    seconds = {q[1] for q in ascii_led}
    return _XTables(
        scale=opts["scale"],
        light=weights.pop(),
        heavy=opts["default_weight"],
        url=opts["transformed_url_length"] * opts["scale"],
        heavy_re=heavy_re,
        emoji=bool(opts.get("emoji_parsing_enabled")),
        starts=frozenset(starts),
        ascii_firsts=frozenset(q[0] for q in ascii_led),
        ascii_seconds=frozenset(seconds),
        multi=frozenset(sequences),
        multi_lengths=multi_lengths,
        singles=frozenset(singles),
        ascii_plain=heavy_re.search("".join(map(chr, range(128)))) is None
        and not any(c.isascii() for c in starts | seconds),
    )


_x_tables = functools.cache(_build_x_tables)


@functools.lru_cache(maxsize=4096)
def _parse_tweet_length(text: str) -> int:
    _load_twitter_text()
    from twitter_text import parse_tweet

    return parse_tweet(text).weightedLength


def _emoji_spans(text: str, tb: _XTables) -> list[tuple[int, int]]:
    """(start, length) of each emoji, as twitter-text's emoji regex finds them.

    Only positions holding a possible first char are tried (found with set
    look-ups and str.find, since a regex class of non-BMP ranges is slow),
    in order, each match consuming its chars as re.finditer does.
    """
    chars = _non_ascii(text) if tb.ascii_plain else set(text)
    candidates: list[int] = []
    for c in tb.starts.intersection(chars):
        _find_all(text, c, candidates)
    for c in tb.ascii_seconds.intersection(chars):  # keycaps: "1" then U+FE0F or U+20E3
        seconds: list[int] = []
        _find_all(text, c, seconds)
        candidates += [i - 1 for i in seconds if i and text[i - 1] in tb.ascii_firsts]
    found: list[tuple[int, int]] = []
    pos = 0
    for p in sorted(candidates):
        if p < pos:
            continue
        size = next((n for n in tb.multi_lengths.get(text[p], ()) if text[p : p + n] in tb.multi), 0)
        if not size and text[p] in tb.singles:
            size = 1
        if size:
            found.append((p, size))
            pos = p + size
    return found


def x_length(text: str) -> int:
    """twitter-text's weightedLength of `text` (what X counts against 280)."""
    tb = _x_tables()
    if tb is None:
        return _parse_tweet_length(text)
    t = unicodedata.normalize("NFC", text)
    if "\r" in t:
        t = t.replace("\r\n", "\n").replace("\r", "\n")
    if tb.ascii_plain and t.isascii() and _BARE_URL_HINT.search(t) is None:
        return int(len(t) * tb.light / tb.scale)
    # Entities by start index; a URL wins over an emoji at the same index, and
    # a later entity at the same index over an earlier one, as in parse_tweet.
    entities: dict[int, tuple[int, int]] = {}
    if tb.emoji and not (tb.ascii_plain and t.isascii()):
        for start, size in _emoji_spans(t, tb):
            entities[start] = (size, tb.heavy)
    for start, _, url in _url_entities(t, bare=True):
        entities[start] = (len(url), tb.url)  # parse_tweet skips len(url) chars
    has_heavy = tb.heavy_re.search(t) is not None

    def chars(a: int, b: int) -> int:
        extra = len(tb.heavy_re.findall(t, a, b)) * (tb.heavy - tb.light) if has_heavy else 0
        return (b - a) * tb.light + extra

    total = pos = 0
    for start in sorted(entities):
        if start < pos:  # inside an entity already counted
            continue
        size, weight = entities[start]
        total += chars(pos, start) + weight
        pos = start + size
    if pos < len(t):
        total += chars(pos, len(t))
    return int(total / tb.scale)
