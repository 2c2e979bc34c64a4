"""The engines' own checks can fail: fed a bad record, they say so."""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from bot.run.ledger import Ledger
from tests.reliability import feeds
from tests.support.env import token
from tests.reliability.crash import CrashConfig, _analyse


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


def test_crosscrash_analysis_flags_each_network_on_its_own(tmp_path):
    from tests.reliability.crosscrash import CrossConfig, analyse
    from tests.reliability.networks import NETWORKS, Networks, bluesky_password, mastodon_token

    spec = feeds.Spec({"alpha": "home"}, {"home": "Home", "away": "Away"}, [
        feeds.Item("a", "alpha", 0, "text a"), feeds.Item("b", "alpha", 1, "text b"),
        feeds.Item("c", "alpha", 2, "text c", storm="away")], platforms=NETWORKS)
    with Networks(spec.accounts) as nets:
        auth = {"Authorization": f'OAuth oauth_token="{token("alpha")}"'}
        tweet = requests.post(nets.x.base_url + "/2/tweets", json={"text": "text a"}, headers=auth).json()["data"]["id"]
        bearer = {"Authorization": f"Bearer {mastodon_token('alpha')}"}
        for _ in range(2):  # no idempotency key: two statuses
            requests.post(nets.mastodon.base_url + "/api/v1/statuses", data={"status": "text a"}, headers=bearer)
        pds = nets.bluesky["alpha"]
        session = requests.post(pds.base_url + "/xrpc/com.atproto.server.createSession",
                                json={"identifier": "alpha.test", "password": bluesky_password("alpha")}).json()
        requests.post(pds.base_url + "/xrpc/com.atproto.repo.createRecord",
                      json={"repo": pds.did, "collection": "app.bsky.feed.post", "record": {"text": "text b"}},
                      headers={"Authorization": f"Bearer {session['accessJwt']}"})
        now = datetime.now(UTC)
        with Ledger.open(tmp_path / "l.sqlite3", now=now) as ledger:
            for network in NETWORKS:
                ledger.claim("a", "alpha", network, scheduled=now, now=now, text_hash=None)
                ledger.settle("a", "alpha", network, "posted", now=now, remote_id=tweet if network == "x" else "nope")
                ledger.record_missed("b", "alpha", network, scheduled=now, now=now, reason="late")
        report = analyse(spec, nets, tmp_path / "l.sqlite3", [], CrossConfig())
    assert report.created[("a", "alpha", "mastodon")] == 2 and report.duplicates == 1
    assert report.received[("a", "alpha", "mastodon")] == 2 and report.received[("a", "alpha", "x")] == 1
    assert "ledger: b on bluesky is missed but the network created it" in report.problems
    assert "ledger: a on mastodon remote id nope matches no post created" in report.problems
    assert "silent: a on bluesky is posted in the ledger but the network created no post" in report.problems
    assert report.silent_losses == 1 + 3  # a on bluesky; c (no row) on each network
    assert {n for (a, n), (name, _, _) in report.personas_worn.items() if name != "Away"} == set(NETWORKS)
