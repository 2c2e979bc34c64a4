"""Fault suite (see faults.py): every fault's ledger outcome and log line, bounded
requests, no crash, and the healthy account on time meanwhile."""

from __future__ import annotations

import pytest

from tests.reliability.faults import FAULTS, disk_full, read_only, refused, token_faults


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    return {o.name: o for o in token_faults(tmp_path_factory.mktemp("faults"))}


def test_the_shared_run_kept_its_promises(outcomes):
    first = outcomes[FAULTS[0].name]  # carries the shared run's problems (steady account, duplicates)
    assert first.problems == [] and first.duplicates == 0 and first.silent == 0 and first.tracebacks == 0


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault(outcomes, fault):
    out = outcomes[fault.name]
    assert out.problems == []
    assert out.requests <= (fault.requests if fault.kind != "403_453" else 2)


@pytest.mark.slow  # the retry logic in process: tests/core/test_delivery.py, tests/core/test_personas.py
def test_connection_refused(tmp_path):
    out = refused(tmp_path)
    assert out.problems == [] and out.tracebacks == 0 and out.duplicates == 0


@pytest.mark.slow  # a ledger that cannot be written, in process: tests/core/test_delivery.py
def test_ledger_disk_full(tmp_path):
    out = disk_full(tmp_path)
    if out.skipped:
        pytest.skip(out.skipped)
    assert out.problems == [] and out.tracebacks == 0 and out.duplicates == 0 and out.silent == 0


def test_ledger_read_only(tmp_path):
    out = read_only(tmp_path)
    if out.skipped:
        pytest.skip(out.skipped)
    assert out.problems == [] and out.tracebacks == 0
