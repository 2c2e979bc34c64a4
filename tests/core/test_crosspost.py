"""Cross-posting end to end, in process: the engine (manual clock, real X, Mastodon and
Bluesky publishers) delivers every entry of two accounts to x, mastodon and bluesky at
once, against the three fake servers in this process."""

from __future__ import annotations

import json
import sqlite3
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path


from bot.publishers.mastodon.api import derive_idempotency_key
from bot.run.engine import RunMode
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.x_server import FakeXServer
from tests.support.engine import ActionLog, ManualClock, drive, real_engine
from tests.support.env import token, x_env
from tests.support.proc import actions, invoke_bot

ACCOUNTS = ("paper", "voice")
NETWORKS = ("x", "mastodon", "bluesky")
MASTODON_TOKENS = {"mtok-paper-SECRET": "paper", "mtok-voice-SECRET": "voice"}
PROFILE = "app.bsky.actor.profile"
POST = "app.bsky.feed.post"
SPEED = 120  # one historical minute -> 0.5 s

FEED = """\
title: Cross-posted
timezone: UTC
years_later: 110
accounts:
  paper: {platform: [x, mastodon, bluesky], persona: paper-p}
  voice: {platform: [x, mastodon, bluesky], persona: voice-p}
personas:
  paper-p: {name: Paper P, bio: A reenacted daily.}
  voice-p: {name: Voice V, bio: A reenacted voice.}
  stormed: {name: Stormed Times, bio: The daily after the storm., avatar: stormed.png}
"""

POSTS = """\
date: 1917-11-07
posts:
  - {time: "10:00", account: paper, id: first, text: "The bridges are raised.",
     media: [{file: bridge.png, alt: The Palace Bridge raised}]}
  - {time: "10:01", account: voice, id: answer, reply_to: first, text: "Not all of them: the Liteiny is ours."}
  - {time: "10:02", account: paper, id: again, reply_to: answer, text: "Confirmed by our reporter at the Liteiny."}
  - {time: "10:03", account: paper, id: штурм, storm: stormed, text: "The palace has fallen. This paper now speaks for the Soviet."}
  - {time: "10:04", account: voice, id: pictures, text: "Two pictures from the square.",
     media: [{file: square.png, alt: Crowds on the square}, {file: bridge.png, alt: The bridge at dusk}]}
  - {time: "10:05", account: paper, id: link, text: "Full text at https://example.org/decree-on-peace today."}
"""

ORDER = ["first", "answer", "again", "штурм", "pictures", "link"]
TEXT = {
    "first": "The bridges are raised.",
    "answer": "Not all of them: the Liteiny is ours.",
    "again": "Confirmed by our reporter at the Liteiny.",
    "штурм": "The palace has fallen. This paper now speaks for the Soviet.",
    "pictures": "Two pictures from the square.",
    "link": "Full text at https://example.org/decree-on-peace today.",
}
ACCOUNT = {"first": "paper", "answer": "voice", "again": "paper", "штурм": "paper", "pictures": "voice", "link": "paper"}
PARENT = {"answer": "first", "again": "answer"}
ALTS = {"first": ["The Palace Bridge raised"], "pictures": ["Crowds on the square", "The bridge at dusk"]}


