"""`bot check` from the first minute: a broken feed.yaml still lets the post files be
checked, and each message says what is wrong where the fix goes. Every case asserts
the exact output lines.

- A broken part of feed.yaml (time zone, calendar, accounts, personas, or the whole
  file) is reported once; the post files are checked for everything that does not
  depend on it, and what depends on it is skipped, never reported falsely.
- Tabs, unclosed quotes, time zone typos and case, reply_to typos, duplicate default
  ids and upper-case account keys each get a message with the fix.
- Three or more warnings of one kind in one file fold into one line (`--verbose`
  lists them all); errors never fold.
"""

from __future__ import annotations

import json

import time

import pytest

BASE = """\
title: Test feed
timezone: Europe/Berlin
accounts:
  paper: {platform: x, persona: daily}
  crier: {platform: console, persona: crier}
personas:
  daily: {name: The Daily}
  evening: {name: The Evening}
  crier: {name: Town Crier}
"""
ACCOUNTS = "  paper: {platform: x, persona: daily}\n  crier: {platform: console, persona: crier}\n"
PERSONAS = "  daily: {name: The Daily}\n  evening: {name: The Evening}\n  crier: {name: Town Crier}\n"

# one post file with one problem of each kind, each depending on another part of feed.yaml
MIXED = """\
date: 1917-11-07
posts:
  - {time: "25:00", account: paper, text: Bad time.}
  - {time: "10:00", account: nobody, text: Unknown account.}
  - {time: "11:00", account: paper, storm: nightly}
  - {time: "12:00", account: paper, txt: Misspelt key.}
  - {time: "13:00", account: paper, text: "%s"}
  - {date: 1700-02-29, time: "14:00", account: paper, text: Julian leap day.}
  - {date: 1917-02-30, time: "15:00", account: paper, text: No such day.}
""" % ("x" * 281)


def check(invoke_bot, tmp_path, *args) -> tuple[int, list[str]]:
    code, out, err = invoke_bot("check", "feed", "--years-later", "110", *args, cwd=tmp_path)
    assert all(line.startswith("replays ") for line in err.splitlines()) and "Traceback" not in out  # stderr: the span
    return code, out.splitlines()


# --- 1. a broken feed.yaml does not hide the post files' problems ----------------------------


def test_a_bad_time_zone_still_checks_everything_else(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE.replace("Europe/Berlin", "Europe/Berlim"), {"a.yaml": MIXED})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:2: error: unknown time zone 'Europe/Berlim' (did you mean 'Europe/Berlin'?)",
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:4: error: unknown account 'nobody'",
        "feed/a.yaml:5: error: storm to unknown persona 'nightly'",
        "feed/a.yaml:6: error: unknown key 'txt' in entry (did you mean 'text'?)",
        "feed/a.yaml:6: error: entry needs 'text' (only a storm entry may have none)",
        "feed/a.yaml:7: error: text is 281 characters on x, over its limit of 280",
        "feed/a.yaml:8: error: impossible date 1700-02-29 in the gregorian calendar",
        "feed/a.yaml:9: error: impossible date 1917-02-30 in the gregorian calendar",
        "9 errors, 0 warnings in 2 files (0 entries)",
    ])


def test_the_users_case_bad_zone_and_bad_time_both_reported_and_entries_counted(tmp_path, make_feed, invoke_bot):
    posts = 'date: 1917-11-07\nposts:\n  - {time: "25:00", account: paper, text: Bad.}\n  - {time: "10:00", account: paper, text: Good.}\n'
    make_feed(tmp_path, BASE.replace("Europe/Berlin", "Europe/Berlim"), {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:2: error: unknown time zone 'Europe/Berlim' (did you mean 'Europe/Berlin'?)",
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "2 errors, 0 warnings in 2 files (1 entry)",
    ])


