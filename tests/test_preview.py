"""`bot preview`: goldens of the sample feed, the JSON contract, order, storms, filters,
colour, and invalid feeds.

Goldens live in tests/golden/; after an intended change to the sample feed or to the
output, rewrite them with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_preview.py` and
review the diff.
"""

from __future__ import annotations

import difflib
import json
import os
import pty
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
CONTRACT_KEYS = ["id", "kind", "account", "persona", "storm", "historical", "scheduled", "text", "media", "reply_to", "length"]
JSON_KEYS = CONTRACT_KEYS + ["platforms"]  # issue 7 adds platforms
SAMPLE_ACCOUNTS = {"telegraph", "kerensky", "lenin", "mrc"}


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def ids_of(stdout: str) -> list[str]:
    return [event["id"] for event in events_of(stdout)]


@pytest.fixture(scope="module")
def sample(run_bot, repo_root):
    """(json, text) previews of posts/ with --years-later 110, or a skip while posts/ is unfinished."""
    check = run_bot("check", "--posts", "posts", cwd=repo_root)
    if check.code != 0:
        pytest.skip(f"posts/ is not a valid feed yet: {check.stdout.splitlines()[-1:]}")
    shown = run_bot("preview", "--posts", "posts", "--years-later", "110", "--format", "json", cwd=repo_root)
    assert shown.code == 0, shown.stderr
    events = events_of(shown.stdout)
    accounts = {e["account"] for e in events}
    storms = [e for e in events if e["account"] == "telegraph" and e["storm"]]
    if len(events) < 30 or not SAMPLE_ACCOUNTS <= accounts or not storms:
        pytest.skip(f"posts/ is not complete yet ({len(events)} entries, accounts {sorted(accounts)}, {len(storms)} telegraph storms)")
    text = run_bot("preview", "--posts", "posts", "--years-later", "110", cwd=repo_root, env={"NO_COLOR": "1"})
    assert text.code == 0, text.stderr
    return shown.stdout, text.stdout


def compare_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"no golden {path}: run UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_preview.py"
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "golden", "actual", n=1))
        pytest.fail(f"{name} differs from its golden (UPDATE_GOLDEN=1 to accept):\n{diff[:4000]}")


# --- the sample feed -------------------------------------------------------------------


def test_sample_text_golden(sample):
    compare_golden("sample-preview.txt", sample[1])


def test_sample_json_golden(sample):
    compare_golden("sample-preview.jsonl", sample[0])


@pytest.mark.filterwarnings("ignore:pkg_resources is deprecated")
def test_sample_json_follows_the_contract(sample, repo_root):
    from bot.publishers.lengths import twitterdata

    twitterdata.load_library()  # twitter_text needs pkg_resources (setuptools < 81) unless lent a stand-in
    from twitter_text import parse_tweet

    events = events_of(sample[0])
    seen = set()
    for event in events:
        assert list(event) == JSON_KEYS
        assert event["kind"] in ("post", "storm")
        assert (event["text"] is None) == (event["kind"] == "storm")
        assert event["length"] == (0 if event["text"] is None else parse_tweet(event["text"]).weightedLength)
        assert event["platforms"] == ["x"]
        assert event["storm"] is None or event["persona"] == event["storm"]
        assert event["reply_to"] is None or event["reply_to"] in seen, "a reply after its parent"
        for media in event["media"]:
            assert (repo_root / "posts" / media).is_file()
        # Moscow has no DST and the sample has no 29 February: the wall-clock is kept, 110 years on
        historical = datetime.fromisoformat(event["historical"])
        scheduled = datetime.fromisoformat(event["scheduled"])
        assert scheduled.replace(tzinfo=None) == historical.replace(year=historical.year + 110)
        assert scheduled.utcoffset().total_seconds() == 3 * 3600
        assert event["id"] not in seen
        seen.add(event["id"])
    instants = [datetime.fromisoformat(e["scheduled"]) for e in events]
    assert instants == sorted(instants)


def test_sample_telegraph_switches_persona_at_the_storm(sample):
    telegraph = [e for e in events_of(sample[0]) if e["account"] == "telegraph"]
    storms = [i for i, e in enumerate(telegraph) if e["storm"]]
    assert len(storms) == 1
    at = storms[0]
    assert telegraph[at]["storm"] == "revolutionary-times" == telegraph[at]["persona"]
    assert at > 0 and at < len(telegraph) - 1, "posts before and after the storm"
    assert {e["persona"] for e in telegraph[:at]} == {"russian-telegraph"}
    assert {e["persona"] for e in telegraph[at:]} == {"revolutionary-times"}
    assert "telegraph is now Revolutionary Times" in sample[1]


def test_sample_text_shows_replies_media_and_days(sample):
    text = sample[1]
    assert "\x1b[" not in text
    assert "↳ reply to " in text
    assert "[image media/" in text
    for day in ("Saturday 06 November 2027", "Sunday 07 November 2027", "Monday 08 November 2027"):
        assert day in text


# --- order ---------------------------------------------------------------------------


