"""`bot import lines`: line-per-post diaries become feeds; the Pepys corpus when present."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.importers.cli import import_group
from bot.importers.lines import read_lines
from bot.importers.yamlout import quote
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "import"
DIARY = FIXTURES / "lines"
EXPECTED = FIXTURES / "expected" / "lines"
PEPYS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora" / "pepys"
ARGS = ["--account", "wire", "--name", "Telegraph Wire", "--timezone", "Europe/Moscow"]


def run(*args):
    return CliRunner().invoke(import_group, [str(a) for a in args], prog_name="bot import")


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def bot_check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "check", str(folder)], capture_output=True, text=True, timeout=300)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def texts(out: Path) -> list[tuple[str, str, str]]:
    """(date, time, text) of every entry, in file order."""
    found = []
    for path in sorted(out.glob("*-*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        found += [(str(doc["date"]), p["time"], p["text"]) for p in doc["posts"]]
    return found


def test_fixture_imports_to_exactly_the_expected_files(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "feed"
    result = run("lines", "tests/fixtures/import/lines", "--out", out, *ARGS, "--verbose")
    assert result.exit_code == 0, result.output
    assert files(out) == files(EXPECTED)
    shown = "tests/fixtures/import/lines/diary"
    assert result.stderr == f"{shown}/1917-11.txt:7: warning: looks like a post but 25:70 is not a time of day; line skipped\n"
    assert result.stdout.splitlines() == [
        f"{shown}/1917-11.txt:1: skipped: YYYY-MM-DD HH:MM r 1234567890123456789012345678901234567890",
        f"{shown}/1917-11.txt:2: skipped: Telegraph wire, November 1917, newest first.",
        f"{shown}/1917-11.txt:7: skipped: 1917-11-07 25:70   The palace is quiet.",
        f"{shown}/1917-11.txt:10: skipped: -- end of the evening wire --",
        f"{shown}/winter/1917-12.txt:1: skipped: Telegraph wire, December 1917, oldest first.",
        f"{shown}/winter/1917-12.txt:6: skipped: not a post: 1917-12-02 08:45 nothing here",
        f"wrote 10 entries (1 thread) in 4 days to {out}; skipped 6 lines that are not posts"
        " (1 malformed, see the warnings above)",
    ]


def test_without_verbose_only_the_summary_is_printed(tmp_path):
    result = run("lines", DIARY, "--out", tmp_path / "feed", *ARGS)
    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("wrote 10 entries")


def entries(folder: Path) -> list[dict]:
    found = []
    for path in sorted(folder.glob("19*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        found += [dict(p, date=str(doc["date"])) for p in doc["posts"]]
    return found


def test_expected_files_follow_time_and_replies_across_files():
    posts = entries(EXPECTED)
    assert [(p["date"], p["time"]) for p in posts] == [
        ("1917-11-07", "09:00"), ("1917-11-07", "21:40"), ("1917-11-07", "21:45"), ("1917-11-07", "21:45"),
        ("1917-11-07", "21:50"), ("1917-11-08", "02:10"), ("1917-11-08", "02:10"),
        ("1917-12-01", "09:00"), ("1917-12-01", "12:00"), ("1917-12-02", "08:30"),
    ]
    by_id = {p["id"]: i for i, p in enumerate(posts) if "id" in p}
    parent = [by_id.get(p.get("reply_to")) for p in posts]
    # 21:45 replies to 21:40 and is a two-part thread; extra.txt's 21:50 answers the thread's last part;
    # the newest-first pair at 02:10 keeps its time order; December's first post answers November's last
    assert parent == [None, None, 1, 2, 3, None, 5, 6, None, None]
    assert posts[4]["text"] == "yes" and posts[9]["text"] == "null"
    assert posts[7]["text"] == "@Kerensky has still not been found." and posts[7]["time"] == "09:00"
    assert posts[8]["text"].startswith("No: ")
    assert posts[6]["id"] == "1917-11-08T0210-wire-2"  # two posts in one minute: the second gets -2


def test_second_run_refuses_then_force_gives_identical_bytes(tmp_path):
    out = tmp_path / "feed"
    assert run("lines", DIARY, "--out", out, *ARGS).exit_code == 0
    first = files(out)
    again = run("lines", DIARY, "--out", out, *ARGS)
    assert again.exit_code == 1
    assert re.search(r"1917-1\d-\d\d\.yaml already exists \(and 3 more\); use --force to overwrite", again.stderr)
    assert "Traceback" not in again.output
    forced = run("lines", DIARY, "--out", out, *ARGS, "--force")
    assert forced.exit_code == 0
    assert files(out) == first


def test_a_single_file_oldest_first(tmp_path):
    diary = write(tmp_path / "my-diary.log", "2020-01-01 10:00 A.\n2020-01-01 10:05 r B.\n2020-01-02 09:00 C.\n")
    out = tmp_path / "feed"
    result = run("lines", diary, "--out", out, "--account", "me")
    assert result.exit_code == 0, result.output
    assert texts(out) == [("2020-01-01", "10:00", "A."), ("2020-01-01", "10:05", "B."), ("2020-01-02", "09:00", "C.")]
    assert yaml.safe_load((out / "feed.yaml").read_text(encoding="utf-8"))["title"] == "My diary"


def test_julian_leap_day_is_a_date_only_in_the_julian_calendar(tmp_path):
    diary = write(tmp_path / "d" / "1700.txt", "1700-02-29 12:00   Leap day, Old Style.\n")
    julian = run("lines", diary.parent, "--out", tmp_path / "julian", "--account", "me", "--calendar", "julian")
    assert julian.exit_code == 0, julian.output
    assert texts(tmp_path / "julian") == [("1700-02-29", "12:00", "Leap day, Old Style.")]
    assert "calendar: \"julian\"" in (tmp_path / "julian" / "feed.yaml").read_text(encoding="utf-8")
    # not a Gregorian date: quoted so that plain YAML readers do not choke on it; bot check accepts it
    assert (tmp_path / "julian" / "1700-02-29.yaml").read_text(encoding="utf-8").startswith('date: "1700-02-29"\n')
    assert bot_check(tmp_path / "julian").returncode == 0
    gregorian = run("lines", diary.parent, "--out", tmp_path / "gregorian", "--account", "me")
    assert gregorian.exit_code == 0
    assert f"{diary}:1: warning: looks like a post but 1700-02-29 is not a date in the gregorian calendar" in gregorian.stderr
    assert "wrote 0 entries" in gregorian.stdout


def test_reply_marker_on_the_earliest_post_is_a_warning(tmp_path):
    diary = write(tmp_path / "d.txt", "2020-01-01 10:05   Later.\n2020-01-01 10:00 r First.\n")
    result = run("lines", diary, "--out", tmp_path / "feed", "--account", "me")
    assert result.exit_code == 0
    assert f"{diary}:2: warning: reply marker 'r' on the earliest post" in result.stderr
    assert "reply_to" not in "".join((tmp_path / "feed").joinpath(n).read_text() for n in ["2020-01-01.yaml"])


def test_marker_needs_exactly_one_space_before_it(tmp_path):
    diary = write(tmp_path / "d.txt", "2020-01-01 10:00 A.\n2020-01-01 10:01   r is a letter.\n2020-01-01 10:02\tr\tB.\n")
    posts = read_lines(diary, "d.txt").posts
    assert [(p.text, p.reply) for p in posts] == [("A.", False), ("r is a letter.", False), ("B.", True)]


def test_crlf_bom_and_unicode_text(tmp_path):
    diary = tmp_path / "d.txt"
    diary.write_bytes("\ufeff2020-01-01 10:00   Café “quoted” 日本 😀\r\n2020-01-01 11:00 r \\back\\slash\r\n".encode())
    out = tmp_path / "feed"
    assert run("lines", diary, "--out", out, "--account", "me").exit_code == 0
    assert [t for *_, t in texts(out)] == ["Café “quoted” 日本 😀", "\\back\\slash"]


def test_not_utf8_is_a_located_error_and_nothing_is_written(tmp_path):
    write(tmp_path / "in" / "a.txt", "2020-01-01 10:00 Fine.\n")
    (tmp_path / "in" / "b.txt").write_bytes(b"2020-01-02 10:00 Fine.\n2020-01-03 10:00 Caf\xe9\n")
    out = tmp_path / "feed"
    result = run("lines", tmp_path / "in", "--out", out, "--account", "me")
    assert result.exit_code == 1
    assert f"{tmp_path / 'in' / 'b.txt'}:2: error: not valid UTF-8" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_folder_without_txt_files_is_an_error(tmp_path):
    write(tmp_path / "in" / "notes.md", "2020-01-01 10:00 Not read.\n")
    result = run("lines", tmp_path / "in", "--out", tmp_path / "feed", "--account", "me")
    assert result.exit_code == 1
    assert "no *.txt files here" in result.stderr


@given(st.text(max_size=80))
@settings(max_examples=examples(300), deadline=None)
def test_property_quoted_strings_read_back_exactly(text):
    for loader in (yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        assert yaml.load(f"key: {quote(text)}\n", Loader=loader) == {"key": text}


@pytest.mark.parametrize("word", ["yes", "No", "null", "~", "12:30", "1917-11-06", "@name", "- x", "#", "0x1F", "1e3", "'", ""])
def test_tricky_strings_stay_strings(word):
    assert yaml.safe_load(f"- {quote(word)}\n") == [word]


def test_bot_check_accepts_the_import(tmp_path):
    out = tmp_path / "feed"
    assert run("lines", DIARY, "--out", out, *ARGS).exit_code == 0
    checked = bot_check(out)
    assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the Pepys corpus ----------------------------------------------------------

pepys = pytest.mark.skipif(not (PEPYS / "posts").is_dir(), reason="../shared/corpora/pepys/ is not here")
PEPYS_ARGS = ["--account", "pepys", "--name", "Samuel Pepys", "--calendar", "julian", "--timezone", "Europe/London"]


@pytest.fixture(scope="module")
def pepys_import(tmp_path_factory):
    out = tmp_path_factory.mktemp("pepys") / "feed"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        result = run("lines", "../shared/corpora/pepys/posts", "--out", out, *PEPYS_ARGS)
    return out, result


@pepys
def test_pepys_imports_every_post_and_reply(pepys_import):
    out, result = pepys_import
    assert result.exit_code == 0, result.output
    assert re.match(r"wrote 14252 entries \(0 threads\) in \d+ days to .*; skipped \d+ lines", result.stdout)
    ids, replies, entries = set(), 0, 0
    for path in sorted(out.glob("16*.yaml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entries += line.startswith("  - time: ")
            if line.startswith("    id: "):
                ids.add(line[8:])
            elif line.startswith("    reply_to: "):
                replies += 1
                assert line[14:] in ids, f"{path.name}: reply to an unknown or later entry"
    assert (entries, replies) == (14252, 4085)
    assert "calendar: \"julian\"" in (out / "feed.yaml").read_text(encoding="utf-8")
    assert (out / "1660-02-29.yaml").is_file()


@pepys
def test_pepys_malformed_lines_are_reported_with_file_and_line(pepys_import):
    _, result = pepys_import
    assert "../shared/corpora/pepys/posts/1660/03.txt:135: warning: looks like a post but the time '16:200' is not HH:MM" in result.stderr
    assert "Traceback" not in result.output


@pepys
def test_pepys_import_passes_bot_check(pepys_import):
    out, _ = pepys_import
    checked = bot_check(out)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "0 errors" in checked.stdout + checked.stderr


@pepys
def test_pepys_import_again_with_force_gives_identical_files(pepys_import, monkeypatch):
    out, _ = pepys_import
    first = files(out)
    monkeypatch.chdir(ROOT)
    again = run("lines", "../shared/corpora/pepys/posts", "--out", out, *PEPYS_ARGS, "--force")
    assert again.exit_code == 0
    assert files(out) == first


@pytest.mark.parametrize(
    "line, message",
    [
        ("1660-03-19 16:200 r Going home.", "the time '16:200' is not HH:MM"),
        ("1662-09-2t 07:50   To Sir W. Batten.", "the date '1662-09-2t' is not YYYY-MM-DD"),
        ("1917-02-30 10:00 Impossible.", "1917-02-30 is not a date in the gregorian calendar"),
        ("1917-11-07 24:00 Midnight?", "24:00 is not a time of day"),
        ("1917-11-07 21:40", "it has no text"),
        ("1917-11-07 21:40 r", "the reply has no text"),
        ("1917/11/07 21:40 Slashes.", "the date '1917/11/07' is not YYYY-MM-DD"),
    ],
)
def test_lines_that_look_like_posts_but_do_not_parse_are_warned(tmp_path, line, message):
    diary = write(tmp_path / "d.txt", f"2020-01-01 10:00 Fine.\n{line}\n")
    found = read_lines(diary, "d.txt")
    assert [str(d) for d in found.diagnostics] == [f"d.txt:2: warning: looks like a post but {message}; line skipped"]
    assert found.malformed == 1 and [s.line for s in found.skipped] == [2]
    assert [p.text for p in found.posts] == ["Fine."]


@pytest.mark.parametrize("line", ["YYYY-MM-DD HH:MM r 1234", "Dear diary,", "2017 was a year.", ".", "10:00 no date"])
def test_other_lines_are_skipped_quietly(tmp_path, line):
    found = read_lines(write(tmp_path / "d.txt", f"{line}\n\n   \n"), "d.txt")
    assert found.diagnostics == [] and found.posts == []
    assert [(s.line, s.text) for s in found.skipped] == [(1, line)]  # blank lines are not counted
