"""The sample feed rehearsed in process: real tweepy against the fake X server, a manual clock.

What `bot run --start-at ... --speed 3600` does to the sample feed, without waiting for it
(the same run as a subprocess in real time is tests/service/test_run_e2e.py, marked slow)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.run.engine import RunMode
from tests.fakes.x_server import FakeXServer
from tests.support.engine import ActionLog, ManualClock, drive, real_engine
from tests.support.env import token, x_env
from tests.support.feeds import SAMPLE
from tests.support.proc import actions, invoke_bot

ACCOUNTS = ("telegraph", "kerensky", "lenin", "mrc")
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_sample_feed_goes_out_in_order_threaded_with_its_storm_and_images(tmp_path):
    preview = invoke_bot("preview", str(SAMPLE), "--years-later", "110", "--format", "json", cwd=tmp_path)
    expected = [json.loads(line) for line in preview.stdout.splitlines()]
    posts = [e for e in expected if e["text"] is not None]
    ledger = tmp_path / "ledger.sqlite3"
    clock = ManualClock(START)
    with FakeXServer() as x, ActionLog() as log:
        env = {k: v for k, v in x_env(x.base_url, ACCOUNTS).items() if k.startswith("X_")}
        engine = real_engine(SAMPLE, ledger, clock, env, mode=RunMode(start_at=START + timedelta(seconds=5), speed=3600, watch=False),
                             years_later=110)
        engine.start()
        drive(engine, clock, START + timedelta(minutes=30))
        engine.close()
        tweets = x.tweets()

        assert [r.json["text"] for r in tweets] == [e["text"] for e in posts], "published in replay order, each once"
        by_text = {e["text"]: e for e in posts}
        for request in tweets:  # each post by its own account's token, at its instant
            assert request.token == token(by_text[request.json["text"]]["account"])
        posted = actions(log.lines, "posted")
        assert len(posted) == len(posts) and {a["late_ms"] for a in posted} == {"0"}

        # the persona switch reaches X before the first post after the storm
        storm = next(e for e in expected if e["storm"])
        telegraph = x.requests(token=token("telegraph"))
        names = [(i, r.params.get("name")) for i, r in enumerate(telegraph) if r.path.endswith("update_profile.json")]
        assert [n for _, n in names] == ["Russian Telegraph", "Revolutionary Times"]
        after = [e["text"] for e in posts if e["account"] == "telegraph" and e["scheduled"] >= storm["scheduled"]]
        first_after = next(i for i, r in enumerate(telegraph) if r.path == "/2/tweets" and r.json["text"] == after[0])
        assert names[1][0] < first_after
        assert any(r.path.endswith("update_profile_image.json") for r in telegraph[names[1][0]:first_after])

        # replies carry their parent's remote id; images are uploaded, described, attached
        created = {r.json["text"]: r.created_id for r in tweets}
        ids = {e["id"]: e for e in expected}
        replies = [e for e in posts if e["reply_to"]]
        assert replies
        for reply in replies:
            request = next(r for r in tweets if r.json["text"] == reply["text"])
            assert request.json["reply"]["in_reply_to_tweet_id"] == created[ids[reply["reply_to"]]["text"]]
        with_media = [e for e in posts if e["media"]]
        uploads = x.requests("/2/media/upload")
        assert with_media and len(uploads) == sum(len(e["media"]) for e in with_media)
        assert all(m.json["metadata"]["alt_text"]["text"] for m in x.requests("/2/media/metadata"))
        for entry in with_media:
            request = next(r for r in tweets if r.json["text"] == entry["text"])
            assert set(request.json["media"]["media_ids"]) <= {u.created_id for u in uploads}

    out = invoke_bot("status", str(SAMPLE), "--years-later", "110", "--ledger", str(ledger), "--format", "json", cwd=tmp_path)
    status = json.loads(out.stdout)
    assert status["posted"] == len(expected)  # storm-only entries count as posted once switched
    assert status["uncertain"] == status["failed"] == status["missed"] == status["pending"] == 0