def test_a_broken_accounts_section_skips_only_the_account_checks(tmp_path, make_feed, invoke_bot):
    feed = BASE.replace("accounts:\n" + ACCOUNTS, "accounts: [paper, crier]\n")
    make_feed(tmp_path, feed, {"a.yaml": MIXED})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:3: error: 'accounts' must be a mapping of account keys",
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:5: error: storm to unknown persona 'nightly'",
        "feed/a.yaml:6: error: unknown key 'txt' in entry (did you mean 'text'?)",
        "feed/a.yaml:6: error: entry needs 'text' (only a storm entry may have none)",
        "feed/a.yaml:8: error: impossible date 1700-02-29 in the gregorian calendar",
        "feed/a.yaml:9: error: impossible date 1917-02-30 in the gregorian calendar",
        "7 errors, 0 warnings in 2 files (2 entries)",  # 'nobody' and the long text: no account to hold them to
    ])


def test_a_broken_personas_section_skips_the_persona_checks(tmp_path, make_feed, invoke_bot):
    feed = BASE.replace("personas:\n" + PERSONAS, "personas: [daily, evening]\n")
    make_feed(tmp_path, feed, {"a.yaml": MIXED})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:6: error: 'personas' must be a mapping of persona keys",  # the accounts' personas: not called unknown
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:4: error: unknown account 'nobody'",
        "feed/a.yaml:6: error: unknown key 'txt' in entry (did you mean 'text'?)",
        "feed/a.yaml:6: error: entry needs 'text' (only a storm entry may have none)",
        "feed/a.yaml:7: error: text is 281 characters on x, over its limit of 280",
        "feed/a.yaml:8: error: impossible date 1700-02-29 in the gregorian calendar",
        "feed/a.yaml:9: error: impossible date 1917-02-30 in the gregorian calendar",
        "8 errors, 0 warnings in 2 files (1 entry)",  # the storm
    ])


def test_a_broken_calendar_accepts_a_date_of_either_calendar(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE + "calendar: julain\n", {"a.yaml": MIXED})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:10: error: unknown calendar 'julain' (use gregorian or julian) (did you mean 'julian'?)",
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:4: error: unknown account 'nobody'",
        "feed/a.yaml:5: error: storm to unknown persona 'nightly'",
        "feed/a.yaml:6: error: unknown key 'txt' in entry (did you mean 'text'?)",
        "feed/a.yaml:6: error: entry needs 'text' (only a storm entry may have none)",
        "feed/a.yaml:7: error: text is 281 characters on x, over its limit of 280",
        "feed/a.yaml:9: error: impossible date 1917-02-30 in either calendar (gregorian or julian)",
        "8 errors, 0 warnings in 2 files (1 entry)",  # 1700-02-29 exists in the Julian calendar
    ])


@pytest.mark.parametrize("feed_yaml, first", [
    ("title: x\ntimezone: [Europe/Berlin\n", "feed/feed.yaml:3: error: YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'"),
    ("- just\n- a list\n", "feed/feed.yaml:1: error: feed.yaml must be a mapping of settings"),
    (None, "feed/feed.yaml:1: error: feed.yaml is missing: every feed folder needs one (title, timezone, accounts, personas)"),
])
def test_a_feed_yaml_that_cannot_be_read_still_checks_syntax_keys_dates_and_times(tmp_path, make_feed, invoke_bot, feed_yaml, first):
    files = {"a.yaml": MIXED, "b.yaml": 'date: 1917-11-07\nposts:\n  - time: "10:00"\n    text: "open\n', "media/pic.png": b"\x89PNG"}
    files["c.yaml"] = 'date: 1917-11-08\nposts:\n  - {time: "10:00", account: paper, text: Pic., media: [media/pic.png, media/gone.png]}\n'
    make_feed(tmp_path, feed_yaml, files)
    assert check(invoke_bot, tmp_path) == (1, [
        first,
        "feed/a.yaml:3: error: impossible time '25:00': use HH:MM or HH:MM:SS (00:00 to 23:59:59)",
        "feed/a.yaml:6: error: unknown key 'txt' in entry (did you mean 'text'?)",
        "feed/a.yaml:6: error: entry needs 'text' (only a storm entry may have none)",
        "feed/a.yaml:9: error: impossible date 1917-02-30 in either calendar (gregorian or julian)",
        "feed/b.yaml:4: error: YAML syntax error: a quote (\") opens on this line and is never closed",
        "feed/c.yaml:3: warning: image 'media/pic.png' has no alt text",
        "feed/c.yaml:3: error: media file 'media/gone.png' not found",
        "7 errors, 1 warning in 4 files (4 entries)",  # the entry whose image is missing is left out
    ])