def png(rgb: tuple[int, int, int]) -> bytes:
    """A valid 1x1 PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes([0, *rgb]))) + chunk(b"IEND", b""))


def write_feed(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "feed.yaml").write_text(FEED, encoding="utf-8")
    (root / "posts.yaml").write_text(POSTS, encoding="utf-8")
    (root / "bridge.png").write_bytes(png((200, 0, 0)))
    (root / "square.png").write_bytes(png((0, 200, 0)))
    (root / "stormed.png").write_bytes(png((0, 0, 200)))
    return root


class Networks:
    """The three fakes: one X, one Mastodon instance, one Bluesky PDS per account."""

    def __init__(self, mastodon_tokens: dict[str, str] | None = None):
        self.x = FakeXServer()
        self.mastodon = FakeMastodon(tokens=MASTODON_TOKENS)
        self.bluesky = {a: FakeBluesky(handle=f"{a}.test", password=f"app-pass-{a}-SECRET") for a in ACCOUNTS}
        for account, pds in self.bluesky.items():
            pds.did = f"did:plc:{account}" + "x" * (24 - len(account))
        self.mastodon_tokens = mastodon_tokens or {a: t for t, a in MASTODON_TOKENS.items()}

    def __enter__(self):
        self.x.__enter__()
        self.mastodon.__enter__()
        for pds in self.bluesky.values():
            pds.__enter__()
        return self

    def __exit__(self, *exc):
        for pds in self.bluesky.values():
            pds.__exit__(*exc)
        self.mastodon.__exit__(*exc)
        self.x.__exit__(*exc)

    def env(self, **extra) -> dict:
        env = x_env(self.x.base_url, ACCOUNTS, MASTODON_TIMEOUT="5", BLUESKY_TIMEOUT="5", **extra)
        for account in ACCOUNTS:
            name = account.upper()
            env[f"MASTODON_{name}_BASE_URL"] = self.mastodon.base_url
            env[f"MASTODON_{name}_ACCESS_TOKEN"] = self.mastodon_tokens[account]
            env[f"BLUESKY_{name}_HANDLE"] = f"{account}.test"
            env[f"BLUESKY_{name}_APP_PASSWORD"] = f"app-pass-{account}-SECRET"
            env[f"BLUESKY_{name}_SERVICE"] = self.bluesky[account].base_url
        return env

    # -- what each network received -------------------------------------------

    def x_posts(self) -> list[str]:
        return [r.json["text"] for r in self.x.tweets() if r.status == 201]

    def mastodon_posts(self) -> list[str]:
        return [s["text"] for s in self.mastodon.statuses]

    def bluesky_posts(self, account: str | None = None) -> list[str]:
        """Texts of the post records created (on one account's PDS, or on both)."""
        return [call.json["record"]["text"]
                for key, pds in self.bluesky.items() if account in (None, key)
                for call in pds.calls("com.atproto.repo.createRecord") if call.json.get("collection") == POST]


class Run:
    """What a run left: its action lines."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def lines(self) -> list[str]:
        return self._lines


START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def run_feed(tmp_path: Path, nets: Networks, env: dict, until, what: str, *, minutes: float = 10) -> tuple[Run, Path]:
    """The feed rehearsed in process from START (one historical minute is 0.5 s), for
    `minutes` of the manual clock; `until()` must then hold."""
    feed = write_feed(tmp_path / "feed")
    ledger = tmp_path / "state" / "ledger.sqlite3"
    ledger.parent.mkdir()
    clock = ManualClock(START)
    mode = RunMode(start_at=START + timedelta(seconds=5), speed=SPEED, watch=False)
    with ActionLog() as log:
        engine = real_engine(feed, ledger, clock, env, mode=mode)
        engine.start()
        try:
            drive(engine, clock, START + timedelta(minutes=minutes))
        finally:
            engine.close()
    assert until(), f"{what}:\n" + "\n".join(log.lines[-20:])
    return Run(log.lines), ledger


def status_json(tmp_path: Path, ledger: Path, env: dict) -> dict:
    out = invoke_bot("status", "--posts", str(tmp_path / "feed"), "--ledger", str(ledger), "--format", "json",
                     cwd=tmp_path, env={k: v for k, v in env.items() if k.startswith(("X_", "MASTODON_", "BLUESKY_"))})
    assert out.code == 0, out.stderr
    return json.loads(out.stdout)


def ledger_rows(ledger: Path) -> dict[tuple[str, str, str], tuple[str, str | None, str | None]]:
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT entry_id, account, network, state, remote_id, reason FROM deliveries").fetchall()
    return {(e, a, n): (s, rid, why) for e, a, n, s, rid, why in rows}


def switch_rows(ledger: Path) -> list[tuple[str, str, str, str, str | None, str | None]]:
    """(account, network, persona, state, entry id, reason) of every switch, oldest first."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT account, network, persona, state, entry_id, reason FROM switches ORDER BY id").fetchall()


