"""Length rules: how X, Mastodon and Bluesky count a post's characters.

The limits themselves are facts of each network and live on its publisher
(`Publisher.limits`); a publisher names one of these rules as its `count`.

- `x_length`: twitter-text's ``weightedLength`` (twitter-text-parser), by an
  exact fast path (a few us a post instead of parse_tweet's 1 ms) built from
  the library's own weights, emoji list and TLDs, and its URL extractor; the
  slow, memoised ``parse_tweet`` runs only if that data is not in the shape
  expected here. The data comes from `twitterdata` (a snapshot when it matches
  the installed version, else the library); either way twitter_text (0.1 s to
  import) loads only to extract a URL.
- `mastodon_length`: grapheme clusters of the server's "countable text" (its
  StatusLengthValidator): every http(s) URL counts 23 and ``@user@domain``
  counts as ``@user``; a blank text counts 0.
- `grapheme_count`: extended grapheme clusters (UAX #29, the ``regex``
  module's ``\\X``), Bluesky's rule; `utf8_bytes` the bytes it also limits.

The heavy libraries (twitter_text, regex) load on first need.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from bot.publishers.lengths import twitterdata

_URL_CHARS = 23  # Mastodon's URL placeholder length


def utf8_bytes(text: str) -> int:
    """Bytes of `text` in UTF-8 (what Bluesky's record validation limits besides graphemes)."""
    return len(text.encode("utf-8"))


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
    """One of twitter-text's space chars (its URLs never hold one)."""
    return re.compile(f"[{twitterdata.data().spaces_group}]")


def _ascii_tlds() -> frozenset[str] | None:
    """twitter-text's all-ASCII TLDs, lower case (None: not in the shape the filter needs)."""
    return twitterdata.data().ascii_tlds


_ASCII_LETTER_FOLD = re.compile(r"[a-z]", re.I)  # also "ſ" and the Kelvin sign, as the extractor's re.I


@functools.cache
def _idn_first() -> re.Pattern[str] | None:
    """Matches a char that can begin a non-ASCII TLD, case-insensitively as the extractor does."""
    firsts = twitterdata.data().idn_tld_firsts
    return None if firsts is None else re.compile(f"[{re.escape(firsts)}]", re.I)


def _may_hold_tld(text: str, start: int, end: int, tlds: frozenset[str]) -> bool:
    """False only if no "." in text[start:end] can be followed by a TLD.

    A TLD ends a run of letters (the extractor's lookahead refuses a letter
    or digit after it): an all-ASCII TLD is the whole ASCII run after the dot;
    a non-ASCII one starts right after the dot, or after the ASCII start of
    one of the few that mix the two ("vermögensberatung"). A non-ASCII char that matches an ASCII letter case-insensitively ("ſ" is
    "s") keeps the token in doubt, so the extractor decides."""
    idn_first = _idn_first()
    mixed = twitterdata.data().mixed_tlds
    for m in _BARE_URL_HINT.finditer(text, start, end):
        run = _LETTERS.match(text, m.end() - 1, end)  # always matches, maybe empty
        assert run is not None
        after = text[run.end()] if run.end() < len(text) else ""
        word = run.group().lower()
        if not after.isascii():
            if idn_first is None or mixed is None or _ASCII_LETTER_FOLD.match(after):
                return True
            if not word:  # "word.”" is not a TLD; ".рф" may be
                if idn_first.match(after):
                    return True
                continue
            if any(t.startswith(word) for t in mixed):  # "vermö..."
                return True
        if word == "xn" and after == "-":  # punycode
            return True
        if word in tlds and after not in _NOT_AFTER_TLD:  # a TLD, then its lookahead
            return True
    return False


@functools.lru_cache(maxsize=8192)
def _chunk_urls(chunk: str, bare: bool) -> tuple[tuple[int, int, str], ...]:
    twitterdata.load_library()
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
    accents = twitterdata.data().latin_accent_chars
    word = r"\p{L}\p{M}\p{Nd}\p{Pc}"  # Ruby's [[:word:]]
    mention = rx.compile(
        rf"(?<![=/{word}])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[{word}.-]+[{word}]+)?)",
        rx.IGNORECASE,
    )
    end_mention = rx.compile(rf"[@＠]|[{accents}]|://", rx.IGNORECASE)
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
    multi: frozenset[str]  # emoji of 2+ code points (and any 1-cp alternative of the regex)
    multi_lengths: dict[str, tuple[int, ...]]  # first char -> lengths, longest first
    singles: frozenset[str]
    ascii_plain: bool  # ASCII chars weigh `light`; emoji begin or go on with non-ASCII
    heavy_chars: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)  # memo


