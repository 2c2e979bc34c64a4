"""The bad-input corpus: every malformed file gets one located line, never a traceback.

Each file in tests/badinput/ is one case. It is dropped as `case.yaml` into a small
valid feed (BASE_POSTS below plus conftest's BASE_FEED), or replaces its feed.yaml
(then in a feed of no post files, so that only its own problems show).
Its first lines say what to expect and how to set the case up:

    # expect: LINE: FRAGMENT      `feed/case.yaml:LINE: error: ...FRAGMENT...`
    # as: feed.yaml               the file replaces feed.yaml (the error is located there)
    # setup: NAME [ARGS]          a runtime step (symlinks, huge or special files: see SETUPS)
    # feed-append: TEXT           a line added to the base feed.yaml

LINE counts the file's own lines, header included. For every case `bot check` and
`bot preview` exit 1, every diagnostic names the case's file (the base feed stays
clean), preview prints exactly what check prints, and for a dropped-in post file every
entry of the base feed is still in the timeline. In-process (CliRunner) for all cases,
as real subprocesses with their peak memory for a representative subset; the whole
corpus as subprocesses is marked slow.
"""

from __future__ import annotations

import json

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.examples import examples

CASES = Path(__file__).parent / "badinput"
TARGET = "case.yaml"
BASE_POSTS = """\
date: 1917-11-06
posts:
  - time: "09:00"
    account: paper
    id: base-morning
    text: Morning edition.
  - time: "10:00"
    account: crier
    id: base-crier
    text: Hear ye, hear ye.
  - time: "11:00"
    account: paper
    id: base-photo
    text: A picture of the square.
    media: [{file: media/ok.png, alt: A test image.}]
  - time: "12:00"
    account: paper
    id: base-reply
    reply_to: base-morning
    text: Noon follow-up.
  - time: "13:00"
    account: paper
    id: base-storm
    storm: evening
"""
BASE_IDS = {"base-morning", "base-crier", "base-photo", "base-reply", "base-storm"}
MEDIA = b"\x89PNG\r\n\x1a\n not really an image: the bot checks paths, not pixels"
MEMORY_LIMIT_MB = 200
SUMMARY = re.compile(r"\d+ errors?, \d+ warnings? in \d+ files? \(\d+ (entry|entries)\)\Z")


@dataclass
class Case:
    name: str
    data: bytes
    line: int
    fragment: str
    target: str = TARGET
    setups: list[list[str]] = field(default_factory=list)
    feed_append: list[str] = field(default_factory=list)

    @property
    def post_file(self) -> bool:
        return self.target == TARGET


def read_case(path: Path) -> Case:
    data = path.read_bytes()
    case = None
    setups, append, target = [], [], TARGET
    for raw in data.split(b"\n"):
        if not raw.startswith(b"# "):
            break
        key, _, value = raw[2:].decode("ascii").partition(": ")
        if key == "expect":
            line, _, fragment = value.partition(": ")
            case = (int(line), fragment)
        elif key == "as":
            target = value
        elif key == "setup":
            setups.append(value.split())
        elif key == "feed-append":
            append.append(value)
    assert case is not None, f"{path.name}: first line must be '# expect: LINE: FRAGMENT'"
    return Case(path.name, data, case[0], case[1], target, setups, append)


def all_cases() -> list[Case]:
    return [read_case(p) for p in sorted(CASES.iterdir()) if p.is_file()]


# --- runtime set-up steps --------------------------------------------------------


