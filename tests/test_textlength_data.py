"""The twitter-text snapshot (bot/publishers/lengths/_twitter_data.py) behind the X counter.

It must be what scripts/gen_twitter_data.py writes from the installed
twitter-text-parser now (this fails after an upgrade until it is run again),
be used only when made from the installed version, and spare a process that
counts URL-free texts the import of twitter_text.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.publishers import lengths as textlength
from bot.publishers.lengths import twitterdata
from bot.publishers import measure as weighted_length
from bot.publishers.lengths import x_length

twitterdata.load_library()
from twitter_text import parse_tweet  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SNAPSHOT = REPO / "bot" / "publishers" / "lengths" / "_twitter_data.py"

TRICKY = [
    "",
    "Hello 東京 👨‍👩‍👧",
    "plain ascii, e.g. this. Mr.Smith and Dr.No say hi...",
    "日本語のテキスト、「引用」。",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family, 1\ufe0f\u20e3 keycap, \U0001f1eb\U0001f1f7 flag",
    "\u00a9\u00ae\u2122 \U0001f44d\U0001f3fd \U0001fae0 \u2764\ufe0f",
    "ends in a ZWJ family \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "caf\u00e9 e\u0301 \u2014 \u2026 \u200d \u2032 \u3000 \u1100\u1161",
    "see example.com/a?b=1. Done",
    "https://en.wikipedia.org/wiki/Foo_(bar)) and t.co/x",
    "abc.com日本.jp/x 例え.jp/a x.com.日本/y",
    "mail bob@example.org #tag @user $TAG a\r\nb\rc",
    "1️⃣.com/x 😀.com -example.com",
    "he said “so.” and “morning.” viz.…",
    "example.рф x.vermögensberatung a.buſiness a.\u212aim",
]


def _parse_tweet_lengths(texts: list[str]) -> list[int]:
    return [parse_tweet(t).weightedLength for t in texts]


def _generator() -> object:
    spec = importlib.util.spec_from_file_location("gen_twitter_data", REPO / "scripts" / "gen_twitter_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    """Forget the data and tables built from it, before and after the test."""
    cached = (twitterdata.data, textlength._x_tables, textlength._space_re, textlength._mastodon_res)

    def clear() -> None:
        for f in cached:
            f.cache_clear()

    clear()
    yield
    clear()


# --- the snapshot is current ------------------------------------------------------


def test_snapshot_is_what_the_generator_writes_now() -> None:
    gen = _generator()
    version = importlib.metadata.version("twitter-text-parser")
    expected = gen.render(twitterdata.library_data(), version)  # type: ignore[attr-defined]
    assert SNAPSHOT.read_text(encoding="utf-8") == expected, (
        f"bot/publishers/lengths/_twitter_data.py is stale for twitter-text-parser {version}: run scripts/gen_twitter_data.py"
    )


def test_snapshot_holds_the_library_data() -> None:
    version, data = twitterdata.snapshot_data()
    assert version == importlib.metadata.version("twitter-text-parser")
    live = twitterdata.library_data()
    assert data == live
    assert (data.origin, live.origin) == ("snapshot", "library")
    assert data.emoji_sequences and len(data.emoji_sequences) > 2000
    assert data.ascii_tlds and {"com", "org", "jp", "museum"} <= data.ascii_tlds


def test_snapshot_is_ascii_and_says_it_is_generated() -> None:
    raw = SNAPSHOT.read_bytes()
    assert raw.isascii()
    head = raw.decode().splitlines()[0]
    assert "generated" in head and "twitter-text-parser" in head


def test_generator_check_mode_reports_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_twitter_data.py"), "--check"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "up to date" in out.stdout


# --- which data is used -------------------------------------------------------------


def test_installed_version_read_without_importing_equals_metadata() -> None:
    assert twitterdata.installed_version() == importlib.metadata.version("twitter-text-parser")


def _fake_site(root: Path, versions: list[str]) -> None:
    (root / "twitter_text").mkdir()
    (root / "twitter_text" / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    for v in versions:
        info = root / f"twitter_text_parser-{v}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: twitter-text-parser\nVersion: {v}\n\nbody\n")


@pytest.mark.parametrize(("versions", "expected"), [(["9.9.9"], "9.9.9"), (["9.9.9", "3.0.0"], None), ([], None)])
def test_installed_version_from_the_dist_info_beside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, versions: list[str], expected: str | None
) -> None:
    """Read next to the package import would load; two dist-infos are ambiguous: None (read the library)."""
    _fake_site(tmp_path, versions)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "twitter_text")
    assert twitterdata.installed_version.__wrapped__() == expected  # type: ignore[attr-defined]


def test_snapshot_in_use_and_exact() -> None:
    assert twitterdata.data().origin == "snapshot"
    assert [x_length(t) for t in TRICKY] == _parse_tweet_lengths(TRICKY)


def test_other_version_installed_reads_the_library(monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> None:
    monkeypatch.setattr(twitterdata, "installed_version", lambda: "0.0.0+not-the-snapshot")
    data = twitterdata.data()
    assert data.origin == "library"
    assert data == twitterdata.snapshot_data()[1]
    assert [x_length(t) for t in TRICKY] == _parse_tweet_lengths(TRICKY)
    assert weighted_length("hi @Gargron@mastodon.social!", "mastodon") == 12


def test_version_unknown_reads_the_library(monkeypatch: pytest.MonkeyPatch, fresh_caches: None) -> None:
    monkeypatch.setattr(twitterdata, "installed_version", lambda: None)
    assert twitterdata.data().origin == "library"
    assert x_length(TRICKY[1]) == parse_tweet(TRICKY[1]).weightedLength


# --- a fresh process -----------------------------------------------------------------

PLAIN = [
    "Hello world, plain ASCII.",
    "Hello 東京 👨‍👩‍👧",
    "日本語と中文字、한국어 \U0001f1ec\U0001f1e7 \U0001f44d\U0001f3fd 1\ufe0f\u20e3",
    "Dots that are no URL: e.g. this, i.e. that, Mr.Smith, U.S.A., 3.14, end.",
    "Quoted speech that ends “so.” and “morning.” then viz.…",
]
WITH_URL = "read example.com/news and https://example.org/a/1 \u6771\u4eac"

CHILD = """
import json, sys
from bot.publishers import measure as weighted_length
from bot.publishers.lengths import x_length
plain = json.loads(sys.argv[1])
out = {"x": [x_length(t) for t in plain], "w": [weighted_length(t, "x") for t in plain],
       "m": [weighted_length(t, "mastodon") for t in plain], "b": [weighted_length(t, "bluesky") for t in plain]}
out["plain_loaded"] = sorted({"twitter_text", "pkg_resources"} & set(sys.modules))
out["url"] = x_length(sys.argv[2])
out["url_loaded"] = sorted({"twitter_text", "pkg_resources"} & set(sys.modules))
print(json.dumps(out))
"""


def test_fresh_process_counts_plain_texts_without_twitter_text() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(PLAIN), WITH_URL],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    expected = _parse_tweet_lengths(PLAIN)
    assert got["x"] == got["w"] == expected
    assert got["m"] == [weighted_length(t, "mastodon") for t in PLAIN]
    assert got["b"] == [weighted_length(t, "bluesky") for t in PLAIN]
    assert got["plain_loaded"] == []
    # a URL needs twitter-text's extractor; its stand-in pkg_resources is not left behind
    assert got["url"] == parse_tweet(WITH_URL).weightedLength == 61
    assert got["url_loaded"] == ["twitter_text"]