def _build_x_tables(data: twitterdata.TwitterData) -> _XTables | None:
    """Tables for the fast path; None if the data is not what it assumes."""
    opts = data.config
    weights = {r["weight"] for r in opts["ranges"]}
    if len(weights) != 1 or data.emoji_sequences is None or data.emoji_singles is None:
        return None
    sequences = data.emoji_sequences
    singles = {chr(c) for a, b in data.emoji_singles for c in range(a, b + 1)}
    by_first: dict[str, set[int]] = {}
    for s in sequences:
        by_first.setdefault(s[0], set()).add(len(s))
    multi_lengths = {c: tuple(sorted(ns, reverse=True)) for c, ns in by_first.items()}
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
        multi=sequences,
        multi_lengths=multi_lengths,
        singles=frozenset(singles),
        ascii_plain=heavy_re.search("".join(map(chr, range(128)))) is None
        and not any(c.isascii() for c in starts | seconds),
    )


@functools.cache
def _x_tables() -> _XTables | None:
    """The fast path's tables (None: use parse_tweet)."""
    return _build_x_tables(twitterdata.data())


@functools.lru_cache(maxsize=4096)
def _parse_tweet_length(text: str) -> int:
    twitterdata.load_library()
    from twitter_text import parse_tweet

    return parse_tweet(text).weightedLength


def _emoji_spans(text: str, tb: _XTables, chars: set[str]) -> list[tuple[int, int]]:
    """(start, length) of each emoji, as twitter-text's emoji regex finds them.

    `chars`: the distinct chars of `text` (only the non-ASCII ones if
    ``tb.ascii_plain``). Only positions holding a possible first char are
    tried (found with set look-ups and str.find, since a regex class of
    non-BMP ranges is slow), in order, each match consuming its chars as
    re.finditer does.
    """
    candidates: list[int] = []
    for c in tb.starts.intersection(chars):
        _find_all(text, c, candidates)
    for c in tb.ascii_seconds.intersection(chars):  # keycaps: "1" then U+FE0F or U+20E3
        seconds: list[int] = []
        _find_all(text, c, seconds)
        candidates += [i - 1 for i in seconds if i and text[i - 1] in tb.ascii_firsts]
    found: list[tuple[int, int]] = []
    pos, end = 0, len(text)
    for p in sorted(candidates):
        if p < pos:
            continue
        c = text[p]
        for n in tb.multi_lengths.get(c, ()):  # longest first, as the regex tries them
            if p + n <= end and text[p : p + n] in tb.multi:
                found.append((p, n))
                pos = p + n
                break
        else:
            if c in tb.singles:
                found.append((p, 1))
                pos = p + 1
    return found


def _heavy_count(text: str, non_ascii: list[str], chars: set[str], tb: _XTables) -> int:
    """How many chars of `text` weigh `heavy`.

    With ``tb.ascii_plain``: `non_ascii` lists every non-ASCII char of `text`
    and `chars` the distinct ones; few of them are light, so those are counted.
    """
    if not tb.ascii_plain:
        return len(tb.heavy_re.findall(text))
    count = len(non_ascii)
    for c in chars:
        if (heavy := tb.heavy_chars.get(c)) is None:
            heavy = tb.heavy_chars[c] = tb.heavy_re.match(c) is not None
        if not heavy:
            count -= text.count(c)
    return count


def x_length(text: str) -> int:
    """twitter-text's weightedLength of `text` (what X counts against 280)."""
    tb = _x_tables()
    if tb is None:
        return _parse_tweet_length(text)
    t = unicodedata.normalize("NFC", text)
    if "\r" in t:
        t = t.replace("\r\n", "\n").replace("\r", "\n")
    plain = tb.ascii_plain and t.isascii()
    if plain and _BARE_URL_HINT.search(t) is None:
        return int(len(t) * tb.light / tb.scale)
    if tb.ascii_plain:
        non_ascii = [] if plain else _NON_ASCII.findall(t)
        chars = set(non_ascii)
    else:
        non_ascii, chars = [], set(t)
    # Entities by start index; a URL wins over an emoji at the same index, and
    # a later entity at the same index over an earlier one, as in parse_tweet.
    entities: dict[int, tuple[int, int]] = {}
    if tb.emoji and chars:
        for start, size in _emoji_spans(t, tb, chars):
            entities[start] = (size, tb.heavy)
    for start, _, url in _url_entities(t, bare=True):
        entities[start] = (len(url), tb.url)  # parse_tweet skips len(url) chars
    # Every char at its own weight, then each entity's chars swapped for its weight.
    extra = tb.heavy - tb.light
    total = len(t) * tb.light + _heavy_count(t, non_ascii, chars, tb) * extra
    pos = 0
    for start in sorted(entities):
        if start < pos:  # inside an entity already counted
            continue
        size, weight = entities[start]
        pos = start + size
        total += weight - size * tb.light - len(tb.heavy_re.findall(t, start, pos)) * extra
    return int(total / tb.scale)
