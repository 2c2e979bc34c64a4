"""`bot check` on cross-posting feeds: each network's limit per delivery, image count,
missing extras (an install hint, not an ImportError) and missing MASTODON_/BLUESKY_ credentials."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli

FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # one grapheme, one emoji
URL = "https://example.com/" + "p" * 80  # 100 characters, one URL

FEED = """\
title: Cross
timezone: UTC
years_later: 110
accounts:
  news:
    platform: [x, mastodon, bluesky]
    persona: p
  toot:
    platform: mastodon
    persona: p
  long:
    platform: mastodon
    persona: p
    max_chars: 1000
  short:
    platform: mastodon
    persona: p
    max_chars: 100
  both:
    platform: [x, mastodon]
    persona: p
    max_chars: 1000
personas:
  p: {name: P, bio: A reenactment.}
"""

CREDENTIAL_PREFIXES = ("X_", "MASTODON_", "BLUESKY_", "BOT_")


def write(folder: Path, posts: list[tuple[str, str, str]], media: dict[str, int] | None = None) -> dict[str, int]:
    """feed.yaml and posts.yaml with (id, account, text) entries one minute apart; returns
    the line of each entry's `text:` (and of its `media:` under id + '/media')."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feed.yaml").write_text(FEED, encoding="utf-8")
    lines = ["date: 1917-11-07", "posts:"]
    where = {}
    for i, (entry_id, account, text) in enumerate(posts):
        lines += [f'  - time: "10:{i:02d}"', f"    account: {account}", f"    id: {entry_id}"]
        where[entry_id] = len(lines) + 1
        lines.append(f"    text: {json.dumps(text, ensure_ascii=False)}")
        if media and entry_id in media:
            where[entry_id + "/media"] = len(lines) + 1
            lines.append("    media:")
            for n in range(media[entry_id]):
                name = f"img{n}.png"
                (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
                lines.append(f"      - {{file: {name}, alt: picture {n}}}")
    (folder / "posts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(CREDENTIAL_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray ./.env


def check(folder: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["check", str(folder), *extra], catch_exceptions=False)
    return result.exit_code, result.stdout.splitlines()  # stderr has the replay span


def errors_for(lines: list[str], posts_file: Path, line: int) -> list[str]:
    prefix = f"{posts_file}:{line}: error: "
    return [l.removeprefix(prefix) for l in lines if l.startswith(prefix)]


def test_each_network_counts_and_caps_its_own_delivery(tmp_path, clean_env):
    posts = [
        ("cjk", "news", "字" * 141),  # x weighs CJK 2: 282; 141 elsewhere
        ("ascii-280", "news", "a" * 280),  # at every limit or under
        ("long-url", "news", URL[:20] + "p" * 290),  # one 310-character URL: 23 on x and mastodon
        ("family", "news", FAMILY * 150),  # x: 300 (2 per emoji); 150 graphemes
        ("toot-over", "toot", "a" * 478 + " " + URL),  # 478 + 1 + 23 = 502
        ("toot-ok", "toot", "a" * 470 + " " + URL),  # 494, though 571 characters long
        ("long-ok", "long", "b" * 700),
        ("short-over", "short", "c" * 101),
        ("both-over", "both", "d" * 300),  # max_chars lifts mastodon's limit, not x's
    ]
    folder = tmp_path / "feed"
    at = write(folder, posts)
    code, lines = check(folder)
    posts_file = folder / "posts.yaml"
    assert code == 1
    assert errors_for(lines, posts_file, at["cjk"]) == ["text is 282 characters on x, over its limit of 280"]
    assert errors_for(lines, posts_file, at["long-url"]) == ["text is 310 characters on bluesky, over its limit of 300"]
    assert errors_for(lines, posts_file, at["family"]) == [  # 150 graphemes fit Bluesky's 300, 3750 bytes do not
        "text is 300 characters on x, over its limit of 280",
        "text is 3750 bytes of UTF-8 on bluesky, over its limit of 3000 bytes",
    ]
    assert errors_for(lines, posts_file, at["toot-over"]) == ["text is 502 characters on mastodon, over its limit of 500"]
    assert errors_for(lines, posts_file, at["short-over"]) == ["text is 101 characters on mastodon, over its limit of 100"]
    assert errors_for(lines, posts_file, at["both-over"]) == ["text is 300 characters on x, over its limit of 280"]
    for fine in ("ascii-280", "toot-ok", "long-ok"):
        assert errors_for(lines, posts_file, at[fine]) == [], fine
    assert lines[-1].startswith("7 errors")


def test_a_text_over_two_limits_gets_one_error_per_network(tmp_path, clean_env):
    folder = tmp_path / "feed"
    at = write(folder, [("big", "news", "e" * 501)])
    code, lines = check(folder)
    got = errors_for(lines, folder / "posts.yaml", at["big"])
    assert code == 1
    assert got == [
        "text is 501 characters on x, over its limit of 280",
        "text is 501 characters on mastodon, over its limit of 500",
        "text is 501 characters on bluesky, over its limit of 300",
    ]


def test_at_most_four_images_on_a_cross_posted_entry(tmp_path, clean_env):
    folder = tmp_path / "feed"
    at = write(folder, [("four", "news", "four pictures"), ("five", "news", "five pictures")], media={"four": 4, "five": 5})
    code, lines = check(folder)
    posts_file = folder / "posts.yaml"
    assert code == 1
    assert errors_for(lines, posts_file, at["five/media"]) == ["5 images: at most 4 per post"]
    assert errors_for(lines, posts_file, at["four/media"]) == []
    assert lines[-1].startswith("1 error,")


def test_preview_json_names_the_platforms_and_the_largest_length(tmp_path, clean_env):
    folder = tmp_path / "feed"
    write(folder, [("cjk", "news", "字" * 100), ("url", "toot", "see " + URL)])
    result = CliRunner().invoke(cli, ["preview", "--posts", str(folder), "--format", "json"], catch_exceptions=False)
    rows = {row["id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["cjk"]["platforms"] == ["x", "mastodon", "bluesky"]
    assert rows["cjk"]["length"] == 200  # x's weighted count beats 100 graphemes
    assert rows["url"]["platforms"] == ["mastodon"]
    assert rows["url"]["length"] == 4 + 23


# -- missing extras: run check in a subprocess whose imports cannot find a library --------

HIDE = textwrap.dedent("""\
    import sys

    class Hide:
        \"\"\"An import hook that refuses {names}, as if they were not installed.\"\"\"
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {names!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    for name in list(sys.modules):
        if name.split(".")[0] in {names!r}:
            del sys.modules[name]
    from bot.cli import main
    sys.argv[0] = "bot"
    main()
    """)


def run_hidden(names: tuple[str, ...], *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    code = HIDE.format(names=names)
    env = {k: v for k, v in (env or os.environ).items() if not k.startswith(CREDENTIAL_PREFIXES)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


def test_a_feed_needing_a_missing_extra_gets_an_install_hint(tmp_path):
    folder = tmp_path / "feed"
    write(folder, [("one", "news", "hello"), ("two", "toot", "hello")])
    out = run_hidden(("mastodon",), "check", str(folder), "--credentials", cwd=tmp_path)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and "ImportError" not in out.stdout + out.stderr
    feed_yaml = folder / "feed.yaml"
    hint = "error: platform 'mastodon' needs its extra: pip install 'anniversary-bot[mastodon]'"
    assert f"{feed_yaml}:6: {hint}" in out.stdout.splitlines()  # news: platform: [x, mastodon, bluesky]
    assert f"{feed_yaml}:9: {hint}" in out.stdout.splitlines()  # toot: platform: mastodon
    assert "bluesky" not in " ".join(l for l in out.stdout.splitlines() if "extra" in l)


def test_missing_atproto_names_the_bluesky_extra(tmp_path):
    folder = tmp_path / "feed"
    write(folder, [("one", "news", "hello")])
    out = run_hidden(("atproto", "atproto_client"), "check", str(folder), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{folder / 'feed.yaml'}:6: error: platform 'bluesky' needs its extra: pip install 'anniversary-bot[bluesky]'" in out.stdout


def test_hidden_module_is_really_hidden(tmp_path):
    """The hook works: without it the same feed checks clean (so the hint above is not a fluke)."""
    folder = tmp_path / "feed"
    write(folder, [("one", "news", "hello")])
    out = run_hidden(("nothing_at_all",), "check", str(folder), cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


# -- credentials ----------------------------------------------------------------------


def test_check_credentials_names_each_missing_variable(tmp_path, clean_env, monkeypatch):
    folder = tmp_path / "feed"
    write(folder, [("one", "news", "hello"), ("two", "toot", "hello")])
    monkeypatch.setenv("MASTODON_NEWS_BASE_URL", "https://example.social")
    monkeypatch.setenv("MASTODON_NEWS_ACCESS_TOKEN", "sEcReT-token-value")
    monkeypatch.setenv("BLUESKY_NEWS_HANDLE", "news.example")  # no app password
    monkeypatch.setenv("X_API_KEY", "k")
    monkeypatch.setenv("X_API_SECRET", "s")
    monkeypatch.setenv("X_NEWS_ACCESS_TOKEN", "t")
    monkeypatch.setenv("X_NEWS_ACCESS_TOKEN_SECRET", "ts")
    code, lines = check(folder, "--credentials")
    problems = [l for l in lines if "lacks credentials" in l]
    assert code == 1
    assert any("account 'news' on bluesky lacks credentials: set BLUESKY_NEWS_APP_PASSWORD" in l for l in problems)
    assert any("account 'toot' on mastodon lacks credentials: set MASTODON_TOOT_BASE_URL, MASTODON_TOOT_ACCESS_TOKEN" in l for l in problems)
    assert not any("'news' on mastodon" in l or "'news' on x" in l for l in problems)
    assert all(re.match(rf"{re.escape(str(folder / 'feed.yaml'))}:\d+: error: ", l) for l in problems)
    assert "sEcReT-token-value" not in "\n".join(lines)
    # without --credentials the same feed is clean
    code, lines = check(folder)
    assert code == 0 and not any("lacks" in l for l in lines)


def test_check_credentials_passes_when_every_network_is_set(tmp_path, clean_env, monkeypatch):
    folder = tmp_path / "feed"
    write(folder, [("one", "news", "hello")])
    for name in ("MASTODON_NEWS_BASE_URL", "MASTODON_NEWS_ACCESS_TOKEN", "BLUESKY_NEWS_HANDLE",
                 "BLUESKY_NEWS_APP_PASSWORD", "X_API_KEY", "X_API_SECRET", "X_NEWS_ACCESS_TOKEN",
                 "X_NEWS_ACCESS_TOKEN_SECRET", "MASTODON_TOOT_BASE_URL", "MASTODON_TOOT_ACCESS_TOKEN",
                 "MASTODON_LONG_BASE_URL", "MASTODON_LONG_ACCESS_TOKEN", "MASTODON_SHORT_BASE_URL",
                 "MASTODON_SHORT_ACCESS_TOKEN", "MASTODON_BOTH_BASE_URL", "MASTODON_BOTH_ACCESS_TOKEN",
                 "X_BOTH_ACCESS_TOKEN", "X_BOTH_ACCESS_TOKEN_SECRET"):
        monkeypatch.setenv(name, "value")
    code, lines = check(folder, "--credentials")
    assert code == 0, lines
