"""`bot import liveblog`: a live blog saved as text becomes a feed, exactly as expected."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.importers.cli import import_group
from bot.importers.liveblog import heading_date, parse_liveblog, spread
from bot.importers.writer import build
from bot.importers.yamlout import FeedMeta
from bot.publishers import measure as weighted_length
from tests.support.examples import examples

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "import"
BLOG = FIXTURES / "petrograd-live.txt"
EXPECTED = FIXTURES / "expected" / "liveblog"
ARGS = ["--account", "telegraph", "--name", "Russian Telegraph", "--timezone", "Europe/Moscow", "--years-back", "100"]


def run(*args):
    return CliRunner().invoke(import_group, [str(a) for a in args], prog_name="bot import")


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def bot_check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "check", str(folder)], capture_output=True, text=True, timeout=120)


def test_fixture_imports_to_exactly_the_expected_files(tmp_path):
    out = tmp_path / "feed"
    result = run("liveblog", BLOG, "--out", out, *ARGS)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote 9 entries (1 thread) in 3 days to {out}\n"
    assert files(out) == files(EXPECTED)


def test_expected_files_say_what_the_blog_says():
    feed = yaml.safe_load((EXPECTED / "feed.yaml").read_text(encoding="utf-8"))
    assert feed["title"] == "Petrograd live"
    assert feed["description"].startswith("Follow the last days of the Provisional Government")
    assert feed["timezone"] == "Europe/Moscow" and feed["calendar"] == "gregorian"
    assert feed["accounts"] == {"telegraph": {"platform": "x", "persona": "telegraph"}}
    assert feed["personas"]["telegraph"]["name"] == "Russian Telegraph"
    assert "reenactment" in feed["personas"]["telegraph"]["bio"].lower()
    # the empty heading (6 November) gives no file; 2017 became 1917
    assert sorted(p.name for p in EXPECTED.glob("19*.yaml")) == ["1917-11-05.yaml", "1917-11-07.yaml", "1917-11-08.yaml"]
    day8 = yaml.safe_load((EXPECTED / "1917-11-08.yaml").read_text(encoding="utf-8"))
    assert str(day8["date"]) == "1917-11-08"
    # newest first in the source, chronological in the feed, spread 08:00 .. 22:00
    assert [(p["time"], p["text"][:9]) for p in day8["posts"]] == [("08:00", "BREAKING:"), ("22:00", "The Winte")]


def test_the_long_entry_becomes_a_thread_that_loses_nothing():
    source = next(line for line in BLOG.read_text(encoding="utf-8").splitlines() if len(line) > 500)
    assert len(source) >= 600
    posts = yaml.safe_load((EXPECTED / "1917-11-07.yaml").read_text(encoding="utf-8"))["posts"]
    thread = [p for p in posts if p["time"] == "08:00"]
    assert len(thread) == 3
    assert " ".join(p["text"] for p in thread) == source
    assert all(weighted_length(p["text"], "x") <= 280 for p in thread)
    assert all(p["text"].endswith(".") for p in thread)  # cut at sentence ends
    assert thread[0]["id"] == "1917-11-07T0800-telegraph" and "reply_to" not in thread[0]
    for before, part in zip(thread, thread[1:]):
        assert part["reply_to"] == before["id"]
    assert len({p["id"] for p in thread}) == 3
    assert all("id" not in p for p in posts[3:])  # no id where none is needed


def test_second_run_refuses_to_overwrite_then_force_gives_identical_bytes(tmp_path):
    out = tmp_path / "feed"
    assert run("liveblog", BLOG, "--out", out, *ARGS).exit_code == 0
    first = files(out)
    (out / "1917-11-05.yaml").write_text("edited by hand\n", encoding="utf-8")
    again = run("liveblog", BLOG, "--out", out, *ARGS)
    assert again.exit_code == 1
    assert "already exists" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.output
    assert (out / "1917-11-05.yaml").read_text(encoding="utf-8") == "edited by hand\n"
    forced = run("liveblog", BLOG, "--out", out, *ARGS, "--force")
    assert forced.exit_code == 0, forced.output
    assert files(out) == first


def test_an_existing_feed_yaml_is_kept_without_force(tmp_path):
    out = tmp_path / "feed"
    out.mkdir()
    (out / "feed.yaml").write_text("title: mine\n", encoding="utf-8")
    result = run("liveblog", BLOG, "--out", out, *ARGS)
    assert result.exit_code == 0, result.output
    assert "kept the existing" in result.stdout
    assert (out / "feed.yaml").read_text(encoding="utf-8") == "title: mine\n"
    assert (out / "1917-11-08.yaml").read_bytes() == (EXPECTED / "1917-11-08.yaml").read_bytes()


def test_defaults_utc_no_shift_and_key_as_name(tmp_path):
    out = tmp_path / "feed"
    result = run("liveblog", BLOG, "--out", out, "--account", "telegraph")
    assert result.exit_code == 0, result.output
    feed = yaml.safe_load((out / "feed.yaml").read_text(encoding="utf-8"))
    assert feed["timezone"] == "UTC"
    assert feed["personas"]["telegraph"]["name"] == "telegraph"
    assert sorted(p.name for p in out.glob("2017-*.yaml")) == ["2017-11-05.yaml", "2017-11-07.yaml", "2017-11-08.yaml"]


def test_day_start_and_end_set_the_spread(tmp_path):
    out = tmp_path / "feed"
    result = run("liveblog", BLOG, "--out", out, "--account", "t", "--day-start", "9:30", "--day-end", "10:00")
    assert result.exit_code == 0, result.output
    posts = yaml.safe_load((out / "2017-11-07.yaml").read_text(encoding="utf-8"))["posts"]
    assert [p["time"] for p in posts] == ["09:30", "09:30", "09:30", "09:45", "10:00"]


def test_spread_is_even_and_inclusive():
    assert spread(1, 480, 1320) == ["08:00"]
    assert spread(3, 480, 1320) == ["08:00", "15:00", "22:00"]
    assert spread(4, 480, 1320) == ["08:00", "12:40", "17:20", "22:00"]
    assert spread(3, 600, 601) == ["10:00", "10:00", "10:01"]


@pytest.mark.parametrize(
    "line, expected",
    [
        ("06 November 2017", (2017, 11, 6)),
        ("6 November 2017", (2017, 11, 6)),
        ("November 6, 2017", (2017, 11, 6)),
        ("2017-11-06", (2017, 11, 6)),
        ("Monday 6 November 2017", (2017, 11, 6)),
        ("Tuesday, November 7th, 2017", (2017, 11, 7)),
        ("  8 nov 2017  ", (2017, 11, 8)),
        ("31 November 2017", (2017, 11, 31)),  # a heading; its impossibility is reported later
        ("6 November 2017: the day", None),
        ("The Aurora fired on 6 November 2017", None),
        ("2017-11-06 10:00 text", None),
        ("November 2017", None),
    ],
)
def test_heading_forms(line, expected):
    assert heading_date(line) == expected


def test_impossible_heading_is_a_located_error_and_nothing_is_written(tmp_path):
    blog = tmp_path / "blog.txt"
    blog.write_text("Intro.\n\n6 November 2017\nFine.\n\n31 November 2017\nNot fine.\n", encoding="utf-8")
    out = tmp_path / "feed"
    result = run("liveblog", blog, "--out", out, "--account", "t")
    assert result.exit_code == 1
    assert f"{blog}:6: error: impossible date heading 2017-11-31" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_blog_without_headings_is_an_error(tmp_path):
    blog = tmp_path / "blog.txt"
    blog.write_text("Just some text.\nNo dates at all.\n", encoding="utf-8")
    result = run("liveblog", blog, "--out", tmp_path / "feed", "--account", "t")
    assert result.exit_code == 1
    assert f"{blog}:1: error: no date headings found" in result.stderr


def test_29_february_moved_back_to_a_common_year_goes_to_28_february():
    blog = parse_liveblog("29 February 2016\nLeap day news.\n", "b.txt", years_back=101)
    assert [str(d) for d in blog.diagnostics] == ["b.txt:1: warning: 1915 has no 29 February: its entries go on 28 February"]
    assert [(p.day, p.time, p.text) for p in blog.posts] == [("1915-02-28", "08:00", "Leap day news.")]


def test_preamble_paragraphs_and_crlf(tmp_path):
    blog = tmp_path / "crlf.txt"
    blog.write_bytes("\ufeffFirst line\r\nof the intro.\r\n\r\nSecond paragraph.\r\n2017-11-06\r\nOne.\r\n".encode())
    out = tmp_path / "feed"
    assert run("liveblog", blog, "--out", out, "--account", "t").exit_code == 0
    feed = yaml.safe_load((out / "feed.yaml").read_text(encoding="utf-8"))
    assert feed["description"] == "First line of the intro.\n\nSecond paragraph."
    assert feed["title"] == "Crlf"
    assert yaml.safe_load((out / "2017-11-06.yaml").read_text(encoding="utf-8"))["posts"][0]["text"] == "One."


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--day-start", "25:00"], "is not a time HH:MM"),
        (["--day-start", "20:00", "--day-end", "08:00"], "before --day-start"),
        (["--account", "Bad Key"], "is not an account key"),
        (["--years-back", "-1"], "--years-back"),
        (["--platform", "myspace"], "unknown platform 'myspace'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, extra, message):
    args = ["liveblog", BLOG, "--out", tmp_path / "feed", "--account", "t", *extra]
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "feed").exists()


def test_not_utf8_is_a_located_error(tmp_path):
    blog = tmp_path / "latin1.txt"
    blog.write_bytes(b"6 November 2017\nCaf\xe9\n")
    result = run("liveblog", blog, "--out", tmp_path / "feed", "--account", "t")
    assert result.exit_code == 1
    assert f"{blog}:2: error: not valid UTF-8" in result.stderr


def test_bot_check_accepts_the_import(tmp_path):
    out = tmp_path / "feed"
    assert run("liveblog", BLOG, "--out", out, *ARGS).exit_code == 0
    checked = bot_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 errors" in checked.stdout + checked.stderr


def test_a_platform_without_a_limit_makes_no_threads(tmp_path):
    out = tmp_path / "feed"
    result = run("liveblog", BLOG, "--out", out, "--account", "t", "--platform", "console")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 7 entries (0 threads) in 3 days")
    assert 'platform: "console"' in (out / "feed.yaml").read_text(encoding="utf-8")


entry_text = st.lists(
    st.sampled_from(["The", "bridge", "is", "held.", "BREAKING:", "Red", "Guards!", "\"Yes,\"", "null", "@mrc",
                     "12:30", "#Petrograd", "Café", "日本", "😀", "—", "no.", "Mr.", "x" * 40]),
    min_size=1, max_size=140,
).map(" ".join)


@given(st.lists(st.lists(entry_text, max_size=4), min_size=1, max_size=4))
@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_every_entry_comes_back_whole_in_time_order(days):
    source = ["Intro."]
    for offset, entries in enumerate(days):
        source.append(f"{offset + 1} March 1917")
        source += [e for entry in entries for e in (entry, "")]
    blog = parse_liveblog("\n".join(source), "b.txt")
    output = build(blog.posts, FeedMeta("T", "UTC", "gregorian", "t", "T", "x"))
    for offset, entries in enumerate(days):
        name = f"1917-03-{offset + 1:02d}.yaml"
        if not entries:
            assert name not in output.files
            continue
        posts = yaml.safe_load(output.files[name])["posts"]
        assert all(weighted_length(p["text"], "x") <= 280 for p in posts)
        rebuilt, times, previous_id = [], [], None
        for post in posts:  # thread parts reply to the part before, at the same time
            if post.get("reply_to") and rebuilt and post["reply_to"] == previous_id:
                rebuilt[-1] += " " + post["text"]
            else:
                rebuilt.append(post["text"])
                times.append(post["time"])
            previous_id = post.get("id")
        assert rebuilt == list(reversed(entries))
        assert times == sorted(times)
