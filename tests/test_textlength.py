"""Post lengths per network; the X fast counter proven equal to twitter-text."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.publishers import lengths as textlength
from bot.publishers.lengths import twitterdata
from bot.publishers import load, measure as weighted_length
from bot.publishers.lengths import x_length

twitterdata.load_library()  # works without pkg_resources (setuptools >= 81)
import twitter_text  # noqa: E402
from twitter_text import parse_tweet  # noqa: E402
from twitter_text.regexp.emoji import emoji_list  # noqa: E402
from tests.support.examples import examples  # noqa: E402

# --- generated texts -----------------------------------------------------------

EMOJI = sorted({e.emoji for e in emoji_list})
COMPONENTS = ["\u200d", "\ufe0f", "\ufe0e", "\u20e3", "\U0001f3fb", "\U0001f3fd", "\U0001f3ff",
              "\U0001f9b0", "\U000e0067", "\U000e007f", "\U0001f1eb", "\U0001f1f7"]
NEWER_EMOJI = ["\U0001fae0", "\U0001fa77", "\U0001f979", "\U0001faf6\U0001f3fd", "\u2764\ufe0f\u200d\U0001fa79"]
TLDS = ["com", "org", "net", "co.uk", "io", "jp", "de", "fr", "museum", "xn--p1ai", "рф", "中国", "한국",
        "onion", "c", "comx", "123", "co", "COM", "Org", "t.co", "vermögensberatung", "ΕΛ", "ελ"]
CJK = "日本語東京中文字한국어ひらがなカタカナ。、「」"
MARKS = "\u0301\u0308\u0327\u0903\u093f\u094d\u1ab0\u20dd\u302a"
SPACES = [" ", " ", "  ", "\n", "\r\n", "\r", "\t", "\u00a0", "\u3000", "\u2028", "\u200b", "\u2066"]
PUNCT = list(".,;:!?()[]{}<>\"'-_/@#$%&*+=~|\\^`") + ["...", "—", "…", "@user", "#tag", "$TAG", "＠", "＃"]

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789", min_size=1, max_size=9)
label = st.one_of(words, st.text(alphabet="abcxyz-09_éüßжд日本", min_size=1, max_size=8))
path_chars = "abcXYZ0189-_~.!*';:=+,$/%#[]@|&()éж"
urls = st.builds(
    lambda scheme, www, labels, tld, port, path, query, tail: (
        scheme + www + ".".join(labels) + "." + tld + port + path + query + tail
    ),
    st.sampled_from(["", "", "http://", "https://", "HTTPS://", "ftp://", "http:/"]),
    st.sampled_from(["", "www.", "t."]),
    st.lists(label, min_size=1, max_size=3),
    st.sampled_from(TLDS),
    st.sampled_from(["", "", ":8080", ":"]),
    st.one_of(st.just(""), st.text(alphabet=path_chars, max_size=25).map(lambda p: "/" + p)),
    st.sampled_from(["", "", "?q=1&r=a_b", "?x=(1)", "?", "#frag"]),
    st.sampled_from(["", "", ".", ",", ")", "!", "?", "'", "。", "日本"]),
)
emoji = st.one_of(
    st.sampled_from(EMOJI),
    st.sampled_from(NEWER_EMOJI),
    st.lists(st.sampled_from(EMOJI + COMPONENTS), min_size=1, max_size=4).map("".join),
    st.sampled_from(["#", "*", "1", "9"]).map(lambda c: c + "\ufe0f\u20e3"),
    st.sampled_from(["#\u20e3", "5\u20e3", "\u00a9", "\u00ae", "\u2122", "\u203c"]),
)
TRICKY = [
    "abc.com日本.jp/x",  # URL without scheme whose ASCII domain is not its end
    "a.co日本.com/p?q=1 ",
    "例え.jp/a",
    "x.com.日本/y",
    "https://t.co/" + "a" * 41,  # t.co slug too long
    "https://t.co/abc/def?x=1",
    "http://日本語.jp/ж",
    "-example.com",
    "_example.com/",
    "@example.com",
    "$example.com",
    "‮example.com",
    "example.com:80/a(b(c)d)e",
    "😀.com",
    "1️⃣.com/x",
    "morning.”",  # a dot then a non-ASCII char that starts no TLD
    "viz.… and so.»",
    "example.рф",
    "example.РФ/x",
    "x.vermögensberatung",  # ASCII letters, then non-ASCII, in one TLD
    "x.VERMÖGENSBERATER/y",
    "x.verm”",
    "a.buſiness",  # long s matches "s" case-insensitively
    "a.\u212aim",  # the Kelvin sign matches "k"
]
pieces = st.one_of(
    st.sampled_from(TRICKY),
    words,
    words,
    st.sampled_from(SPACES),
    st.sampled_from(PUNCT),
    urls,
    emoji,
    st.text(alphabet=CJK, min_size=1, max_size=6),
    st.builds(lambda a, m: a + m, st.sampled_from("aeoAEOkr日한ि"), st.text(alphabet=MARKS, max_size=3)),
    st.text(max_size=4),  # any unicode (no surrogates)
)
texts = st.lists(pieces, max_size=30).map("".join)


def _check_x(text: str) -> None:
    assert x_length(text) == parse_tweet(text).weightedLength, repr(text)


@settings(max_examples=examples(1200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_x_fast_path_equals_parse_tweet(text: str) -> None:
    _check_x(text)


@pytest.mark.slow
@settings(max_examples=examples(20000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_x_fast_path_equals_parse_tweet_long_run(text: str) -> None:
    _check_x(text)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(st.sampled_from(EMOJI + COMPONENTS + [" ", "a", "1", "#", "日"]), max_size=20).map("".join))
def test_x_emoji_soup_equals_parse_tweet(text: str) -> None:
    _check_x(text)


# --- x: examples, and what the fast path rests on -------------------------------

X_EXAMPLES = [
    ("", 0),
    ("hello world", 11),
    ("english text 日本語 😷 https://example.com", 46),
    ("see example.com/a?b=1. Done", 33),  # URL without scheme, trailing "." not in it
    ("https://en.wikipedia.org/wiki/Foo_(bar))", 24),  # balanced parens kept, extra ")" not
    ("a\r\nb", 3),  # CR LF counts once
    ("e\u0301", 1),  # NFC makes it one char
    ("\u00a9", 2),  # (c) sign is an emoji: 2, though its code point weighs 1
    ("1\ufe0f\u20e3", 2),  # keycap
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 2),  # ZWJ family
    ("\U0001f44d\U0001f3fd", 2),  # skin tone
    ("\U0001f1eb\U0001f1f7", 2),  # flag
    ("\U0001fae0", 2),  # emoji newer than twitter-text's list: one non-BMP char, 2
    ("x" * 280, 280),
    ("日" * 140, 280),
]


@pytest.mark.parametrize(("text", "expected"), X_EXAMPLES)
def test_x_examples(text: str, expected: int) -> None:
    assert x_length(text) == expected
    assert weighted_length(text, "x") == expected
    assert parse_tweet(text).weightedLength == expected


def test_x_fast_path_never_calls_parse_tweet(monkeypatch: pytest.MonkeyPatch) -> None:
    textlength._parse_tweet_length.cache_clear()

    def boom(*_: object, **__: object) -> None:
        raise AssertionError("parse_tweet called")

    monkeypatch.setattr(twitter_text, "parse_tweet", boom)
    for text, expected in X_EXAMPLES:
        assert x_length(text) == expected


def test_x_fallback_when_tables_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(textlength, "_x_tables", lambda: None)
    for text, expected in X_EXAMPLES:
        assert x_length(text) == expected
    textlength._parse_tweet_length.cache_clear()
    x_length("memo me")
    x_length("memo me")
    assert textlength._parse_tweet_length.cache_info().hits == 1


def test_twitter_text_loads_without_pkg_resources() -> None:
    """setuptools >= 81 has no pkg_resources, which twitter-text-parser imports."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"  # import of it now fails
        "from bot.publishers.lengths import x_length\n"
        "print(x_length('english text \u65e5\u672c\u8a9e \U0001f637 https://example.com'))\n"
        "print(sys.modules.get('pkg_resources', 'gone'))\n"  # the stand-in is not left behind
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["46", "None"]


