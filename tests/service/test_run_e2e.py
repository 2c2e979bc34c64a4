"""`bot run` end to end: a real subprocess, real tweepy, the fake X server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime

from conftest import SAMPLE, BotProcess, actions, iso_in, preview_json, token, write_feed, x_env

ACCOUNTS = ("telegraph", "kerensky", "lenin", "mrc")


def test_rehearsal_publishes_the_sample_feed_in_order(tmp_path, x_server):
    expected = preview_json(SAMPLE, "--years-later", "110")
    posts = [e for e in expected if e["text"] is not None]
    first = datetime.fromisoformat(expected[0]["scheduled"])
    last = datetime.fromisoformat(expected[-1]["scheduled"])
    span = (last - first).total_seconds() / 3600
    env = x_env(x_server.base_url, ACCOUNTS)
    bot = BotProcess(["run", "--posts", str(SAMPLE), "--years-later", "110", "--start-at", iso_in(5),
                      "--speed", "3600", "--ledger", str(tmp_path / "ledger.sqlite3")], env, tmp_path, tmp_path / "run.log")
    try:
        bot.wait_for(lambda: len(x_server.tweets()) >= len(posts), span + 40, "every post")
        time.sleep(0.5)
    finally:
        code, took = bot.terminate()
    assert code == 0 and took < 10

    tweets = x_server.tweets()
    texts = [r.json["text"] for r in tweets]
    assert texts == [e["text"] for e in posts], "published in replay order, each once"

    # each post by its own account's token, at most 1 s late
    by_text = {e["text"]: e for e in posts}
    for request in tweets:
        assert request.token == token(by_text[request.json["text"]]["account"])
    late = [int(a["late_ms"]) for a in actions(bot.lines(), "posted")]
    assert len(late) == len(posts) and max(late) < 1000

    # the persona switch reaches X before the first post after the storm
    storm = next(e for e in expected if e["storm"])
    telegraph = x_server.requests(token=token("telegraph"))
    names = [(i, r.params.get("name")) for i, r in enumerate(telegraph) if r.path.endswith("update_profile.json")]
    assert [n for _, n in names] == ["Russian Telegraph", "Revolutionary Times"]
    switch_at = names[1][0]
    after_storm = [e["text"] for e in posts if e["account"] == "telegraph" and e["scheduled"] >= storm["scheduled"]]
    first_after = next(i for i, r in enumerate(telegraph) if r.path == "/2/tweets" and r.json["text"] == after_storm[0])
    assert switch_at < first_after
    assert any(r.path.endswith("update_profile_image.json") for r in telegraph[switch_at:first_after])

    # replies carry their parent's remote id
    created = {r.json["text"]: r.created_id for r in tweets}
    ids = {e["id"]: e for e in expected}
    replies = [e for e in posts if e["reply_to"]]
    assert replies
    for reply in replies:
        request = next(r for r in tweets if r.json["text"] == reply["text"])
        assert request.json["reply"]["in_reply_to_tweet_id"] == created[ids[reply["reply_to"]]["text"]]

    # images: uploaded, alt text set, then attached
    with_media = [e for e in posts if e["media"]]
    assert with_media
    uploads = x_server.requests("/2/media/upload")
    metadata = x_server.requests("/2/media/metadata")
    assert len(uploads) == sum(len(e["media"]) for e in with_media)
    alts = {m.json["metadata"]["alt_text"]["text"] for m in metadata}
    assert all(alt for alt in alts)
    for entry in with_media:
        request = next(r for r in tweets if r.json["text"] == entry["text"])
        assert set(request.json["media"]["media_ids"]) <= {u.created_id for u in uploads}

    # bot status tells the truth
    out = subprocess.run([sys.executable, "-m", "bot", "status", "--posts", str(SAMPLE), "--years-later", "110",
                          "--ledger", str(tmp_path / "ledger.sqlite3"), "--format", "json"],
                         capture_output=True, text=True, env=env, check=True)
    status = json.loads(out.stdout)
    assert status["posted"] == len(expected)  # storm-only entries count as posted once switched
    assert status["uncertain"] == status["failed"] == status["missed"] == 0
    assert status["pending"] == 0


def test_kill_9_mid_call_then_restart_posts_nothing_twice(tmp_path, x_server):
    feed = write_feed(tmp_path / "feed", 24, gap_minutes=1)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha", "beta"), X_TIMEOUT="30")
    start = iso_in(3)
    args = ["run", "--posts", str(feed), "--start-at", start, "--speed", "240", "--ledger", str(ledger)]  # 0.25 s apart
    bot = BotProcess(args, env, tmp_path, tmp_path / "run1.log")
    try:
        bot.wait_for(lambda: len(x_server.tweets()) >= 8, 30, "eight posts")
        x_server.fail("hang", path="/2/tweets", hang_seconds=60)
        bot.wait_for(lambda: any(r.status is None for r in x_server.tweets()), 10, "a hanging request")
    finally:
        bot.kill()
    hung = next(r.json["text"] for r in x_server.tweets() if r.status is None)
    x_server.clear_faults()

    again = BotProcess(args, env, tmp_path, tmp_path / "run2.log")
    try:
        again.wait_for(lambda: len({r.json["text"] for r in x_server.tweets()}) >= 24, 30, "the rest")
        time.sleep(1)
    finally:
        code, _ = again.terminate()
    assert code == 0
    texts = [r.json["text"] for r in x_server.tweets()]
    assert len(texts) == len(set(texts)) == 24, "no entry was sent twice"
    uncertain = actions(again.lines(), "uncertain")
    assert [u["entry"] for u in uncertain] == [f"e{int(hung.split()[-1]):04d}"]

    out = subprocess.run([sys.executable, "-m", "bot", "status", "--posts", str(feed), "--ledger", str(ledger), "--format", "json"],
                         capture_output=True, text=True, env=env, check=True)
    status = json.loads(out.stdout)
    assert (status["posted"], status["uncertain"], status["pending"]) == (23, 1, 0)


def test_second_run_on_the_same_ledger_refuses_to_start(tmp_path, x_server):
    feed = write_feed(tmp_path / "feed", 4, gap_minutes=60)
    ledger = tmp_path / "ledger.sqlite3"
    env = x_env(x_server.base_url, ("alpha", "beta"))
    args = ["run", "--posts", str(feed), "--start-at", iso_in(600), "--ledger", str(ledger)]
    first = BotProcess(args, env, tmp_path, tmp_path / "one.log")
    try:
        first.wait_for(lambda: any(" armed " in line for line in first.lines()), 20, "the first run to arm")
        second = subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    finally:
        first.terminate()
    assert second.returncode == 1
    assert f"pid {first.proc.pid}" in second.stderr


def test_dry_run_prints_the_sequence_and_leaves_the_default_ledger_alone(tmp_path):
    feed = write_feed(tmp_path / "posts", 6, gap_minutes=1, storm_at=3)
    env = x_env("http://127.0.0.1:9", ())  # no credentials needed: nothing leaves the machine
    bot = BotProcess(["run", "--dry-run", "--start-at", iso_in(2), "--speed", "600"], env, tmp_path, tmp_path / "dry.log")
    try:
        bot.wait_for(lambda: len(actions(bot.lines(), "posted")) >= 6, 30, "six dry-run posts")
    finally:
        code, _ = bot.terminate()
    assert code == 0
    printed = bot.stdout()
    order = [line.split()[-1] for line in printed.splitlines() if line.startswith("[") and " as " in line]
    assert order == [f"e{i:04d}" for i in range(6)]
    assert "is now Stormed Times" in printed
    assert not (tmp_path / "state" / "ledger.sqlite3").exists()
