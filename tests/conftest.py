"""Shared fixtures: each hands out a plain function from `tests.support` (import
those directly in helper modules; test modules must not `import conftest`):

- `make_feed(tmp_path, feed_yaml=BASE_FEED, files=None)` writes a feed folder, returns its path;
- `run_bot(*args, cwd=..., env=..., measure=False)` runs `python -m bot ...` as a child
  process and returns a `BotRun`: unpacks as `(code, stdout, stderr)`; with `measure`,
  `.peak_mb` is the child's own peak resident memory;
- `invoke_bot(*args, cwd=..., env=...)` the same in-process through click's CliRunner
  (fast); an unexpected exception is re-raised, so a traceback fails the test;
- `pg_cluster`, `pg_url`: a throwaway PostgreSQL server per test process, a fresh ledger
  schema of it per test (tests.support.postgres; skipped where PostgreSQL cannot be had);
- `base_feed_yaml`: BASE_FEED, a valid feed.yaml (accounts paper on x, crier on console;
  personas daily, evening, crier; Europe/Berlin, Gregorian).

Both runners start from a clean environment (tests.support.env.clean_env).
"""

from __future__ import annotations

import sys

import pytest

from tests.support.env import clean_env
from tests.support.feeds import BASE_FEED, REPO, make_feed as _make_feed
from tests.support.postgres import pg_cluster, pg_url  # noqa: F401 (fixtures: a throwaway PostgreSQL)
from tests.support.proc import invoke_bot as _invoke_bot, run_bot as _run_bot


@pytest.fixture(scope="session")
def make_feed():
    return _make_feed


@pytest.fixture(scope="session")
def run_bot():
    return _run_bot


@pytest.fixture(scope="session")
def invoke_bot():
    return _invoke_bot


@pytest.fixture(scope="session")
def base_feed_yaml():
    return BASE_FEED


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def bot_env():
    """`bot_env(extra)`: the clean environment the runners use, for tests that spawn `bot` themselves."""
    return clean_env


# ---- X's published API: a request to the fake X server that breaks it fails the test

def _x_spec_violations() -> list[str]:
    found: list[str] = []
    for name in ("tests.fakes.x_server",):
        module = sys.modules.get(name)
        if module is not None:
            found += module.pending_violations()
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    try:
        return (yield)
    finally:
        _fail_on_x_spec_violations()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    finally:
        _fail_on_x_spec_violations()


def _fail_on_x_spec_violations() -> None:
    """Every FakeXServer of this process (tests/fakes/x_server.py) records requests and
    answers that break X's OpenAPI document; any not yet reported fail the test now."""
    if found := _x_spec_violations():
        from tests.fakes.x_spec import SpecViolation

        raise SpecViolation(f"{len(found)} request(s) or answer(s) to the fake X server broke "
                            "X's published API:\n" + "\n".join(found))


# ---- the bot's logger: a test that runs the service in process configures it (its own
# handler, propagate off); the next test in the same worker must see the default again

@pytest.fixture(autouse=True)
def _restore_bot_loggers():
    import logging

    saved = {}
    for name in ("bot", "apscheduler"):
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate, logger.level)
    yield
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)
