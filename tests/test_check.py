"""`bot check`: exit codes, where the feed is found, PATH as given, the summary, warnings,
every problem in one run, and lengths counted as twitter-text counts them."""

from __future__ import annotations

import json
import os
import re

import pytest

SUMMARY = re.compile(r"(\d+) errors?, (\d+) warnings? in (\d+) files? \((\d+) (?:entry|entries)\)\Z")

ONE_POST = 'date: 1917-11-07\nposts:\n  - {time: "10:00", account: paper, text: "A valid post."}\n'
ONE_ERROR = 'date: 1917-02-30\nposts:\n  - {time: "10:00", account: paper, text: "No such day."}\n'


def summary(out: str) -> tuple[int, int, int, int]:
    last = out.splitlines()[-1]
    match = SUMMARY.match(last)
    assert match, f"not a summary line: {last!r}"
    return tuple(int(g) for g in match.groups())


# --- the sample feed and exit codes ----------------------------------------------


def test_the_sample_feed_passes(run_bot, repo_root):
    code, out, err = run_bot("check", cwd=repo_root)  # default ./posts
    assert code == 0, out
    errors, warnings, files, entries = summary(out)
    assert errors == 0
    assert entries >= 30
    assert "Traceback" not in out + err


def test_exit_0_on_a_valid_feed(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"a.yaml": ONE_POST})
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path)
    assert (code, out) == (0, "0 errors, 0 warnings in 2 files (1 entry)\n")
    # on stderr, the replay span: the default years_later puts the first entry in the future (BOT_NOW: 2026-12-01)
    assert err == "replays 2027-11-07 .. 2027-11-07, years_later 110\n"


def test_exit_1_on_errors(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"a.yaml": ONE_ERROR})
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path)
    assert code == 1
    assert out == "feed/a.yaml:1: error: impossible date 1917-02-30 in the gregorian calendar\n1 error, 0 warnings in 2 files (0 entries)\n"


@pytest.mark.parametrize(
    "args, env, says",
    [
        (["check", "--bogus"], {}, "No such option"),
        (["check", "--years-later", "0"], {}, "--years-later"),
        (["check", "--years-later", "many"], {}, "--years-later"),
        (["check", "a", "b"], {}, "unexpected extra argument"),
        (["chekc"], {}, "No such command"),
        (["check"], {"BOT_YEARS_LATER": "abc"}, "BOT_YEARS_LATER must be a whole number, not 'abc'"),
        (["check"], {"BOT_YEARS_LATER": "0"}, "BOT_YEARS_LATER must be from 1 to 5000, not 0"),
        (["check"], {"BOT_DAILY_LIMIT": "lots"}, "BOT_DAILY_LIMIT must be a whole number"),
    ],
)
def test_exit_2_on_usage_errors(tmp_path, make_feed, run_bot, args, env, says):
    make_feed(tmp_path, name="posts", files={"a.yaml": ONE_POST})
    code, out, err = run_bot(*args, cwd=tmp_path, env=env)
    assert code == 2, out + err
    assert says in err
    assert "Traceback" not in out + err


def test_a_missing_folder_is_a_located_error(tmp_path, invoke_bot):
    code, out, err = invoke_bot("check", "--posts", "nowhere", cwd=tmp_path)
    assert code == 1
    assert out.startswith("nowhere:1: error: feed folder not found\n")


# --- where the feed is, and PATH as given -------------------------------------------


@pytest.mark.parametrize("given", ["some/dir", "some/dir/", "./some/dir", "some/../some/dir"])
def test_paths_are_printed_as_given(tmp_path, make_feed, invoke_bot, given):
    make_feed(tmp_path / "some", name="dir", files={"a.yaml": ONE_ERROR})
    code, out, err = invoke_bot("check", "--posts", given, cwd=tmp_path)
    assert code == 1
    prefix = given.rstrip("/") + "/a.yaml:1: error: "
    assert out.splitlines()[0].startswith(prefix), out


def test_an_absolute_path_stays_absolute(tmp_path, make_feed, invoke_bot):
    root = make_feed(tmp_path, files={"a.yaml": ONE_ERROR})
    code, out, err = invoke_bot("check", str(root), cwd=tmp_path)
    assert out.splitlines()[0].startswith(f"{root}/a.yaml:1: error: ")


@pytest.fixture
def three_feeds(tmp_path, make_feed):
    """Folders a, b, c and posts, each with one error in a file named after its folder."""
    for name in ("a", "b", "c", "posts"):
        make_feed(tmp_path, name=name, files={f"in-{name}.yaml": ONE_ERROR})
    return tmp_path


