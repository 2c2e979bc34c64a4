"""Run the four reliability suites in full and print one table of figures.

    .venv/bin/python bench/reliability.py            # full: 55 kills on 300 entries, every fault, whole corpus
    .venv/bin/python bench/reliability.py --quick    # the CI-sized runs
    .venv/bin/python bench/reliability.py --only failover   # two or three bots on PostgreSQL, the active one killed

The engines are those of tests/reliability/ (crash, crosscrash, faults, badrun,
leaks), so the bench and the tests measure the same thing. The crash suite runs
twice: on X alone, and on a feed cross-posted to x, mastodon and bluesky (row
"crash (cross-post)", `--only crash-cross`). The failover suite needs PostgreSQL's
initdb (Debian's `postgresql` package) and psycopg; without them it is skipped with
one line. Peak memory is the largest
resident size of any `bot` process the suite started. Exit status 1 when a
figure breaks a promise (a duplicate, a silent loss, a traceback, a leaked
secret, a problem noted by a suite, or a process over 200 MB).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: `tests` is a package

from tests.reliability.badrun import MEMORY_LIMIT, run_badinput  # noqa: E402
from tests.reliability.common import MB, Figures  # noqa: E402
from tests.reliability.crash import CrashConfig, run_crash  # noqa: E402
from tests.reliability.crosscrash import CrossConfig, run_crosscrash  # noqa: E402
from tests.reliability.failover import FAST, FailoverConfig, run_failover  # noqa: E402
from tests.reliability.faults import run_faults  # noqa: E402
from tests.reliability.leaks import run_leaks  # noqa: E402

QUICK_CASES = ["syntax-unclosed-quote.yaml", "date-feb-30.yaml", "reply-cycle.yaml", "alias-bomb.yaml",
               "node-flood.yaml", "feed-missing.yaml"]
COLUMNS = ("suite", "cases tried", "duplicates", "silent losses", "uncertain", "uncertain by network",
           "tracebacks", "leaked secrets", "peak memory", "time")


def row(f: Figures) -> tuple[str, ...]:
    by_network = ", ".join(f"{n} {c}" for n, c in f.uncertain_by_network.items()) or "-"
    return (f.suite, str(f.cases), str(f.duplicates), str(f.silent_losses), str(f.uncertain), by_network,
            str(f.tracebacks),
            str(f.leaked), f"{f.peak_rss / MB:.0f} MB", f"{f.seconds:.0f} s")


def table(rows: list[tuple[str, ...]]) -> str:
    """A Markdown table (it goes into the README as printed)."""
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(COLUMNS), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized runs instead of the full suites")
    parser.add_argument("--seed", type=int, default=1917, help="seed of the crash suite's kill instants")
    parser.add_argument("--only", choices=["crash", "crash-cross", "fault", "bad-input", "secrets", "failover"],
                        action="append",
                        help="run only this suite (repeatable; crash-cross: the crash suite on a cross-posting feed)")
    args = parser.parse_args(argv)
    wanted = set(args.only or ["crash", "crash-cross", "fault", "bad-input", "secrets", "failover"])
    figures: list[Figures] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bot-reliability-") as tmp:
        work = Path(tmp)

        def step(name, make):
            print(f"... {name}", file=sys.stderr, flush=True)
            folder = work / name
            folder.mkdir()
            figures.append(make(folder).figures())

        if "crash" in wanted:
            config = CrashConfig(entries=60, kills=5, gap=0.15, seed=args.seed) if args.quick else CrashConfig(seed=args.seed)
            step("crash", lambda d: run_crash(d, config))
        if "crash-cross" in wanted:
            cross = (CrossConfig(entries=40, kills=5, gap=0.5, seed=args.seed) if args.quick
                     else CrossConfig(seed=args.seed))
            step("crash-cross", lambda d: run_crosscrash(d, cross))
        if "fault" in wanted:
            step("fault", run_faults)
        if "bad-input" in wanted:
            step("bad-input", lambda d: run_badinput(d, QUICK_CASES if args.quick else None))
        if "secrets" in wanted:
            step("secrets", run_leaks)
        if "failover" in wanted:
            from tests.support.postgres import unavailable

            if reason := unavailable():
                print(f"... failover skipped: {reason}", file=sys.stderr, flush=True)
            else:
                failover = replace(FAST if args.quick else FailoverConfig(), seed=args.seed)
                step("failover", lambda d: run_failover(d, failover))
    print(table([row(f) for f in figures]))
    for f in figures:
        for note in f.notes:
            print(f"  {f.suite}: {note}")
        for problem in f.problems:
            print(f"  {f.suite}: PROBLEM {problem}")
    print(f"total {time.monotonic() - started:.0f} s")
    broken = any(f.duplicates or f.silent_losses or f.tracebacks or f.leaked or f.problems
                 or f.peak_rss >= MEMORY_LIMIT for f in figures)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