def test_with_a_broken_zone_duplicate_ids_and_replies_to_nothing_are_still_found(tmp_path, make_feed, invoke_bot):
    posts = """\
date: 1917-11-07
posts:
  - {time: "10:00", account: paper, id: first, text: One.}
  - {time: "11:00", account: paper, id: first, text: Two.}
  - {time: "12:00", account: crier, reply_to: frist, text: Typo.}
  - {time: "13:00", account: crier, id: self, reply_to: self, text: Itself.}
  - {time: "09:00", account: crier, reply_to: first, text: "Before its parent, but that needs the replay."}
"""
    make_feed(tmp_path, BASE.replace("Europe/Berlin", "Mars/Olympus"), {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:2: error: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Moscow)",
        "feed/a.yaml:4: error: duplicate id 'first' (first at feed/a.yaml:3)",
        "feed/a.yaml:5: error: reply_to 'frist' names no entry of this feed (did you mean 'first'?)",
        "feed/a.yaml:6: error: entry replies to itself",
        "4 errors, 0 warnings in 2 files (5 entries)",
    ])


def test_the_service_still_refuses_an_unusable_feed_yaml(tmp_path, make_feed):
    """load_config keeps its contract (None when unusable): only check sees the partial config."""
    from bot.feed.config import load_config, read_config

    root = make_feed(tmp_path, BASE.replace("personas:\n" + PERSONAS, "personas: [daily]\n"))
    config, problems = load_config(root / "feed.yaml", "feed.yaml", ["x", "console"])
    assert config is None and [d.message for d in problems] == ["'personas' must be a mapping of persona keys"]
    usable, partial, _ = read_config(root / "feed.yaml", "feed.yaml", ["x", "console"])
    assert usable is None and partial.personas is None and sorted(partial.accounts) == ["crier", "paper"]


# --- 2. messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, line, column", [
    ('date: 1917-11-07\nposts:\n  - time: "10:00"\n\taccount: paper\n    text: a tab above\n', 4, 1),
    ('date: 1917-11-07\nposts:\n  - time: "10:00"\n  \t  account: paper\n    text: a tab inside\n', 4, 3),
    ('date: 1917-11-07\n\tposts: []\n', 2, 1),
])
def test_a_tab_in_the_indentation_is_named_on_its_line(tmp_path, make_feed, invoke_bot, text, line, column):
    make_feed(tmp_path, BASE, {"a.yaml": text})
    assert check(invoke_bot, tmp_path) == (1, [
        f"feed/a.yaml:{line}: error: YAML syntax error: a tab in the indentation (column {column}): YAML indents with spaces only",
        "1 error, 0 warnings in 2 files (0 entries)",
    ])


def test_a_tab_after_the_indentation_is_fine(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE, {"a.yaml": 'date: 1917-11-07\nposts:\n  - time: "10:00"\n    account:\tpaper\n    text: ok\n'})
    assert check(invoke_bot, tmp_path) == (0, ["0 errors, 0 warnings in 2 files (1 entry)"])


UNCLOSED = 'date: 1917-11-07\nposts:\n  - time: {q}10:00{q}\n    account: paper\n    text: {q}an unclosed quote\n  - time: {later}\n    account: paper\n    text: fine\n'


