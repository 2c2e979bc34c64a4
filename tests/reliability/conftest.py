"""Fixtures of the reliability suites (the engines live in this package's modules)."""

from __future__ import annotations

import pytest

from tests.reliability.common import HookedX


@pytest.fixture
def fake_x():
    with HookedX() as server:
        yield server