def _huge(root: Path, case: Case) -> None:
    """Over 10 MB of plain, valid-looking YAML (comments), written at runtime, never committed."""
    padding = b"# " + b"padding " * 12 + b"\n"
    with open(root / case.target, "wb") as f:
        f.write(case.data + b"date: 1917-11-07\nposts: []\n")
        f.write(padding * (11 * 1024 * 1024 // len(padding) + 1))


def _huge_sparse(root: Path, case: Case) -> None:
    """4 GiB that costs no disk: reading it whole would need 4 GiB of memory."""
    os.truncate(root / case.target, 4 << 30)


def _symlink(root: Path, case: Case, link: str, arrow: str, target: str) -> None:
    assert arrow == "->"
    path = root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _case_symlink(root: Path, case: Case, target: str) -> None:
    (root / case.target).unlink()
    os.symlink(target, root / case.target)


def _case_fifo(root: Path, case: Case) -> None:
    (root / case.target).unlink()
    os.mkfifo(root / case.target)


def _node_flood(root: Path, case: Case) -> None:
    """3 million one-character list items in 6 MB: composing them all would take gigabytes."""
    (root / case.target).write_bytes(case.data + b"date: 1917-11-07\nposts: [" + b"1," * 3_000_000 + b"1]\n")


def _deep_block(root: Path, case: Case) -> None:
    """100 nested block mappings: the mapping opened on line 3 + k is at depth k."""
    lines = [f"{'  ' * k}l{k}:" for k in range(100)]
    (root / case.target).write_bytes(case.data + "\n".join(lines).encode() + b"\n")


def _deep_flow(root: Path, case: Case) -> None:
    (root / case.target).write_bytes(case.data + b"date: 1917-11-07\nposts:\n  " + b"[" * 5000 + b"]" * 5000 + b"\n")


SETUPS = {
    "remove-feed": lambda root, case: (root / "feed.yaml").unlink(),
    "empty-feed": lambda root, case: (root / "feed.yaml").write_bytes(b""),
    "feed-directory": lambda root, case: ((root / "feed.yaml").unlink(), (root / "feed.yaml").mkdir()),
    "outside-file": lambda root, case: (root.parent / "outside.png").write_bytes(MEDIA),
    "symlink": _symlink,
    "case-symlink": _case_symlink,
    "case-fifo": _case_fifo,
    "huge": _huge,
    "huge-sparse": _huge_sparse,
    "node-flood": _node_flood,
    "deep-block": _deep_block,
    "deep-flow": _deep_flow,
}


def build(case: Case, tmp_path: Path, make_feed, base_feed: str) -> Path:
    feed_yaml = base_feed + "".join(line + "\n" for line in case.feed_append)
    files = {"media/ok.png": MEDIA}
    if case.post_file:  # a replaced feed.yaml stands alone: its own problems, not their echoes
        files["1917-11-06.yaml"] = BASE_POSTS
    root = make_feed(tmp_path, feed_yaml, files)
    (root / case.target).write_bytes(case.data)
    (root.parent / "outside.png").write_bytes(MEDIA)  # so "outside" never means "missing"
    for name, *args in case.setups:
        SETUPS[name](root, case, *args)
    return root


# --- assertions ------------------------------------------------------------------


SPAN = re.compile(r"(replays \d{4}-\d\d-\d\d \.\. \d{4}-\d\d-\d\d, years_later \d+\n)?\Z")


def assert_located(case: Case, out: str) -> None:
    """One line per problem, all of them in the case's file, the expected one among them."""
    lines = out.splitlines()
    assert lines, "no output"
    assert SUMMARY.match(lines[-1]), f"last line is not the summary: {lines[-1]!r}"
    where = f"feed/{case.target}:"
    located = re.compile(re.escape(where) + r"\d+: (error|warning): \S")
    stray = [line for line in lines[:-1] if not located.match(line)]
    assert not stray, f"lines not located in {case.target}: {stray[:3]}"
    expected = f"{where}{case.line}: error: "
    assert any(line.startswith(expected) and case.fragment in line for line in lines), (
        f"expected {expected}...{case.fragment}... in:\n" + "\n".join(lines[:20])
    )
    assert "Traceback" not in out


def assert_rest_shown(case: Case, stdout: str) -> None:
    """Preview shows the valid rest of the feed: every base entry, when the bad part is a post file."""
    shown = {json.loads(line)["id"] for line in stdout.splitlines()}
    if case.post_file:
        assert BASE_IDS <= shown, f"base entries not shown: {BASE_IDS - shown}"


def assert_rest_still_there(case: Case, root: Path) -> None:
    """A bad post file takes nothing else down: every base entry is still scheduled."""
    if not case.post_file:
        return
    from bot.load import load
    from bot.settings import Settings

    loaded = load(Settings(posts=root, display="feed", env={}), now=datetime(2000, 1, 1, tzinfo=UTC))
    assert loaded.timeline is not None
    scheduled = {event.id for event in loaded.timeline.events}
    assert BASE_IDS <= scheduled, f"base entries lost: {BASE_IDS - scheduled}"


CORPUS = all_cases()


def test_corpus_is_big_enough_and_well_formed():
    assert len(CORPUS) >= 55
    for case in CORPUS:
        assert case.target in (TARGET, "feed.yaml"), case.name
        assert all(name in SETUPS for name, *_ in case.setups), case.name


def test_base_feed_alone_is_clean(tmp_path, make_feed, invoke_bot, base_feed_yaml):
    make_feed(tmp_path, base_feed_yaml, {"1917-11-06.yaml": BASE_POSTS, "media/ok.png": MEDIA})
    code, out, err = invoke_bot("check", "--posts", "feed", cwd=tmp_path)
    assert (code, out) == (0, "0 errors, 0 warnings in 2 files (5 entries)\n")


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_case_in_process(case, tmp_path, make_feed, invoke_bot, base_feed_yaml):
    root = build(case, tmp_path, make_feed, base_feed_yaml)
    code, out, err = invoke_bot("check", "--posts", "feed", "--years-later", "110", cwd=tmp_path)
    assert code == 1, out
    assert_located(case, out)
    assert SPAN.match(err), err  # the replay span, when a timeline could be built
    code, pout, perr = invoke_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path)
    assert code == 1
    assert perr == out + err  # the same messages as check, on stderr
    assert_rest_shown(case, pout)  # and the valid rest on stdout
    assert_rest_still_there(case, root)


# as processes in the default run: where memory could blow up, and files that could hang a
# reader (a FIFO, /dev/zero); every case runs in process above, and as a process when slow
SUBPROCESS = [
    "alias-bomb.yaml", "alias-bomb-feed.yaml", "huge-file.yaml", "huge-sparse-file.yaml", "node-flood.yaml",
    "post-file-fifo.yaml", "post-file-symlink-to-dev-zero.yaml", "deep-nesting-block.yaml",
]
# the cases where memory could blow up: check and preview both, as processes
HEAVY = {"alias-bomb.yaml", "alias-bomb-feed.yaml", "huge-file.yaml", "huge-sparse-file.yaml", "node-flood.yaml"}


def _by_name(name: str) -> Case:
    return next(c for c in CORPUS if c.name == name)


def run_case_as_process(case: Case, tmp_path, make_feed, run_bot, base_feed, *, preview: bool) -> list[float]:
    build(case, tmp_path, make_feed, base_feed)
    check = run_bot("check", "--posts", "feed", "--years-later", "110", cwd=tmp_path, timeout=60, measure=True)
    assert check.code == 1, check.stdout + check.stderr
    assert_located(case, check.stdout)
    assert "Traceback" not in check.stderr and SPAN.match(check.stderr), check.stderr
    peaks = [check.peak_mb]
    if preview:
        shown = run_bot("preview", "--posts", "feed", "--years-later", "110", "--format", "json", cwd=tmp_path, timeout=60, measure=True)
        assert shown.code == 1
        assert shown.stderr == check.stdout + check.stderr
        assert_rest_shown(case, shown.stdout)
        peaks.append(shown.peak_mb)
    return peaks


@pytest.mark.parametrize("name", SUBPROCESS)
def test_case_as_subprocess(name, tmp_path, make_feed, run_bot, base_feed_yaml, record_property):
    case = _by_name(name)
    peaks = run_case_as_process(case, tmp_path, make_feed, run_bot, base_feed_yaml, preview=name in HEAVY)
    record_property("peak_mb", max(peaks))
    print(f"{name}: peak RSS {max(peaks):.1f} MB")
    assert max(peaks) < MEMORY_LIMIT_MB, f"{name}: peak memory {max(peaks):.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_every_case_as_subprocess(case, tmp_path, make_feed, run_bot, base_feed_yaml):
    peaks = run_case_as_process(case, tmp_path, make_feed, run_bot, base_feed_yaml, preview=True)
    assert max(peaks) < MEMORY_LIMIT_MB


# --- fuzzing: whatever YAML a post file or feed.yaml holds, no exception escapes ---

_ENTRY_KEYS = ["time", "account", "text", "id", "date", "media", "reply_to", "storm", "file", "alt", "posts", "x"]
_odd = st.sampled_from([
    "14:05", "25:00", "1²:00", "1917-02-30", "1917-11-06", "1700-02-29", "0001-01-01", "9999-12-31",
    "paper", "crier", "daily", "evening", "media/ok.png", "../x.png", "/etc/passwd", "media/\0", "", " ",
])
_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=30), _odd, st.dates(), st.datetimes())
_tree = st.recursive(_scalar, lambda c: st.one_of(st.lists(c, max_size=5), st.dictionaries(st.sampled_from(_ENTRY_KEYS), c, max_size=6)), max_leaves=25)
_entry = st.fixed_dictionaries(
    {"time": _scalar, "account": st.one_of(st.sampled_from(["paper", "crier"]), _tree), "text": st.one_of(st.text(max_size=300), _tree)},
    optional={k: _tree for k in ("date", "media", "storm", "reply_to", "id")},
)
_post_file = st.one_of(_tree, st.fixed_dictionaries({"posts": st.lists(_entry, max_size=4)}, optional={"date": _scalar}))