def test_ties_keep_file_path_order_then_position(tmp_path, make_feed, invoke_bot):
    def entry(i, t):
        return f'  - {{time: "{t}", account: crier, id: {i}, text: "{i}"}}\n'

    make_feed(tmp_path, files={
        "b.yaml": "date: 1917-11-07\nposts:\n" + entry("b1", "10:00") + entry("b2", "10:00") + entry("b0", "09:00"),
        "a/z.yaml": "date: 1917-11-07\nposts:\n" + entry("az", "10:00"),
        "c.yaml": "date: 1917-11-07\nposts:\n" + entry("c1", "10:00") + entry("c0", "09:59:59"),
    })
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert code == 0, err
    assert ids_of(out) == ["b0", "c0", "az", "b1", "b2", "c1"]


def test_order_is_by_replay_instant_even_when_a_gap_reorders(tmp_path, make_feed, invoke_bot):
    """02:30 falls in Berlin's 2027 spring gap and goes out at 03:30, after the 03:10 entry."""
    make_feed(tmp_path, files={"gap.yaml": (
        "date: 1917-03-28\nposts:\n"
        '  - {time: "02:30", account: crier, id: in-gap, text: "Written at 02:30."}\n'
        '  - {time: "03:10", account: crier, id: after-gap, text: "Written at 03:10."}\n'
    )})
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert code == 0
    events = events_of(out)
    assert [e["id"] for e in events] == ["after-gap", "in-gap"]
    assert events[1]["scheduled"] == "2027-03-28T03:30:00+02:00"
    assert events[1]["historical"] == "1917-03-28T02:30:00"
    assert "daylight-saving gap" in err  # the warning goes to stderr, the JSON stays clean


# --- storms, kinds and JSON details on a small feed -------------------------------------------

STORMY = """\
date: 1917-11-07
posts:
  - {time: "09:00", account: paper, id: before, text: "Still the daily."}
  - {time: "10:00", account: paper, id: turn, storm: evening}
  - {time: "11:00", account: paper, id: after, text: "Now the evening paper.", media: [{file: media/p.png, alt: "A press."}]}
  - {time: "12:00", account: crier, id: echo, reply_to: after, text: "Hear ye."}
  - {time: "13:00", account: paper, id: back, storm: daily, text: "Back to the daily."}
"""


def test_storms_and_kinds_in_json(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"s.yaml": STORMY, "media/p.png": b"\x89PNG"})
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert (code, err) == (0, "replays 2027-11-07 .. 2027-11-07, years_later 110\n")
    events = {e["id"]: e for e in events_of(out)}
    assert [(e["kind"], e["persona"], e["storm"]) for e in events.values()] == [
        ("post", "daily", None),
        ("storm", "evening", "evening"),
        ("post", "evening", None),
        ("post", "crier", None),
        ("post", "daily", "daily"),
    ]
    assert events["turn"]["text"] is None and events["turn"]["length"] == 0
    assert events["after"]["media"] == ["media/p.png"]
    assert events["echo"]["reply_to"] == "after"
    assert events["echo"]["platforms"] == ["console"] and events["echo"]["length"] == len("Hear ye.")
    assert events["before"]["scheduled"] == "2027-11-07T09:00:00+01:00"


def test_storms_and_replies_in_text(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"s.yaml": STORMY, "media/p.png": b"\x89PNG"})
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", cwd=tmp_path)
    assert code == 0
    assert out.splitlines() == [
        "Sunday 07 November 2027 (Europe/Berlin)",
        "  09:00  The Daily @paper  [before]",
        "         Still the daily.",
        "  10:00  *** paper is now The Evening (was The Daily) ***",
        "  11:00  The Evening @paper  [after]",
        "         Now the evening paper.",
        "         [image media/p.png: A press.]",
        "  12:00  Town Crier @crier  [echo]",
        "         ↳ reply to after",
        "         Hear ye.",
        "  13:00  *** paper is now The Daily (was The Evening) ***",
        "  13:00  The Daily @paper  [back]",
        "         Back to the daily.",
    ]


# --- filters ---------------------------------------------------------------------------

DAYS = """\
posts:
  - {date: 1917-11-06, time: "09:00", account: paper, id: p1, text: one}
  - {date: 1917-11-06, time: "23:59:59", account: crier, id: c1, text: two}
  - {date: 1917-11-07, time: "00:00", account: paper, id: p2, text: three}
  - {date: 1917-11-07, time: "10:00", account: crier, id: c2, text: four}
  - {date: 1917-11-07, time: "23:59:59", account: paper, id: p3, text: five}
  - {date: 1917-11-08, time: "00:00", account: crier, id: c3, text: six}
"""


@pytest.fixture
def days_feed(tmp_path, make_feed):
    make_feed(tmp_path, files={"days.yaml": DAYS})
    return tmp_path