@pytest.mark.parametrize("quote", ['"', "'"])
def test_an_unclosed_quote_is_reported_where_it_opens(tmp_path, make_feed, invoke_bot, quote):
    make_feed(tmp_path, BASE, {
        "a.yaml": UNCLOSED.format(q=quote, later=f"{quote}11:00{quote}"),  # closed by the next quote, a line later
        "b.yaml": UNCLOSED.format(q=quote, later="11:00"),  # never closed
    })
    assert check(invoke_bot, tmp_path) == (1, [
        f"feed/a.yaml:5: error: YAML syntax error: a quote ({quote}) opens on this line and is not closed on it:"
        f" YAML reads on to the next {quote} on line 6 and fails there",
        f"feed/b.yaml:5: error: YAML syntax error: a quote ({quote}) opens on this line and is never closed",
        "2 errors, 0 warnings in 3 files (0 entries)",
    ])


def test_a_quoted_text_over_several_lines_is_not_called_unclosed(tmp_path, make_feed, invoke_bot):
    posts = 'date: 1917-11-07\nposts:\n  - time: "10:00"\n    account: paper\n    text: "two\n      lines"\n  - time: "11:00"\n    account: paper\n    text: fine: no\n'
    make_feed(tmp_path, BASE, {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/a.yaml:9: error: YAML syntax error: mapping values are not allowed in this context",
        "1 error, 0 warnings in 2 files (0 entries)",
    ])


@pytest.mark.parametrize("zone, message", [
    ("Europe/Berlim", "unknown time zone 'Europe/Berlim' (did you mean 'Europe/Berlin'?)"),
    ("europe/berlin", "unknown time zone 'europe/berlin': zone names are case-sensitive, write 'Europe/Berlin'"),
    ("Berlin", "unknown time zone 'Berlin' (did you mean 'Europe/Berlin'?)"),
    ("America/New York", "unknown time zone 'America/New York' (did you mean 'America/New_York'?)"),
    ("Mars/Olympus", "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Moscow)"),
])
def test_time_zone_typos_and_case(tmp_path, make_feed, invoke_bot, zone, message):
    make_feed(tmp_path, BASE.replace("Europe/Berlin", zone))
    assert check(invoke_bot, tmp_path) == (1, [f"feed/feed.yaml:2: error: {message}", "1 error, 0 warnings in 1 file (0 entries)"])


def test_replay_timezone_gets_the_same_hint(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE + "replay_timezone: europe/moscow\n")
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:10: error: unknown time zone 'europe/moscow' in replay_timezone: zone names are case-sensitive, write 'Europe/Moscow'",
        "1 error, 0 warnings in 1 file (0 entries)",
    ])


def test_the_zone_names_are_read_once_and_only_for_an_unknown_zone(tmp_path, make_feed):
    from bot.feed import config

    config._zone_names.cache_clear()
    root = make_feed(tmp_path, BASE)
    config.load_config(root / "feed.yaml", "feed.yaml", ["x", "console"])
    assert config._zone_names.cache_info().currsize == 0  # a valid zone never lists them
    config.zone_hint("Europe/Berlim")
    config.zone_hint("Asia/Tokio")
    assert config._zone_names.cache_info().misses == 1


