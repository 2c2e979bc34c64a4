"""The bot against the reference Bluesky PDS: what it publishes, and the story under faults.

The engine runs in process with its real Bluesky publisher (atproto over HTTP to the PDS)
and a manual clock: an outage is the PDS really stopped while the manual clock moves on,
so retries and convergence are shown in seconds of real time. kill -9 during a call is a
real `bot run` process, with a proxy that holds its request until the process is dead.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.run.engine import RunMode
from tests.support.engine import ActionLog, ManualClock, drive, real_engine
from tests.support.env import clean_env
from tests.support.feeds import story
from tests.support.proc import BotProcess, actions, iso_in, run_bot

pytestmark = pytest.mark.realpds

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the manual clock's start; entries replay from START + 5 s
CYRILLIC_LINK = "Декрет о мире 🕊️ 👨‍👩‍👧: https://example.org/decree-on-peace and «Правда» https://example.org/pravda."


def png(rgb: tuple[int, int, int], pad: int = 0) -> bytes:
    """A valid 1x1 PNG of one colour (`pad` bytes of a private chunk make it bigger)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    extra = chunk(b"prVt", b"\0" * pad) if pad else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + extra
            + chunk(b"IDAT", zlib.compress(bytes([0, *rgb]))) + chunk(b"IEND", b""))


def env_for(pds, accounts: dict, service: str | None = None, **extra) -> dict[str, str]:
    env = {"BLUESKY_TIMEOUT": "5", "BOT_BACKOFF": "1", **{k: str(v) for k, v in extra.items()}}
    for key, account in accounts.items():
        name = key.upper()
        env[f"BLUESKY_{name}_HANDLE"] = account.handle
        env[f"BLUESKY_{name}_APP_PASSWORD"] = account.app_password
        env[f"BLUESKY_{name}_SERVICE"] = service or pds.url
    return env


def ledger_rows(path: Path) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return {(e, a): (s, rid, why) for e, a, s, rid, why in conn.execute(
            "SELECT entry_id, account, state, remote_id, reason FROM deliveries WHERE network = 'bluesky'")}


def posts_of(pds, account) -> dict[str, dict]:
    """The account's post records on the PDS, by text."""
    return {r["value"]["text"]: r for r in pds.list_records(account.did, POST)}


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def run_engine(feed: Path, ledger: Path, env: dict, *, until: float, steps=()) -> list[str]:
    """The feed rehearsed from START + 5 s, one historical minute a second; `steps` are
    (virtual second, action) to do when the manual clock reaches them (stop the PDS...)."""
    clock = ManualClock(START)
    with ActionLog() as log:
        engine = real_engine(feed, ledger, clock, env, mode=RunMode(start_at=at(5), speed=60, watch=False))
        engine.start()
        try:
            for second, action in sorted(steps, key=lambda s: s[0]):
                drive(engine, clock, at(second))
                action()
            drive(engine, clock, at(until))
        finally:
            engine.close()
    return log.lines


# ---- what the bot publishes --------------------------------------------------------------