@pytest.mark.parametrize(
    "args, ids",
    [
        ([], ["p1", "c1", "p2", "c2", "p3", "c3"]),
        (["--from", "2027-11-07"], ["p2", "c2", "p3", "c3"]),
        (["--until", "2027-11-07"], ["p1", "c1", "p2", "c2", "p3"]),
        (["--from", "2027-11-07", "--until", "2027-11-07"], ["p2", "c2", "p3"]),
        (["--from", "2027-11-07T10:00"], ["c2", "p3", "c3"]),  # inclusive
        (["--until", "2027-11-07T10:00"], ["p1", "c1", "p2", "c2"]),  # inclusive
        (["--from", "2027-11-07T09:00:00+00:00"], ["c2", "p3", "c3"]),  # 10:00 in Berlin
        (["--from", "2027-11-07T10:00:01"], ["p3", "c3"]),
        (["--account", "crier"], ["c1", "c2", "c3"]),
        (["--account", "crier", "--account", "paper"], ["p1", "c1", "p2", "c2", "p3", "c3"]),
        (["--account", "paper", "--from", "2027-11-07", "--until", "2027-11-07"], ["p2", "p3"]),
        (["--from", "2027-11-09"], []),
    ],
)
def test_filters(days_feed, invoke_bot, args, ids):
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", *args, cwd=days_feed)
    assert code == 0, err
    assert ids_of(out) == ids


def test_filters_in_text(days_feed, invoke_bot):
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--account", "crier", "--from", "2027-11-07", cwd=days_feed)
    assert code == 0
    assert "[c2]" in out and "[c3]" in out
    assert "@paper" not in out and "[c1]" not in out
    assert out.splitlines()[0] == "Sunday 07 November 2027 (Europe/Berlin)"
    assert "" in out.splitlines()  # a blank line between days
    assert "Monday 08 November 2027 (Europe/Berlin)" in out


@pytest.mark.parametrize(
    "args, says",
    [
        (["--account", "nobody"], "the feed has no account 'nobody'"),
        (["--from", "yesterday"], "'yesterday' is not an ISO date"),
        (["--until", "2027-13-01"], "is not an ISO date"),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_options_are_usage_errors(days_feed, invoke_bot, args, says):
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", *args, cwd=days_feed)
    assert code == 2
    assert says in err and out == ""
    assert "Traceback" not in err


# --- colour --------------------------------------------------------------------------------


def run_on_a_terminal(args, cwd, env) -> tuple[int, str]:
    """Run `bot` with its stdout on a pseudo-terminal; returns (exit code, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_only_and_never_with_no_color(tmp_path, make_feed, bot_env, run_bot):
    make_feed(tmp_path, files={"s.yaml": STORMY, "media/p.png": b"\x89PNG"})
    args = ["preview", "--posts", "feed", "--years-later", "110"]
    code, shown = run_on_a_terminal(args, tmp_path, bot_env())
    assert code == 0
    assert "\x1b[" in shown and "Still the daily." in shown
    code, shown = run_on_a_terminal(args, tmp_path, bot_env({"NO_COLOR": "1"}))
    assert code == 0
    assert "\x1b[" not in shown and "Still the daily." in shown
    code, out, err = run_bot(*args, cwd=tmp_path)  # a pipe, not a terminal
    assert code == 0
    assert "\x1b[" not in out and "Still the daily." in out


# --- invalid feeds ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_an_invalid_feed_prints_what_check_prints_and_exits_1(tmp_path, make_feed, invoke_bot, fmt):
    make_feed(tmp_path, files={
        "a.yaml": 'date: 1917-02-30\nposts:\n  - {time: "10:00", account: paper, text: x}\n',
        "b.yaml": 'date: 1917-11-07\nposts:\n  - {time: "10:00", account: paper, text: ok, media: [{file: gone.png}]}\n',
    })
    check = invoke_bot("check", "--posts", "feed", "--years-later", "110", cwd=tmp_path)
    shown = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", fmt, cwd=tmp_path)
    assert check.code == shown.code == 1
    assert shown.stdout == ""  # the valid rest: nothing here
    assert shown.stderr == check.stdout + check.stderr
    assert check.stdout.splitlines()[:2] == [
        "feed/a.yaml:1: error: impossible date 1917-02-30 in the gregorian calendar",
        "feed/b.yaml:3: error: media file 'gone.png' not found",
    ]


def test_warnings_go_to_stderr_and_preview_still_runs(tmp_path, make_feed, invoke_bot):
    make_feed(tmp_path, files={"w.yaml": 'date: 1916-02-29\nposts:\n  - {time: "12:00", account: paper, text: "Leap."}\n'})
    code, out, err = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert code == 0
    assert err.splitlines() == [
        "feed/w.yaml:3: warning: 29 February does not exist in 2026: replayed on 2026-02-28 12:00:00",
        "feed/w.yaml:3: warning: 1 of 1 entries replay before now with years_later 110 (from --years-later): `bot run` would record them missed",
        "replays 2026-02-28 .. 2026-02-28, years_later 110",
    ]
    assert events_of(out)[0]["scheduled"] == "2026-02-28T12:00:00+01:00"
    assert events_of(out)[0]["historical"] == "1916-02-29T12:00:00"
