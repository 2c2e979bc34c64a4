"""A dead notification target does not delay a post (tests/ops/lateness.py). The default
run checks the worst case (a target that never answers) against a generous bound; the
comparison of all three, whose figures the README quotes, is marked slow
(`.venv/bin/python -m pytest -q -m slow tests/ops/test_lateness.py -s`)."""

from __future__ import annotations

import pytest

from tests.ops.lateness import measure


def test_a_hanging_target_does_not_hold_posts_up(tmp_path):
    figures = measure("hanging", tmp_path, entries=20, gap=0.1)
    assert figures.posts == 10 and figures.failed == 10
    # a post held by the target would be at least Apprise's 4 s read timeout late; the bound
    # stays below that with room for a busy machine (the figures are the slow test's table)
    assert figures.max < 3000, figures.row()


@pytest.mark.slow
def test_lateness_is_the_same_with_no_refused_or_hanging_target(tmp_path):
    rows = [measure(target, tmp_path / target, entries=400, gap=0.05) for target in ("none", "refused", "hanging")]
    for row in rows:
        print(row.row())
    base = rows[0]
    for row in rows:
        assert row.posts == 200 and row.failed == 200
        assert row.p95 < base.p95 + 50 and row.max < 1000, row.row()
    assert rows[1].notify_failures >= 1  # the refused target was tried, and said so