@pytest.mark.parametrize(
    "args, env, used",
    [
        (["check"], {}, "posts"),
        (["check"], {"BOT_POSTS": "c"}, "c"),
        (["check", "a"], {"BOT_POSTS": "c"}, "a"),
        (["check", "--posts", "a"], {"BOT_POSTS": "c"}, "a"),
        (["--posts", "a", "check"], {"BOT_POSTS": "c"}, "a"),
        (["--posts", "a", "check", "--posts", "b"], {}, "b"),
        (["--posts", "a", "check", "b"], {}, "b"),
        (["check", "--posts", "b", "a"], {}, "b"),
    ],
)
def test_where_the_feed_is(three_feeds, invoke_bot, args, env, used):
    code, out, err = invoke_bot(*args, cwd=three_feeds, env=env)
    assert code == 1
    assert out.splitlines()[0].startswith(f"{used}/in-{used}.yaml:1: error: "), out


def test_global_and_subcommand_posts_as_real_processes(three_feeds, run_bot):
    assert run_bot("--posts", "a", "check", cwd=three_feeds).stdout.startswith("a/in-a.yaml:1:")
    assert run_bot("check", "--posts", "b", cwd=three_feeds).stdout.startswith("b/in-b.yaml:1:")
    assert run_bot("check", cwd=three_feeds, env={"BOT_POSTS": "c"}).stdout.startswith("c/in-c.yaml:1:")


# --- the summary and every problem in one run ---------------------------------------

MANY_PROBLEMS = {
    "feed.yaml": """\
title: Many problems
timezone: Europe/Berlin
colour: red
accounts:
  paper: {platform: x, persona: daily}
  crier: {platform: console, persona: daily}
personas:
  daily: {name: The Daily, bio: A historical reenactment.}
  evening: {name: The Evening, bio: A historical reenactment.}
""",
    "a.yaml": """\
date: 1917-11-07
posts:
  - time: "25:00"
    account: paper
    text: Bad time.
  - time: "10:00"
    account: nobody
    text: Unknown account.
  - time: "11:00"
    account: paper
    text: ""
  - time: "12:00"
    account: paper
    id: fine
    text: This one is fine.
""",
    "sub/b.yaml": """\
date: 1917-11-08
posts:
  - time: "09:00"
    account: paper
    reply_to: ghost
    text: A reply to nothing.
  - time: "10:00"
    account: crier
    id: fine
    text: A duplicate id.
  - time: "11:00"
    account: paper
    storm: nightly
  - time: "12:00"
    account: paper
    text: With an image and no alt.
    media: [media/pic.png]
""",
    "media/pic.png": b"\x89PNG",
}


def test_every_problem_in_one_run_in_order(tmp_path, make_feed, invoke_bot):
    files = dict(MANY_PROBLEMS)
    make_feed(tmp_path, files.pop("feed.yaml"), files)
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path)
    assert code == 1
    assert out.splitlines() == [
        "feed/feed.yaml:3: error: unknown key 'colour' in feed.yaml",
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:7: error: unknown account 'nobody'",
        "feed/a.yaml:11: error: empty text",
        "feed/sub/b.yaml:3: error: reply_to 'ghost' names no entry of this feed",
        "feed/sub/b.yaml:7: error: duplicate id 'fine' (first at feed/a.yaml:12)",
        "feed/sub/b.yaml:13: error: storm to unknown persona 'nightly'",
        "feed/sub/b.yaml:17: warning: image 'media/pic.png' has no alt text",
        "7 errors, 1 warning in 3 files (4 entries)",  # entries read; cross-entry errors come later
    ]


def test_singular_and_plural_in_the_summary(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"a.yaml": ONE_POST, "b.yaml": ONE_POST.replace("10:00", "11:00")})
    assert invoke_bot("check", "feed", cwd=tmp_path).stdout == "0 errors, 0 warnings in 3 files (2 entries)\n"


# --- warnings: exit 0 -----------------------------------------------------------------

WARNINGS = """\
posts:
  - {date: 1917-03-28, time: "02:30", account: paper, text: In the spring gap.}
  - {date: 1917-10-31, time: "02:30", account: paper, text: In the autumn fold.}
  - {date: 1916-02-29, time: "12:00", account: paper, text: On a leap day.}
  - {date: 1917-11-07, time: "10:00", account: paper, text: Photo., media: [{file: media/pic.png}]}
"""


