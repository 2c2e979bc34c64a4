"""The engines' own checks can fail: fed a bad record, they say so."""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from bot.ledger import Ledger
from reliability import feeds
from reliability.common import token
from reliability.crash import CrashConfig, _analyse


def test_crash_analysis_flags_duplicates_losses_and_wrong_personas(tmp_path, fake_x):
    spec = feeds.Spec({"alpha": "home"}, {"home": "Home", "away": "Away"}, [
        feeds.Item("a", "alpha", 0, "text a"), feeds.Item("b", "alpha", 1, "text b"),
        feeds.Item("c", "alpha", 2, "text c", storm="away")])
    auth = {"Authorization": f'OAuth oauth_token="{token("alpha")}"'}
    ids = [requests.post(fake_x.base_url + "/2/tweets", json={"text": t}, headers=auth).json()["data"]["id"]
           for t in ("text a", "text a", "text b")]
    now = datetime.now(UTC)
    with Ledger.open(tmp_path / "l.sqlite3", now=now) as ledger:
        ledger.claim("a", "alpha", "x", scheduled=now, now=now, text_hash=None)
        ledger.settle("a", "alpha", "x", "posted", now=now, remote_id=ids[0])
        ledger.record_missed("b", "alpha", "x", scheduled=now, now=now, reason="late")
    report = _analyse(spec, fake_x, tmp_path / "l.sqlite3", [], CrashConfig())
    assert report.duplicates == 1 and report.requests_per_entry == {"a": 2, "b": 1, "c": 0}
    assert report.silent_losses == 1  # c: no row
    assert "ledger: b is missed but X received it" in report.problems
    assert any(p.startswith("persona: alpha") for p in report.problems)