def test_x_tables_read_from_twitter_text() -> None:
    tb = textlength._x_tables()
    assert tb is not None, "twitter-text's data changed shape: the fast path is off"
    assert tb.ascii_plain
    assert "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" in tb.multi
    assert "\u00a9" in tb.singles and "\U0001f3fd" not in tb.singles  # components are not emoji alone


def test_url_never_contains_a_token_separator() -> None:
    """The token-by-token URL search rests on this: no space char fits in a URL."""
    from twitter_text.regexp.spaces_group import spaces_group
    from twitter_text.regexp.valid_domain_chars import valid_domain_chars
    from twitter_text.regexp.valid_general_url_path_chars import valid_general_url_path_chars
    from twitter_text.regexp.valid_url_path_ending_chars import valid_url_path_ending_chars
    from twitter_text.regexp.valid_url_query_chars import valid_url_query_chars
    from twitter_text.regexp.valid_url_query_ending_chars import valid_url_query_ending_chars

    spaces = [chr(c) for c in range(0x3001) if re.fullmatch(f"[{spaces_group}]", chr(c))]
    assert len(spaces) == 26
    for part in (valid_domain_chars, valid_general_url_path_chars, valid_url_path_ending_chars,
                 valid_url_query_chars, valid_url_query_ending_chars):
        compiled = re.compile(part.pattern, part.flags | re.IGNORECASE)
        assert not [s for s in spaces if compiled.fullmatch(s)], part.pattern[:40]