@settings(max_examples=examples(300), deadline=None, suppress_health_check=list(HealthCheck))
@given(_post_file, st.sampled_from(["gregorian", "julian"]))
def test_fuzzed_post_files_never_raise(doc, calendar):
    from bot.feed.postfile import FileContext, parse_post_file

    from bot import publishers

    networks = lambda p: ((p, publishers.load(p).limits),)  # noqa: E731
    context = FileContext(calendar, (("crier", networks("console")), ("paper", networks("x"))), frozenset({"daily", "evening", "crier"}))
    text = yaml.safe_dump(doc, allow_unicode=True)
    result = parse_post_file(text.encode("utf-8", "surrogatepass"), "case.yaml", context)
    for diagnostic in result.diagnostics:
        assert "\n" not in str(diagnostic)


_FEED_KEYS = ["title", "timezone", "calendar", "replay_timezone", "years_later", "accounts", "personas",
              "platform", "persona", "name", "bio", "avatar", "paper", "daily", "visibility", "max_chars"]
_feed_scalar = st.one_of(_scalar, st.sampled_from(["Europe/Berlin", "../../etc/passwd", "x", "console", "julian", "daily", "Factory"]))
_feed_tree = st.recursive(_feed_scalar, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.sampled_from(_FEED_KEYS), c, max_size=6)), max_leaves=30)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))
@given(_feed_tree)
def test_fuzzed_feed_yaml_never_raises(tmp_path_factory, doc):
    from bot.feed.config import load_config

    path = tmp_path_factory.mktemp("fuzz") / "feed.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8", errors="surrogatepass")
    config, diagnostics = load_config(path, "feed.yaml", ["console", "x"])
    assert config is not None or any(d.is_error for d in diagnostics)