def test_every_entry_once_threads_images_facets_and_the_storm(tmp_path, real_pds, new_account):
    paper, voice = new_account("paper-" + tmp_path.name[-6:].lower().replace("_", "")), new_account()
    feed = story(tmp_path / "feed", {"paper": "bluesky", "voice": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "id": "first", "text": CYRILLIC_LINK,
         "media": [{"file": "media/bridge.png", "alt": "The Palace Bridge, raised"}]},
        {"date": "1917-11-07", "time": "10:00", "account": "voice", "id": "same", "reply_to": "first",
         "text": "At the same instant, from another account."},
        {"date": "1917-11-07", "time": "10:01", "account": "voice", "id": "answer", "reply_to": "first", "text": "Not all of them."},
        {"date": "1917-11-07", "time": "10:02", "account": "paper", "id": "again", "reply_to": "answer", "text": "Confirmed."},
        {"date": "1917-11-07", "time": "10:03", "account": "paper", "id": "storm", "storm": "stormed",
         "text": "This paper now speaks for the Soviet."},
        {"date": "1917-11-07", "time": "10:04", "account": "paper", "id": "after", "text": "First issue under the new name."},
    ], personas={"stormed": "Stormed Times"}, images={
        "media/bridge.png": png((200, 0, 0)), "media/paper-p.png": png((0, 200, 0)), "media/stormed.png": png((0, 0, 200))})
    ledger = tmp_path / "ledger.sqlite3"
    run_engine(feed, ledger, env_for(real_pds, {"paper": paper, "voice": voice}), until=20)

    rows = ledger_rows(ledger)
    assert {k: v[0] for k, v in rows.items()} == {(e, a): "posted" for e, a in (
        ("first", "paper"), ("same", "voice"), ("answer", "voice"), ("again", "paper"), ("storm", "paper"), ("after", "paper"))}
    records = {**posts_of(real_pds, paper), **posts_of(real_pds, voice)}
    assert len(records) == 6 == len(real_pds.list_records(paper.did, POST)) + len(real_pds.list_records(voice.did, POST))
    by_entry = {}
    for (entry, _), (_, remote, _) in rows.items():  # the ledger's uri|cid is the record's
        uri, cid = remote.split("|")
        record = real_pds.get_record_by_uri(uri)
        assert record["cid"] == cid
        by_entry[entry] = record
    assert by_entry["first"]["value"]["text"] == CYRILLIC_LINK  # byte-identical

    def ref(entry):
        return {"uri": by_entry[entry]["uri"], "cid": by_entry[entry]["cid"]}

    def reply(entry):
        refs = by_entry[entry]["value"]["reply"]
        return {part: {"uri": refs[part]["uri"], "cid": refs[part]["cid"]} for part in ("root", "parent")}

    assert reply("same") == {"root": ref("first"), "parent": ref("first")}  # same instant, another account: threaded
    assert reply("answer") == {"root": ref("first"), "parent": ref("first")}
    assert reply("again") == {"root": ref("first"), "parent": ref("answer")}  # 3 deep, across two accounts

    image = by_entry["first"]["value"]["embed"]["images"][0]
    assert image["alt"] == "The Palace Bridge, raised"
    assert real_pds.get_blob(paper.did, image["image"]["ref"]["$link"]) == (feed / "media" / "bridge.png").read_bytes()

    data = CYRILLIC_LINK.encode("utf-8")
    facets = by_entry["first"]["value"]["facets"]
    links = [(data[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(), f["features"][0]["uri"]) for f in facets]
    assert links == [("https://example.org/decree-on-peace", "https://example.org/decree-on-peace"),
                     ("https://example.org/pravda", "https://example.org/pravda")]

    profile = real_pds.get_record(paper.did, PROFILE, "self")["value"]
    assert (profile["displayName"], profile["description"]) == ("Stormed Times", "Historical reenactment: Stormed Times.")
    assert real_pds.get_blob(paper.did, profile["avatar"]["ref"]["$link"]) == (feed / "media" / "stormed.png").read_bytes()
    # each post's record key is derived from its delivery (instant, entry, account): what a restart looks up
    from bot.publishers.bluesky.records import delivery_rkey

    assert by_entry["storm"]["uri"].rsplit("/", 1)[1] == delivery_rkey(at(8), "storm", "paper")  # 10:03 -> START + 8 s


def test_the_server_refuses_what_check_refuses(tmp_path, real_pds, account, invoke_bot):
    """The two limits a run once met first, checked by `bot check` now: the PDS agrees."""
    family = "👨\u200d👩\u200d👧\u200d👦" * 300  # 300 graphemes, 7,500 bytes
    feed = story(tmp_path / "feed", {"paper": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "text": family},
        {"date": "1917-11-07", "time": "10:01", "account": "paper", "text": "Big image.",
         "media": [{"file": "media/big.png", "alt": "Too big"}]},
    ], images={"media/big.png": png((1, 2, 3), pad=1_229_883 - len(png((1, 2, 3))) - 12)})
    assert (feed / "media" / "big.png").stat().st_size == 1_229_883
    code, out, _ = invoke_bot("check", str(feed), cwd=tmp_path)
    assert code == 1
    lines = (feed / "1917-11-07.yaml").read_text(encoding="utf-8").splitlines()
    text_line = 1 + next(i for i, line in enumerate(lines) if line.lstrip().startswith("text:"))  # the first entry's
    media_line = 1 + next(i for i, line in enumerate(lines) if "media/big.png" in line)
    assert out.splitlines()[:2] == [
        f"{feed / '1917-11-07.yaml'}:{text_line}: error: text is 7500 bytes of UTF-8 on bluesky, over its limit of 3000 bytes",
        f"{feed / '1917-11-07.yaml'}:{media_line}: error: image 'media/big.png' is 1229883 bytes; bluesky takes at most 1000000",
    ]
    # and the server, asked directly, refuses the text as check does
    session = real_pds.create_session(account.handle, account.app_password)
    from tests.realpds.harness import XrpcError

    with pytest.raises(XrpcError) as refused:
        real_pds.xrpc_post("com.atproto.repo.createRecord", {"repo": account.did, "collection": POST, "record": {
            "$type": POST, "text": family, "createdAt": "2026-12-01T00:00:00.000Z"}}, token=session["accessJwt"])
    assert refused.value.status == 400 and "3000" in str(refused.value)


