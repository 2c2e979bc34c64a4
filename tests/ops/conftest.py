"""tests/ops: notifications, health, metrics, the status page, systemd and JSON logs."""

from __future__ import annotations

import pytest

from tests.fakes.x_server import FakeXServer


@pytest.fixture
def x_server():
    with FakeXServer() as server:
        yield server
