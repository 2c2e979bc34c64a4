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

import compileall
import sys

import pytest
from hypothesis import settings

from tests.support.env import clean_env
from tests.support.feeds import BASE_FEED, REPO, make_feed as _make_feed
from tests.support.postgres import pg_cluster, pg_url  # noqa: F401 (fixtures: a throwaway PostgreSQL)
from tests.support.proc import invoke_bot as _invoke_bot, run_bot as _run_bot


# ---- hypothesis: no per-example deadline. Its 200 ms default is a timing assertion that a
# busy machine fails at random (a Julian-calendar example took 500 ms under load); tests that
# bound a time say so themselves.
settings.register_profile("bot", deadline=None)
settings.load_profile("bot")


# ---- bytecode: compiled once, not in every worker and every child process
#
# Where PYTHONDONTWRITEBYTECODE is set (as on our CI machines), Python compiles the bot
# from source in every `bot` child process and pytest rewrites every test module afresh
# in each of its four workers: about 25 s of CPU per run on 2 cores. The test run writes
# bytecode for this checkout anyway (into the __pycache__ folders git ignores): the bot's
# package once, before the workers start, so that children read it (the variable only
# stops writing, never reading); and pytest's rewritten test modules on first import.
sys.dont_write_bytecode = False


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers
        compileall.compile_dir(str(REPO / "bot"), quiet=1)


# ---- workers: each test file on one worker (its module fixtures built once), and the
# reference PDS's two files on the same one, so that only one worker starts node's PLC and
# PDS servers (about 4 s of CPU and 3 s of wall each time)

ONE_WORKER = ("tests/realpds/",)


def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "loadfile":  # another --dist asked for on the command line
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndServers(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((folder for folder in ONE_WORKER if nodeid.startswith(folder)), None) \
                or super()._split_scope(nodeid)

    return FilesAndServers(config, log)


# Files that wait on real clocks, servers and child processes go out first (the scheduler
# hands files out in collection order: `--no-loadscope-reorder` in pyproject.toml), so that
# the many short files fill the gaps after them and none of the long ones is left running
# alone at the end (on a loaded 2-core machine that tail was 17 s of a 150 s run).
LONG_FIRST = ("tests/realpds/", "tests/reliability/test_failover.py", "tests/reliability/test_crosscrash.py",
              "tests/reliability/", "tests/service/", "tests/ops/", "tests/test_browser.py")


def pytest_collection_modifyitems(config, items):
    if hasattr(config, "workerinput"):  # every worker sorts alike: their collections must agree
        def rank(item) -> int:
            return next((n for n, prefix in enumerate(LONG_FIRST) if item.nodeid.startswith(prefix)), len(LONG_FIRST))

        items.sort(key=rank)  # stable: within a rank, the collection's order


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