def test_warnings_alone_exit_0(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"w.yaml": WARNINGS, "media/pic.png": b"\x89PNG"})
    code, out, err = invoke_bot("check", "feed", "--years-later", "110", cwd=tmp_path)
    assert code == 0, out
    assert out.splitlines() == [
        "feed/w.yaml:2: warning: replay time falls in a daylight-saving gap in Europe/Berlin: moved to 2027-03-28 03:30:00",
        "feed/w.yaml:3: warning: replay time 2027-10-31 02:30:00 is ambiguous in Europe/Berlin (clocks go back): the first occurrence is used",
        "feed/w.yaml:4: warning: 29 February does not exist in 2026: replayed on 2026-02-28 12:00:00",
        "feed/w.yaml:4: warning: 1 of 4 entries replay before now with years_later 110 (from --years-later): `bot run` would record them missed",
        "feed/w.yaml:5: warning: image 'media/pic.png' has no alt text",
        "0 errors, 5 warnings in 2 files (4 entries)",
    ]


def test_warnings_follow_the_replay_zone_not_the_historical_one(tmp_path, make_feed, invoke_bot, base_feed_yaml):
    feed = base_feed_yaml.replace("timezone: Europe/Berlin", "timezone: Europe/Moscow\nreplay_timezone: America/New_York")
    make_feed(tmp_path, feed, {"w.yaml": 'date: 1917-03-14\nposts:\n  - {time: "02:30", account: paper, text: Gap in New York.}\n'})
    code, out, err = invoke_bot("check", "feed", "--years-later", "110", cwd=tmp_path)
    assert code == 0
    assert "daylight-saving gap in America/New_York: moved to 2027-03-14 03:30:00" in out


def _day_of_posts(times, account="paper"):
    lines = ["date: 1917-11-07", "posts:"]
    lines += [f'  - {{time: "{t}", account: {account}, text: "Post at {t}."}}' for t in times]
    return "\n".join(lines) + "\n"


def test_daily_limit_from_the_environment(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"d.yaml": _day_of_posts(["08:00", "09:00", "10:00", "11:00"])})
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "3"})
    assert code == 0
    assert out.splitlines() == [
        "feed/d.yaml:6: warning: account 'paper' has 4 posts within 24 hours of replay time, over the daily limit of 3",
        "0 errors, 1 warning in 2 files (4 entries)",
    ]
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "4"})
    assert out == "0 errors, 0 warnings in 2 files (4 entries)\n"


def test_daily_limit_default_is_17_per_account(tmp_path, make_feed, invoke_bot):
    seventeen = [f"{h:02d}:00" for h in range(6, 23)]
    make_feed(tmp_path, files={"d.yaml": _day_of_posts(seventeen), "e.yaml": _day_of_posts(seventeen, "crier")})
    assert invoke_bot("check", "feed", cwd=tmp_path).stdout == "0 errors, 0 warnings in 3 files (34 entries)\n"
    make_feed(tmp_path, files={"d.yaml": _day_of_posts(seventeen + ["23:30"])})
    out = invoke_bot("check", "feed", cwd=tmp_path).stdout
    assert "feed/d.yaml:20: warning: account 'paper' has 18 posts within 24 hours" in out


def test_daily_limit_is_a_sliding_24_hours(tmp_path, make_feed, invoke_bot):
    evening = "date: 1917-11-07\nposts:\n" + "".join(f'  - {{time: "20:{m:02d}", account: paper, text: "Evening {m}."}}\n' for m in range(2))
    morning = "date: 1917-11-08\nposts:\n" + "".join(f'  - {{time: "08:{m:02d}", account: paper, text: "Morning {m}."}}\n' for m in range(2))
    make_feed(tmp_path, files={"a.yaml": evening, "b.yaml": morning})
    out = invoke_bot("check", "feed", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "3"}).stdout
    assert "feed/b.yaml:4: warning: account 'paper' has 4 posts within 24 hours" in out  # 12 hours apart
    late = morning.replace("08:0", "20:0")
    make_feed(tmp_path, files={"b.yaml": late})  # exactly 24 hours later: a new window
    assert ": warning:" not in invoke_bot("check", "feed", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "3"}).stdout


def test_a_storm_without_text_does_not_count_towards_the_limit(tmp_path, make_feed, invoke_bot):
    posts = _day_of_posts(["08:00", "09:00", "10:00"]) + '  - {time: "11:00", account: paper, storm: evening}\n'
    make_feed(tmp_path, files={"d.yaml": posts})
    assert invoke_bot("check", "feed", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "3"}).stdout == "0 errors, 0 warnings in 2 files (4 entries)\n"


# --- lengths -----------------------------------------------------------------------