def test_every_entry_reaches_all_three_networks_threaded_with_personas(tmp_path):
    with Networks() as nets:
        env = nets.env()
        done = lambda: (len(nets.x_posts()) >= 6 and len(nets.mastodon_posts()) >= 6  # noqa: E731
                        and len(nets.bluesky_posts()) >= 6)
        bot, ledger = run_feed(tmp_path, nets, env, done, "six posts on each network")
        in_order = [TEXT[e] for e in ORDER]

        # -- each network got every post once, in order -------------------------------
        assert nets.x_posts() == in_order
        assert nets.mastodon_posts() == in_order
        by_account = {a: [TEXT[e] for e in ORDER if ACCOUNT[e] == a] for a in ACCOUNTS}
        for account in ACCOUNTS:
            assert nets.bluesky_posts(account) == by_account[account]
        posted = actions(bot.lines(), "posted")
        assert sorted((a["entry"], a["platform"]) for a in posted) == sorted((e, n) for e in ORDER for n in NETWORKS)
        assert max(int(a["late_ms"]) for a in posted) < 1000

        rows = ledger_rows(ledger)
        assert set(rows) == {(e, ACCOUNT[e], n) for e in ORDER for n in NETWORKS}
        assert {state for state, _, _ in rows.values()} == {"posted"}
        remote = {(e, n): rows[(e, ACCOUNT[e], n)][1] for e in ORDER for n in NETWORKS}

        # -- X: replies, images with alt text, each account's token ----------------------
        tweets = {r.json["text"]: r for r in nets.x.tweets()}
        for entry in ORDER:
            assert tweets[TEXT[entry]].token == token(ACCOUNT[entry])
            assert remote[(entry, "x")] == tweets[TEXT[entry]].created_id
        for child, parent in PARENT.items():
            assert tweets[TEXT[child]].json["reply"]["in_reply_to_tweet_id"] == remote[(parent, "x")]
        assert "reply" not in tweets[TEXT["first"]].json
        uploads = {u.created_id for u in nets.x.requests("/2/media/upload")}
        alt_of = {m.json["id"]: m.json["metadata"]["alt_text"]["text"] for m in nets.x.requests("/2/media/metadata")}
        for entry, alts in ALTS.items():
            ids = tweets[TEXT[entry]].json["media"]["media_ids"]
            assert set(ids) <= uploads and [alt_of[i] for i in ids] == alts

        # -- Mastodon: in_reply_to_id, media descriptions, idempotency keys, tokens -------
        statuses = {s["text"]: s for s in nets.mastodon.statuses}
        for entry in ORDER:
            assert statuses[TEXT[entry]]["account"]["username"] == ACCOUNT[entry]
            assert remote[(entry, "mastodon")] == statuses[TEXT[entry]]["id"]
        for child, parent in PARENT.items():
            assert statuses[TEXT[child]]["in_reply_to_id"] == remote[(parent, "mastodon")]
        assert statuses[TEXT["first"]]["in_reply_to_id"] is None
        for entry, alts in ALTS.items():
            assert [m["description"] for m in statuses[TEXT[entry]]["media_attachments"]] == alts
        posts = nets.mastodon.requests_to("POST", "/api/v1/statuses")
        keys = [r.idempotency_key for r in posts]
        assert all(keys) and len(set(keys)) == len(ORDER)
        storm_key = next(r.idempotency_key for r in posts if r.field("status") == TEXT["штурм"])
        assert storm_key == derive_idempotency_key("штурм", "paper", "mastodon")  # a non-ASCII id, made header-safe

        # -- Bluesky: reply root and parent strong refs, images with alt, link facet ------
        records = {}
        for pds in nets.bluesky.values():
            for (collection, rkey), (cid, value) in pds.records.items():
                if collection == POST:
                    records[value["text"]] = (pds.uri(collection, rkey), cid, value)
        for entry in ORDER:
            uri, cid, _ = records[TEXT[entry]]
            assert remote[(entry, "bluesky")] == f"{uri}|{cid}"
            assert uri.startswith(f"at://{nets.bluesky[ACCOUNT[entry]].did}/")

        def ref(entry):
            uri, cid, _ = records[TEXT[entry]]
            return {"uri": uri, "cid": cid}

        def reply_of(entry):
            reply = records[TEXT[entry]][2]["reply"]
            return {part: {"uri": reply[part]["uri"], "cid": reply[part]["cid"]} for part in ("root", "parent")}

        assert reply_of("answer") == {"root": ref("first"), "parent": ref("first")}  # across accounts
        assert reply_of("again") == {"root": ref("first"), "parent": ref("answer")}
        assert "reply" not in records[TEXT["first"]][2]
        for entry, alts in ALTS.items():
            embed = records[TEXT[entry]][2]["embed"]
            assert [i["alt"] for i in embed["images"]] == alts
            pds = nets.bluesky[ACCOUNT[entry]]
            assert all(i["image"]["ref"]["$link"] in pds.blobs for i in embed["images"])
        facets = records[TEXT["link"]][2]["facets"]
        assert [f["features"][0]["uri"] for f in facets] == ["https://example.org/decree-on-peace"]

        # -- the storm: persona switched on all three networks before the storm's post ----
        paper_x = nets.x.requests(token=token("paper"))
        names = [(i, r.params.get("name")) for i, r in enumerate(paper_x) if r.path.endswith("update_profile.json")]
        assert [n for _, n in names] == ["Paper P", "Stormed Times"]
        storm_tweet = next(i for i, r in enumerate(paper_x) if r.path == "/2/tweets" and r.json["text"] == TEXT["штурм"])
        assert names[1][0] < storm_tweet
        assert any(r.path.endswith("update_profile_image.json") for r in paper_x[names[1][0]:storm_tweet])
        voice_x = nets.x.requests(token=token("voice"))
        assert [r.params.get("name") for r in voice_x if r.path.endswith("update_profile.json")] == ["Voice V"]

        paper_token = "mtok-paper-SECRET"
        paper_m = [r for r in nets.mastodon.requests if r.token == paper_token]
        updates = [(i, r) for i, r in enumerate(paper_m) if r.path == "/api/v1/accounts/update_credentials"]
        assert [r.field("display_name") for _, r in updates] == ["Paper P", "Stormed Times"]
        storm_status = next(i for i, r in enumerate(paper_m) if r.path == "/api/v1/statuses" and r.field("status") == TEXT["штурм"])
        assert updates[1][0] < storm_status and "avatar" in updates[1][1].files
        assert nets.mastodon.profiles[paper_token]["note"] == "The daily after the storm."

        pds = nets.bluesky["paper"]
        writes = [(i, r) for i, r in enumerate(pds.requests)
                  if r.nsid in ("com.atproto.repo.putRecord", "com.atproto.repo.createRecord") and r.json.get("collection") == PROFILE]
        assert [r.json["record"]["displayName"] for _, r in writes] == ["Paper P", "Stormed Times"]
        storm_write = writes[1][1]
        assert storm_write.nsid == "com.atproto.repo.putRecord" and storm_write.json.get("swapRecord")
        storm_post = next(i for i, r in enumerate(pds.requests)
                          if r.nsid == "com.atproto.repo.createRecord" and r.json["record"].get("text") == TEXT["штурм"])
        assert writes[1][0] < storm_post
        profile = pds.records[(PROFILE, "self")][1]
        assert profile["displayName"] == "Stormed Times" and profile["avatar"]["ref"]["$link"] in pds.blobs
        assert nets.bluesky["voice"].records[(PROFILE, "self")][1]["displayName"] == "Voice V"

        storm_switches = [r for r in switch_rows(ledger) if r[4] == "штурм"]
        assert sorted((n, p, s) for _, n, p, s, _, _ in storm_switches) == [(n, "stormed", "posted") for n in sorted(NETWORKS)]

        # -- Bluesky logged in once per account and kept the session in the state folder --
        for account, pds in nets.bluesky.items():
            assert len(pds.calls("com.atproto.server.createSession")) == 1
            assert (ledger.parent / "bluesky" / f"{account}.session").is_file()

        # -- bot status counts deliveries: six entries on three networks ------------------
        status = status_json(tmp_path, ledger, env)
        assert status["posted"] == 3 * len(ORDER)
        assert (status["failed"], status["uncertain"], status["missed"], status["pending"]) == (0, 0, 0, 0)

        log = "\n".join(bot.lines())
        for secret in ("mtok-paper-SECRET", "app-pass-paper-SECRET", "LEAKCHECK"):
            assert secret not in log