def test_every_tld_starts_with_what_the_url_hint_expects() -> None:
    """A URL needs "." then a TLD; the hint must see every TLD's first char."""
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_gtld import valid_gtld

    for rx in (valid_gtld, valid_cctld):
        body = re.fullmatch(r"\(\?:\(\?:(.*)\)\(\?=.*\)\)", rx.pattern, re.S)
        assert body is not None
        tlds = body.group(1).split("|")
        assert len(tlds) > 200
        assert [t for t in tlds if not textlength._BARE_URL_HINT.fullmatch("." + t[0])] == []


# --- mastodon --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("read https://example.com/a/very/long/path/that/goes/on?and=on now", 5 + 23 + 4),
        ("http://x.io", 23),  # short URLs count 23 too
        ("example.com is bare", 19),  # no scheme: plain text on Mastodon
        ("hi @Gargron@mastodon.social!", 3 + 8 + 1),  # remote mention counts as @Gargron
        ("hi @gargron", 11),
        ("mail bob@example.org", 20),  # not a mention: a word char before @
        ("https://mastodon.social/@Gargron", 23),  # mention inside the URL: URL wins
        ("caf\u00e9 e\u0301 \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 8),
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 2),
        ("a\r\nb", 3),
        ("   \n\u3000", 0),  # blank text counts 0
        ("x" * 500, 500),
    ],
)
def test_mastodon_examples(text: str, expected: int) -> None:
    assert weighted_length(text, "mastodon") == expected


GRAPHEME_POOL = list("a\u00e9 \u65e5\r\n.") + [
    "\u0301", "\u200d", "\ufe0f", "\U0001f3fd", "\U0001f1eb", "\U0001f1f7", "\u1100", "\u1161",
    "\u11a8", "\uac00", "\u0915", "\u094d", "\u0937", "\u093f", "\u0903", "\u0600", "\U0001f468",
    "\U0001f469", "\U000e0067", "\U000e007f", "\u0e33",
]


@settings(max_examples=examples(400), deadline=None)
@given(st.lists(st.one_of(st.sampled_from(GRAPHEME_POOL), pieces), max_size=25).map("".join))
def test_grapheme_count_equals_regex_x(text: str) -> None:
    """The shortcut (\\X only around joiners) counts as \\X over the whole text."""
    import regex

    assert textlength.grapheme_count(text) == len(regex.findall(r"\X", text))


# --- bluesky ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", 5),
        ("https://example.com/a/very/long/path", 36),  # URLs count in full
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", 1),
        ("\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1ea", 2),
        ("\U0001f44d\U0001f3fd 1\ufe0f\u20e3", 3),
        ("e\u0301e\u0301", 2),
        ("\u1100\u1161\u11a8", 1),  # Hangul jamo make one syllable
        ("\u0915\u094d\u0937\u093f", 1),  # Devanagari conjunct (Unicode 15.1 rule)
        ("\u65e5\u672c\u8a9e", 3),
        ("a\r\nb\n\rc", 6),  # CR LF is one cluster, LF CR two
        ("x" * 300, 300),
    ],
)
def test_bluesky_examples(text: str, expected: int) -> None:
    assert weighted_length(text, "bluesky") == expected


# --- console, unknown, limits ------------------------------------------------------

def test_the_console_counts_code_points() -> None:
    text = "日本 \U0001f468\u200d\U0001f469 https://example.com/x"
    assert weighted_length(text, "console") == len(text) == 28


def test_an_unknown_platform_has_no_rule() -> None:
    with pytest.raises(LookupError, match="no publisher named 'nowhere'"):
        weighted_length("text", "nowhere")


@pytest.mark.parametrize(
    ("platform", "max_chars", "expected"),
    [
        ("x", None, 280),
        ("x", 1000, 280),
        ("mastodon", None, 500),
        ("mastodon", 5000, 5000),
        ("bluesky", None, 300),
        ("bluesky", 1000, 300),
        ("console", None, None),
    ],
)
def test_limits(platform: str, max_chars: int | None, expected: int | None) -> None:
    """Each publisher declares its limit; only Mastodon's follows an account's max_chars."""
    assert load(platform).limits_for({"max_chars": max_chars} if max_chars else {}).text == expected
    if max_chars is None:
        assert load(platform).limits.text == expected
