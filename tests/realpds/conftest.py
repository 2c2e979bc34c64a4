"""Fixtures for tests against the reference Bluesky PDS (see harness.py).

- `real_pds` (session): one PLC directory + PDS for the whole session, started on
  first use and stopped at the end. A test that stops or kills the PDS need not
  restart it: the function-scoped fixtures below bring it back.
- `new_account` (function): a factory, `new_account(handle=None) -> Account`, each
  call a fresh account (fresh handle, password and app password).
- `account` (function): one fresh account.
- `pds_proxy` (function): a `DelayProxy` in front of the PDS, stopped after the test.

Without tests/realpds/node_modules (tests/realpds/install.sh), these tests are
skipped with the reason; with CI=true they fail instead, since CI must run them.
Mark test modules here with `pytestmark = pytest.mark.realpds`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from .harness import Account, DelayProxy, RealPDS, RealPDSUnavailable, unavailable_reason


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real PDS unavailable on CI: {reason}", pytrace=False)
    pytest.skip(f"real PDS unavailable: {reason}")


@pytest.fixture(scope="session")
def real_pds() -> Iterator[RealPDS]:
    reason = unavailable_reason()
    if reason:
        _unavailable(reason)
    pds = RealPDS()
    try:
        pds.start()
    except RealPDSUnavailable as err:
        _unavailable(str(err))
    try:
        yield pds
    finally:
        pds.stop()


@pytest.fixture
def new_account(real_pds: RealPDS) -> Callable[..., Account]:
    real_pds.ensure_running()

    def make(handle: str | None = None) -> Account:
        real_pds.ensure_running()
        return real_pds.create_account(handle)

    return make


@pytest.fixture
def account(new_account: Callable[..., Account]) -> Account:
    return new_account()


@pytest.fixture
def pds_proxy(real_pds: RealPDS) -> Iterator[DelayProxy]:
    real_pds.ensure_running()
    assert real_pds.pds_port is not None
    proxy = DelayProxy(("127.0.0.1", real_pds.pds_port))
    try:
        yield proxy
    finally:
        proxy.stop()
