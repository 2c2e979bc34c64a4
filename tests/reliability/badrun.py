"""Bad-input engine: `bot run --dry-run` on the bad-input corpus of tests/badinput/.

Each case is built as tests/test_badinput.py builds it (the case's file dropped
into a small valid feed, or replacing its feed.yaml), then rehearsed fast in
dry-run mode. A bad post file must not take the valid rest down: every base entry
is published (posted, or switched for the text-less storm) and the case's problem
is reported in the log. A bad feed.yaml may stop the run, with a one-line reason.
Always: no traceback in any output, the child's peak memory under 200 MB.
"""

from __future__ import annotations

import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.common import MB, Figures
from tests.support.env import x_env as base_env
from tests.support.proc import BotProcess as Bot, tracebacks

MEMORY_LIMIT = 200 * MB
POSTED = ("base-morning", "base-crier", "base-photo", "base-reply")
STORM = "base-storm"


def corpus():
    """(the bad-input test module, with read_case/build; tests.support.feeds; its cases)."""
    from tests import test_badinput as cases
    from tests.support import feeds

    return cases, feeds, cases.all_cases()


@dataclass
class CaseResult:
    name: str
    post_file: bool
    code: int | None = None
    published: int = 0  # base entries published
    tracebacks: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return len(POSTED) + 1 - self.published if self.post_file else 0


@dataclass
class BadInputReport:
    results: list[CaseResult]
    seconds: float = 0.0

    def figures(self) -> Figures:
        return Figures("bad-input", cases=len(self.results), silent_losses=sum(r.lost for r in self.results),
                       tracebacks=sum(r.tracebacks for r in self.results),
                       peak_rss=max((r.peak_rss for r in self.results), default=0), seconds=self.seconds,
                       notes=[f"{sum(r.post_file for r in self.results)} bad post files, "
                              f"{sum(not r.post_file for r in self.results)} bad feed.yaml"],
                       problems=[p for r in self.results for p in r.problems])


def _base_window(case, folder: Path, module, shared) -> tuple[str, str]:
    """--from and --until around the base entries' replay instants: the same feed.yaml
    with the base posts alone, loaded here (the case's own file may be a bomb or a FIFO)."""
    from datetime import UTC, datetime

    from bot.load import load
    from bot.settings import Settings

    feed_yaml = shared.BASE_FEED + "".join(line + "\n" for line in case.feed_append)
    root = shared.make_feed(folder, feed_yaml, {"1917-11-06.yaml": module.BASE_POSTS})
    loaded = load(Settings(posts=root, display="reference", env={}, years_later=110), now=datetime(2000, 1, 1, tzinfo=UTC))
    instants = [e.instant for e in loaded.timeline.events] if loaded.timeline else []
    if not instants:
        return "2027-11-06", "2027-11-06"
    return min(instants).isoformat(), max(instants).isoformat()


def run_case(case, workdir: Path, module, shared) -> CaseResult:
    started = time.monotonic()
    out = CaseResult(case.name, case.post_file)
    root = module.build(case, workdir, shared.make_feed, shared.BASE_FEED)
    env = base_env(None, ())
    start, end = _base_window(case, workdir / "reference", module, shared)
    args = ["run", "--dry-run", "--posts", root.name, "--years-later", "110", "--from", start,
            "--until", end, "--start-at", "+1.5s", "--speed", "14400"]
    bot = Bot(args, env, workdir, name="run")

    def published() -> set[str]:
        """What the dry run showed on stdout: each post's block names its entry, a switch its persona."""
        shown = bot.stdout()
        done = set(re.findall(r"  \[([^\]]+)\]  -> ", shown))
        if "(evening) ***" in shown:
            done.add(STORM)
        return done & {*POSTED, STORM}

    if case.post_file:
        try:
            bot.wait_for(lambda: len(published()) == len(POSTED) + 1, 30, "the base entries")
        except AssertionError as exc:
            out.problems.append(f"{case.name}: {str(exc).splitlines()[0]}")
    else:  # a feed.yaml alone: it runs an empty schedule, or refuses to start
        try:
            bot.wait_for(lambda: any(" watching " in line for line in bot.lines()), 30, "the run to start")
        except AssertionError:
            pass  # it refused to start: checked below
    out.published = len(published())
    out.code = bot.terminate()
    text = bot.stdout() + bot.stderr()
    out.tracebacks = tracebacks(text)
    out.peak_rss = bot.peak_rss
    if out.tracebacks:
        out.problems.append(f"{case.name}: traceback in the output")
    if out.peak_rss > MEMORY_LIMIT:
        out.problems.append(f"{case.name}: peak memory {out.peak_rss / MB:.0f} MB")
    where = f"{root.name}/{case.target}:{case.line}: error: "
    if case.post_file:
        if out.code != 0:
            out.problems.append(f"{case.name}: exit {out.code} after SIGTERM")
        if not any(where in line and case.fragment in line for line in bot.lines()):
            out.problems.append(f"{case.name}: the run did not report {where}...{case.fragment}")
    elif out.code not in (0, 1):
        out.problems.append(f"{case.name}: exit {out.code}: {text.strip()[-200:]}")
    out.seconds = time.monotonic() - started
    return out


def run_badinput(workdir: Path, names: list[str] | None = None, workers: int = 4) -> BadInputReport:
    started = time.monotonic()
    module, shared, cases = corpus()
    if names is not None:
        cases = [c for c in cases if c.name in names]

    def one(index_case):
        index, case = index_case
        folder = Path(tempfile.mkdtemp(prefix=f"case{index:03d}-", dir=workdir))
        return run_case(case, folder, module, shared)

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, enumerate(cases)))
    return BadInputReport(results, time.monotonic() - started)