def test_a_reply_to_typo_gets_a_did_you_mean(tmp_path, make_feed, invoke_bot):
    posts = """\
date: 1917-11-07
posts:
  - {time: "10:00", account: paper, id: palace-taken, text: Taken.}
  - {time: "10:05", account: crier, reply_to: palace-taken2, text: One character too many.}
  - {time: "10:06", account: crier, reply_to: palace_taken, text: Underscore.}
  - {time: "10:07", account: crier, reply_to: Palace-Taken, text: Case.}
  - {time: "10:08", account: crier, reply_to: plaace-taken, text: Two swapped.}
  - {time: "10:02", account: paper, text: A default id.}
  - {time: "10:09", account: crier, reply_to: 1917-11-07T1001-paper, text: A default id a minute off.}
  - {time: "10:10", account: crier, reply_to: something-else-entirely, text: Nothing close.}
"""
    make_feed(tmp_path, BASE, {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/a.yaml:4: error: reply_to 'palace-taken2' names no entry of this feed (did you mean 'palace-taken'?)",
        "feed/a.yaml:5: error: reply_to 'palace_taken' names no entry of this feed (did you mean 'palace-taken'?)",
        "feed/a.yaml:6: error: reply_to 'Palace-Taken' names no entry of this feed (did you mean 'palace-taken'?)",
        "feed/a.yaml:7: error: reply_to 'plaace-taken' names no entry of this feed (did you mean 'palace-taken'?)",
        "feed/a.yaml:9: error: reply_to '1917-11-07T1001-paper' names no entry of this feed (did you mean '1917-11-07T1002-paper'?)",
        "feed/a.yaml:10: error: reply_to 'something-else-entirely' names no entry of this feed",
        "6 errors, 0 warnings in 2 files (8 entries)",
    ])


def test_the_reply_suggestion_is_quick_among_100000_alike_ids():
    from bot.feed.ids import Suggester

    ids = {f"{1660 + i // 5000}-{(i // 400) % 12 + 1:02d}-{(i // 14) % 28 + 1:02d}T{i % 24:02d}{(i * 7) % 60:02d}-acct{i % 3}" for i in range(100_000)}
    start = time.perf_counter()
    suggest = Suggester(ids)
    found = [suggest.closest(known[:-1] + "9") for known in sorted(ids)[:200:2]]  # the account number wrong
    assert time.perf_counter() - start < 5  # difflib: seconds for each
    assert all(f is not None and f[:-1] == k[:-1] for f, k in zip(found, sorted(ids)[:200:2]))


@pytest.mark.parametrize("time_a, time_b, message", [
    ("07:05", "07:05", "duplicate id '1989-11-09T0705-blatt' (first at feed/a.yaml:3): the default id of a post of 'blatt' at 07:05 on"
                       " 1989-11-09; give this entry an 'id:' of its own, or write its time with seconds (HH:MM:SS)"),
    ("07:05:30", "07:05:30", "duplicate id '1989-11-09T070530-blatt' (first at feed/a.yaml:3): the default id of a post of 'blatt' at 07:05:30"
                             " on 1989-11-09; give this entry an 'id:' of its own"),
])
def test_a_duplicate_default_id_says_to_add_an_id(tmp_path, make_feed, invoke_bot, time_a, time_b, message):
    posts = f'date: 1989-11-09\nposts:\n  - {{time: "{time_a}", account: blatt, text: One.}}\n  - {{time: "{time_b}", account: blatt, text: Two.}}\n'
    make_feed(tmp_path, BASE.replace("paper:", "blatt:"), {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [f"feed/a.yaml:4: error: {message}", "1 error, 0 warnings in 2 files (2 entries)"])


def test_a_written_duplicate_id_gets_no_default_id_hint(tmp_path, make_feed, invoke_bot):
    posts = 'date: 1989-11-09\nposts:\n  - {time: "07:05", account: paper, id: wall, text: One.}\n  - {time: "07:06", account: paper, id: wall, text: Two.}\n'
    make_feed(tmp_path, BASE, {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, ["feed/a.yaml:4: error: duplicate id 'wall' (first at feed/a.yaml:3)", "1 error, 0 warnings in 2 files (2 entries)"])


UPPER_POSTS = """\
date: 1917-11-07
posts:
  - {time: "10:00", account: telegraph, id: t1, text: One.}
  - {time: "10:05", account: telegraph, text: Two.}
  - {time: "10:10", account: telegraph, storm: evening}
  - {time: "10:15", account: crier, reply_to: t1, text: Reply.}
  - {time: "10:20", account: Telegraph, text: As feed.yaml spells it.}
  - {time: "10:25", account: TELEGRAPH, text: Neither spelling.}
"""


def test_an_upper_case_account_key_is_reported_once_and_kept_under_its_lower_case_key(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE.replace("paper:", "Telegraph:"), {"a.yaml": UPPER_POSTS})
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:4: error: account key 'Telegraph' must be lower case: write 'telegraph'"
        " (posts that name it 'Telegraph' must then say 'telegraph' too)",
        "feed/a.yaml:8: error: unknown account 'TELEGRAPH' (did you mean 'telegraph'?)",
        "2 errors, 0 warnings in 2 files (5 entries)",
    ])
    code, out, err = invoke_bot("preview", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    shown = [json.loads(line) for line in out.splitlines()]
    assert code == 1  # the problems, and the valid rest as it would go out under the lower-case key
    assert [(e["id"], e["account"]) for e in shown][:2] == [("t1", "telegraph"), ("1917-11-07T1005-telegraph", "telegraph")]
    assert "Neither spelling." not in out


def test_an_upper_case_key_beside_its_lower_case_twin_is_not_merged(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE.replace("  crier:", "  Paper: {platform: x, persona: daily}\n  crier:", 1))
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:5: error: account key 'Paper' must match [a-z0-9][a-z0-9_-]*",
        "1 error, 0 warnings in 1 file (0 entries)",
    ])
    make_feed(tmp_path, BASE.replace("  paper:", "  Paper:").replace("  crier:", "  PAPER: {platform: x, persona: daily}\n  crier:", 1))
    assert check(invoke_bot, tmp_path) == (1, [
        "feed/feed.yaml:4: error: account key 'Paper' must be lower case: write 'paper' (posts that name it 'Paper' must then say 'paper' too)",
        "feed/feed.yaml:5: error: account key 'PAPER' must match [a-z0-9][a-z0-9_-]*",
        "2 errors, 0 warnings in 1 file (0 entries)",
    ])