def test_a_network_refusing_everything_leaves_the_others_on_time(tmp_path):
    """Mastodon refuses the tokens (401): its persona switches are refused for good (posting
    goes on), each post fails; x and bluesky post every entry on time."""
    with Networks(mastodon_tokens={"paper": "revoked-paper", "voice": "revoked-voice"}) as nets:
        env = nets.env(BOT_RETRIES="2", BOT_BACKOFF="0.05")
        bot, ledger = run_feed(tmp_path, nets, env, lambda: len(nets.x_posts()) == len(nets.bluesky_posts()) == 6,
                               "x and bluesky posts")
        assert nets.x_posts() == [TEXT[e] for e in ORDER] and nets.mastodon.statuses == []
        posted = actions(bot.lines(), "posted")
        assert {(a["entry"], a["platform"]) for a in posted} == {(e, n) for e in ORDER for n in ("x", "bluesky")}
        assert max(int(a["late_ms"]) for a in posted) == 0, "the failing network held up the others"
        rows = ledger_rows(ledger)
        for entry in ORDER:
            state, remote_id, reason = rows[(entry, ACCOUNT[entry], "mastodon")]
            assert (state, remote_id) == ("failed", None) and "HTTP 401" in reason
        storm = {n: s for a, n, p, s, e, _ in switch_rows(ledger) if e == "штурм"}
        assert storm == {"x": "posted", "bluesky": "posted", "mastodon": "failed"}
        status = status_json(tmp_path, ledger, env)
        assert (status["posted"], status["failed"], status["pending"]) == (2 * len(ORDER), len(ORDER), 0)
        problems = [(p["kind"], p["platform"], p["state"]) for p in status["problems"]]
        assert problems.count(("delivery", "mastodon", "failed")) == len(ORDER)
        assert ("switch", "mastodon", "failed") in problems and all(p["platform"] == "mastodon" for p in status["problems"])


