"""`bot run` as a real subprocess against the fake X server in this process."""

from __future__ import annotations

import pytest

from tests.fakes.x_server import FakeXServer


@pytest.fixture
def x_server():
    with FakeXServer() as server:
        yield server