# ---- faults --------------------------------------------------------------------------------


def test_a_pds_down_at_a_due_post_is_retried_and_posts_once(tmp_path, real_pds, account):
    feed = story(tmp_path / "feed", {"paper": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "id": "early", "text": "Before the outage."},
        {"date": "1917-11-07", "time": "10:05", "account": "paper", "id": "due", "text": "Due while the server is down."},
    ])
    ledger = tmp_path / "ledger.sqlite3"
    lines = run_engine(feed, ledger, env_for(real_pds, {"paper": account}, BOT_RETRIES=10), until=60,
                       steps=[(8, real_pds.stop_pds), (13, real_pds.start_pds)])  # down from 8 s to 13 s; `due` at 10 s
    assert ledger_rows(ledger)[("due", "paper")][0] == "posted"
    assert [r["value"]["text"] for r in real_pds.list_records(account.did, POST)].count("Due while the server is down.") == 1
    retries = [a for a in actions(lines, "retry") if a["entry"] == "due"]
    assert retries and all("connection failed" in a["reason"] or "timed out" in a["reason"] for a in retries)


def test_an_outage_across_the_storm_ends_with_the_new_persona_and_the_storm_post_under_it(tmp_path, real_pds, account):
    feed = story(tmp_path / "feed", {"paper": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "id": "before", "text": "Before the storm."},
        {"date": "1917-11-07", "time": "10:10", "account": "paper", "id": "storm", "storm": "stormed", "text": "Stormed."},
        {"date": "1917-11-07", "time": "10:11", "account": "paper", "id": "after", "text": "After the storm."},
    ], personas={"stormed": "Stormed Times"}, images={"media/stormed.png": png((0, 0, 200))})
    ledger = tmp_path / "ledger.sqlite3"
    lines = run_engine(feed, ledger, env_for(real_pds, {"paper": account}), until=120,
                       steps=[(12, real_pds.stop_pds), (52, real_pds.start_pds)])  # down 40 s across the storm (15 s)
    profile = real_pds.get_record(account.did, PROFILE, "self")["value"]
    assert profile["displayName"] == "Stormed Times"
    assert real_pds.get_blob(account.did, profile["avatar"]["ref"]["$link"]) == (feed / "media" / "stormed.png").read_bytes()
    rows = ledger_rows(ledger)
    assert rows[("storm", "paper")][0] == "posted" and rows[("after", "paper")][0] == "posted"
    switched = [line for line in lines if " switched " in line and "persona=stormed" in line]
    storm_posted = [line for line in lines if " posted " in line and "entry=storm " in line]
    assert switched and storm_posted and switched[0] < storm_posted[0]  # the switch first, then the post
    assert "persona=stormed" in storm_posted[0]
    assert any(" switch-retry " in line for line in lines)