def test_a_network_whose_profile_writes_break_holds_its_posts_not_the_others(tmp_path):
    """Mastodon answers 500 to every write: its persona switch is retried (the persona must be
    worn before anything is posted under it), so its posts wait and, past the grace, are
    missed with the reason; x and bluesky post every entry on time; nothing is posted twice."""
    with Networks() as nets:
        for method, path in (("POST", "/api/v1/statuses"), ("POST", "/api/v2/media"),
                             ("PATCH", "/api/v1/accounts/update_credentials")):
            nets.mastodon.fail(method, path, status=500, times=1000)
        env = nets.env(BOT_RETRIES="2", BOT_BACKOFF="0.05", BOT_GRACE="60")
        bot, ledger = run_feed(tmp_path, nets, env, lambda: len(nets.x_posts()) == len(nets.bluesky_posts()) == 6,
                               "x and bluesky posts")
        assert nets.mastodon.statuses == [] and nets.mastodon.requests_to("POST", "/api/v1/statuses") == []
        rows = ledger_rows(ledger)
        for entry in ORDER:
            state, _, reason = rows[(entry, ACCOUNT[entry], "mastodon")]
            assert state == "missed" and "for the persona switch" in reason
        retries = actions(bot.lines(), "switch-retry")
        assert {a["platform"] for a in retries} == {"mastodon"} and len(retries) > 10  # retried, no limit
        assert max(int(a["late_ms"]) for a in actions(bot.lines(), "posted")) == 0