# --- folding repeated warnings ----------------------------------------------------------------

LEAP = "date: 1916-02-29\nposts:\n" + "".join(f'  - {{time: "{8 + i // 6:02d}:{i % 6 * 10:02d}", account: crier, text: Leap {i}.}}\n' for i in range(90))


def test_ninety_29_february_warnings_fold_into_one_line(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, BASE, {"leap.yaml": LEAP})
    assert check(invoke_bot, tmp_path) == (0, [
        "feed/leap.yaml:3: warning: 29 February does not exist in 2026: replayed on 2026-02-28 08:00:00"
        " (and 89 more like it in this file: lines 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, ...; bot check --verbose lists them)",
        "feed/leap.yaml:3: warning: 90 of 90 entries replay before now with years_later 110 (from --years-later):"
        " `bot run` would record them missed",
        "feed/leap.yaml:20: warning: account 'crier' has 18 posts within 24 hours of replay time, over the daily limit of 17",
        "0 errors, 92 warnings in 2 files (90 entries)",  # the summary counts every warning
    ])
    code, lines = check(invoke_bot, tmp_path, "--verbose")
    assert code == 0 and len(lines) == 93
    leaps = [line for line in lines if "29 February" in line]
    assert len(leaps) == 90 and leaps[:2] == [
        "feed/leap.yaml:3: warning: 29 February does not exist in 2026: replayed on 2026-02-28 08:00:00",
        "feed/leap.yaml:4: warning: 29 February does not exist in 2026: replayed on 2026-02-28 08:10:00",
    ]
    assert leaps[-1] == "feed/leap.yaml:92: warning: 29 February does not exist in 2026: replayed on 2026-02-28 22:50:00"
    assert lines[-1] == "0 errors, 92 warnings in 2 files (90 entries)"
    code, out, err = invoke_bot("preview", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert code == 0 and err.splitlines()[:-1] == check(invoke_bot, tmp_path)[1][:-1]  # preview folds them the same way (then its span)


def test_every_warning_kind_folds_per_file_and_two_alike_stay_two(tmp_path, make_feed, invoke_bot):
    gaps = "posts:\n" + "".join(f'  - {{date: 1917-03-28, time: "02:{m:02d}", account: paper, text: Gap {m}.}}\n' for m in (10, 20, 30))
    pics = "date: 1917-11-07\nposts:\n" + "".join(
        f'  - {{time: "1{i}:00", account: paper, text: Pic {i}., media: [media/{i}.png]}}\n' for i in range(3))
    two = "date: 1917-11-08\nposts:\n" + "".join(f'  - {{time: "1{i}:00", account: paper, text: Pic {i}., media: [media/{i}.png]}}\n' for i in range(2))
    files = {"gaps.yaml": gaps, "pics.yaml": pics, "two.yaml": two} | {f"media/{i}.png": b"\x89PNG" for i in range(3)}
    make_feed(tmp_path, BASE, files)
    assert check(invoke_bot, tmp_path) == (0, [
        "feed/gaps.yaml:2: warning: replay time falls in a daylight-saving gap in Europe/Berlin: moved to 2027-03-28 03:10:00"
        " (and 2 more like it in this file: lines 3, 4)",
        "feed/pics.yaml:3: warning: image 'media/0.png' has no alt text (and 2 more like it in this file: lines 4, 5)",
        "feed/two.yaml:3: warning: image 'media/0.png' has no alt text",
        "feed/two.yaml:4: warning: image 'media/1.png' has no alt text",
        "0 errors, 8 warnings in 4 files (8 entries)",
    ])


def test_the_daily_limit_warning_folds_too(tmp_path, make_feed, invoke_bot):
    posts = "posts:\n" + "".join(f'  - {{date: 1917-11-{d:02d}, time: "{h:02d}:00", account: paper, text: Post {d} {h}.}}\n'
                                 for d in (6, 8, 10, 12) for h in range(6, 10))  # four days apart: one warning each
    make_feed(tmp_path, BASE, {"all.yaml": posts})
    assert check(invoke_bot, tmp_path) == (0, ["0 errors, 0 warnings in 2 files (16 entries)"])
    out = invoke_bot("check", "feed", "--years-later", "110", cwd=tmp_path, env={"BOT_DAILY_LIMIT": "3"}).stdout
    assert out.splitlines() == [
        "feed/all.yaml:5: warning: account 'paper' has 4 posts within 24 hours of replay time, over the daily limit of 3"
        " (and 3 more like it in this file: lines 9, 13, 17)",
        "0 errors, 4 warnings in 2 files (16 entries)",
    ]


def test_errors_never_fold(tmp_path, make_feed, invoke_bot):
    posts = "date: 1917-11-07\nposts:\n" + "".join(f'  - {{time: "1{i}:00", account: nobody, text: Who {i}.}}\n' for i in range(4))
    make_feed(tmp_path, BASE, {"a.yaml": posts})
    assert check(invoke_bot, tmp_path) == (1, [f"feed/a.yaml:{3 + i}: error: unknown account 'nobody'" for i in range(4)]
                                           + ["4 errors, 0 warnings in 2 files (0 entries)"])


def test_folding_keeps_kinds_and_files_apart():
    from bot.feed.diagnostics import folded, kind, warning

    a = [warning("a.yaml", n, f"29 February does not exist in 2026: replayed on 2026-02-28 0{n}:00:00") for n in (3, 4, 5)]
    b = [warning("b.yaml", 3, "29 February does not exist in 2026: replayed on 2026-02-28 03:00:00")]
    other = warning("a.yaml", 6, "image 'x.png' has no alt text")
    assert kind(a[0].message) == kind(a[2].message) != kind(other.message)
    assert folded(a + [other] + b) == [
        "a.yaml:3: warning: 29 February does not exist in 2026: replayed on 2026-02-28 03:00:00 (and 2 more like it in this file: lines 4, 5)",
        "a.yaml:6: warning: image 'x.png' has no alt text",
        "b.yaml:3: warning: 29 February does not exist in 2026: replayed on 2026-02-28 03:00:00",
    ]
    assert folded(a, verbose=True) == [str(d) for d in a]