def test_kill_9_during_a_post_leaves_nothing_uncertain_and_nothing_twice(tmp_path, real_pds, account, pds_proxy):
    """The proxy holds the post's request; the bot is killed; the request then reaches the PDS
    (the post exists, its answer never came). The restart finds it by its record key."""
    feed = story(tmp_path / "feed", {"paper": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "id": "one", "text": "Killed while sending."},
        {"date": "1917-11-07", "time": "10:01", "account": "paper", "id": "two", "text": "After the restart."},
    ])
    ledger = tmp_path / "ledger.sqlite3"
    env = clean_env(env_for(real_pds, {"paper": account}, service=pds_proxy.url))
    # 4 s apart: "two" waits in the blocked lane while "one" is held; if the restart on a busy
    # machine comes after its instant, it goes out late (well within the grace), which changes nothing here
    args = ["run", "--posts", str(feed), "--start-at", iso_in(5), "--speed", "15", "--ledger", str(ledger)]
    first = BotProcess(args, env, tmp_path, "run1")
    try:
        first.wait_for(lambda: any(" switched " in line for line in first.lines()), 30, "the start-up switch")
        pds_proxy.hold()
        pds_proxy.wait_held(1, timeout=30)
    finally:
        first.kill()
    pds_proxy.release(forward=True)  # the PDS gets the request after all: the post exists
    pds_proxy.pass_through()
    deadline = time.monotonic() + 10
    while not real_pds.list_records(account.did, POST) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(real_pds.list_records(account.did, POST)) == 1
    second = BotProcess(args, env, tmp_path, "run2")
    try:
        second.wait_for(lambda: len(real_pds.list_records(account.did, POST)) >= 2, 40, "the next post")
        time.sleep(0.5)
    finally:
        assert second.terminate() == 0
    texts = sorted(r["value"]["text"] for r in real_pds.list_records(account.did, POST))
    assert texts == ["After the restart.", "Killed while sending."]  # each once
    rows = ledger_rows(ledger)
    assert rows[("one", "paper")][0] == "posted" and "reconciled" in rows[("one", "paper")][2]
    assert [u.get("entry") for u in actions(second.lines(), "uncertain")] == ["one"]  # recovered, then looked up
    out = run_bot("status", "--posts", feed, "--ledger", ledger, "--format", "json", cwd=tmp_path, env=env)
    status = json.loads(out.stdout)
    assert (status["uncertain"], status["posted"]) == (0, 2)


def test_a_tampered_saved_session_logs_in_again(tmp_path, real_pds, account):
    feed = story(tmp_path / "feed", {"paper": "bluesky"}, [
        {"date": "1917-11-07", "time": "10:00", "account": "paper", "text": "First."},
        {"date": "1917-11-07", "time": "10:30", "account": "paper", "text": "After a tampered session."},
    ])
    ledger = tmp_path / "state" / "ledger.sqlite3"
    env = env_for(real_pds, {"paper": account})
    run_engine(feed, ledger, env, until=20)
    session_file = ledger.parent / "bluesky" / "paper.session"
    saved = json.loads(session_file.read_text())
    parts = saved["session"].split(":::")  # handle, did, access JWT, refresh JWT, endpoint
    assert len(parts) >= 4 and parts[2].count(".") == 2
    for i in (2, 3):  # both tokens' signatures altered: the server refuses them
        head, payload, signature = parts[i].split(".")
        parts[i] = ".".join((head, payload, signature[::-1]))
    saved["session"] = ":::".join(parts)
    session_file.write_text(json.dumps(saved))
    lines = run_engine(feed, ledger, env, until=60)
    assert sorted(r["value"]["text"] for r in real_pds.list_records(account.did, POST)) == ["After a tampered session.", "First."]
    assert any("logging in again" in line or "logged in" in line for line in lines)