def test_x_limit_boundaries_and_console_without_limit(tmp_path, make_feed, invoke_bot):
    posts = "date: 1917-11-07\nposts:\n" + "".join(
        f'  - {{time: "{10 + i}:00", account: {account}, text: "{text}"}}\n'
        for i, (account, text) in enumerate([
            ("paper", "a" * 280),  # exactly 280
            ("paper", "\u9769" * 140),  # 140 CJK = 280
            ("paper", "\U0001F525" * 140),  # 140 emoji = 280
            ("paper", "x" * 256 + " https://example.com/" + "p" * 200),  # 457 characters, weighs 280
            ("crier", "c" * 5000),  # console: no limit
        ])
    )
    make_feed(tmp_path, files={"len.yaml": posts})
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path)
    assert (code, out) == (0, "0 errors, 0 warnings in 2 files (5 entries)\n")


TRICKY = [
    "Plain ASCII text.",
    "Кириллица: Временное правительство низложено!",
    "革命の日。ペトログラードにて。",
    "Family 👨‍👩‍👧‍👦 flag 🇷🇺 skin 👍🏽 keycap 1️⃣",
    "e\u0301 combining marks a\u0308 o\u0302",
    "Two links https://example.com/a/very/long/path?x=1 and www.example.org/x",
    "Not a link: example.invalid and a.b",
    "Mixed 𝕏 math letters and ☭ symbols and ‰",
    "Zero\u200dwidth\u200bjoiners and\ufe0fselectors",
]


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_lengths_match_twitter_text(tmp_path, make_feed, invoke_bot):
    from twitter_text import parse_tweet

    posts = "date: 1917-11-07\nposts:\n" + "".join(
        f"  - time: \"{10 + i}:00\"\n    account: paper\n    text: {json.dumps(text, ensure_ascii=False)}\n" for i, text in enumerate(TRICKY)
    )
    make_feed(tmp_path, files={"t.yaml": posts})
    code, out, err = invoke_bot("preview", "--posts", "feed", "--format", "json", "--years-later", "110", cwd=tmp_path)
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["text"] for e in events] == TRICKY
    for event in events:
        assert event["length"] == parse_tweet(event["text"]).weightedLength, event["text"]


# --- files that are odd by name or emptiness ----------------------------------------------


def test_a_file_name_that_is_not_utf8_is_reported_without_a_traceback(tmp_path, make_feed, run_bot):
    root = make_feed(tmp_path)
    with open(os.path.join(os.fsencode(root), b"\xff\xfe.yaml"), "wb") as f:
        f.write(ONE_ERROR.encode())
    code, out, err = run_bot("check", "feed", cwd=tmp_path)  # stdout is strict UTF-8 here
    assert code == 1, err
    assert out.splitlines()[0] == "feed/\\udcff\\udcfe.yaml:1: error: impossible date 1917-02-30 in the gregorian calendar"
    assert "Traceback" not in err


def test_an_empty_post_file_is_only_a_warning(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"empty.yaml": "# nothing yet\n", "a.yaml": ONE_POST})
    code, out, err = invoke_bot("check", "feed", cwd=tmp_path)
    assert code == 0
    assert out.splitlines() == ["feed/empty.yaml:1: warning: empty post file (no posts)", "0 errors, 1 warning in 3 files (1 entry)"]


def test_the_platforms_the_registry_imports_directly_are_installed_entry_points():
    """The registry imports bot's own publishers without the entry-point scan: they must be registered."""
    from importlib.metadata import entry_points

    from bot import publishers

    registered = {ep.name: ep.value for ep in entry_points(group=publishers.GROUP)}
    assert {name: registered.get(name) for name in publishers.BUILTIN} == publishers.BUILTIN
    publishers._entry_points.cache_clear()
    assert publishers.known("x") and publishers._entry_points.cache_info().currsize == 0  # no scan for bot's own
    assert not publishers.known("no-such-network") and publishers._entry_points.cache_info().currsize == 1


def test_a_reply_due_with_its_parent_is_warned_about(tmp_path, make_feed, invoke_bot):
    feed = make_feed(tmp_path, files={"1917-11-06.yaml": """date: 1917-11-06
posts:
  - {time: "10:00", account: paper, id: root, text: Root}
  - {time: "10:00", account: crier, id: same, reply_to: root, text: At the same instant}
  - {time: "10:00:05", account: crier, id: soon, reply_to: root, text: Five seconds later}
  - {time: "10:01", account: crier, id: later, reply_to: root, text: A minute later}
"""})
    code, out, _ = invoke_bot("check", str(feed), cwd=tmp_path)
    assert code == 0
    warned = [line for line in out.splitlines() if ": warning:" in line]
    assert [w.split(":")[1] for w in warned] == ["4", "5"]
    assert "reply to 'root' is due 0 s after its parent: it waits for the parent's outcome" in warned[0]
