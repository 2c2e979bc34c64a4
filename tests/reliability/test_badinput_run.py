"""Bad-input suite, `bot run` side (see badrun.py; tests/test_badinput.py checks
`bot check` and `bot preview` on the same corpus)."""

from __future__ import annotations

import pytest

from tests.reliability.badrun import MEMORY_LIMIT, corpus, run_badinput

FAST = [
    "syntax-unclosed-quote.yaml", "date-feb-30.yaml", "reply-cycle.yaml", "media-symlink-out.yaml",
    "alias-bomb.yaml", "node-flood.yaml", "binary-nul-bytes.yaml", "feed-missing.yaml",
]


def check(report) -> None:
    assert [p for r in report.results for p in r.problems] == []
    assert all(r.tracebacks == 0 for r in report.results)
    assert all(r.peak_rss < MEMORY_LIMIT for r in report.results)
    assert all(r.lost == 0 for r in report.results)


def test_run_publishes_the_valid_rest_fast(tmp_path):
    report = run_badinput(tmp_path, FAST)
    assert sorted(r.name for r in report.results) == sorted(FAST)
    check(report)


@pytest.mark.slow
def test_run_publishes_the_valid_rest_whole_corpus(tmp_path):
    report = run_badinput(tmp_path)
    assert len(report.results) == len(corpus()[2]) >= 50
    check(report)
