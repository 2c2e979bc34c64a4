"""Secrets suite (see leaks.py): no command prints a secret, whatever goes wrong."""

from __future__ import annotations

from tests.reliability.leaks import find_leaks, run_leaks


def test_no_command_leaks_a_secret(tmp_path):
    report = run_leaks(tmp_path)
    assert report.leaks == []
    assert report.problems == []
    assert report.tracebacks == 0
    assert len(report.commands) >= 12
    assert {"bot run (X faults)", "bot run --dry-run"} <= set(report.commands)


def test_the_detector_sees_encoded_secrets():
    secrets = {"TOKEN": "a/b+c=d"}
    assert find_leaks("oauth_token=a%2Fb%2Bc%3Dd", secrets) == ["TOKEN"]
    assert find_leaks("form: a%2Fb%2Bc%3Dd", secrets) == ["TOKEN"]
    assert find_leaks("raw a/b+c=d here", secrets) == ["TOKEN"]
    assert find_leaks("nothing here", secrets) == []
