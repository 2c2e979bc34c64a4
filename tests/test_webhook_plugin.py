"""The plugin interface from outside: examples/webhook-publisher is pip-installed into a
folder of the test's own (`pip install --target`, put on PYTHONPATH for the commands the
tests run: nothing is installed into the environment running the tests), found through
the `bot.publishers` entry point, and `bot run` publishes a feed through it to a receiver
on 127.0.0.1."""

from __future__ import annotations

import importlib
import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest

from tests.support.env import clean_env

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "webhook-publisher"
ENTRY_POINT = ("webhook", "bot_webhook:WebhookPublisher")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """A folder holding the example as pip installs it (offline, from a copy so the source
    tree gets no build files): its module and its dist-info with the entry point."""
    work = tmp_path_factory.mktemp("webhook")
    build = work / "webhook-publisher"
    shutil.copytree(EXAMPLE, build, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = work / "site"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(build)],
        capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, (
        "pip could not build examples/webhook-publisher (offline builds need setuptools>=70.1 "
        "in the test environment):\n" + out.stdout[-2000:] + out.stderr[-2000:])
    points = {(ep.name, ep.value) for dist in metadata.distributions(path=[str(site)]) for ep in dist.entry_points
              if ep.group == "bot.publishers"}
    assert points == {ENTRY_POINT}
    return site


@pytest.fixture
def webhook_installed(plugin_site, monkeypatch):
    """The plugin visible to this process for one test (sys.path), and to the commands it runs (PYTHONPATH)."""
    from bot import publishers

    monkeypatch.syspath_prepend(str(plugin_site))
    importlib.invalidate_caches()
    publishers._entry_points.cache_clear()
    publishers.load.cache_clear()
    yield plugin_site
    publishers._entry_points.cache_clear()
    publishers.load.cache_clear()
    sys.modules.pop("bot_webhook", None)


# -- a receiver on 127.0.0.1 ----------------------------------------------------------------


class Receiver:
    """Records every JSON body POSTed to /hook/<account>; answers {"id": "hook-N"}."""

    def __init__(self):
        self.bodies: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                assert self.headers.get("Content-Type", "").startswith("application/json")
                with receiver.lock:
                    receiver.bodies.append((self.path, json.loads(data)))
                    answer = json.dumps({"id": f"hook-{len(receiver.bodies)}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def posts(self) -> list[tuple[str, dict]]:
        with self.lock:
            return [(path, body) for path, body in self.bodies if body["type"] == "post"]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


FEED = """\
title: Hooked
timezone: UTC
years_later: 110
accounts:
  wire: {platform: webhook, persona: wire-p}
  chat-room: {platform: [webhook], persona: room-p}
personas:
  wire-p: {name: The Wire, bio: Dispatches.}
  room-p: {name: The Room, bio: Talk.}
  stormed: {name: Stormed Wire, bio: Dispatches after the storm., avatar: wire.png}
"""

POSTS = """\
date: 1917-11-07
posts:
  - {time: "10:00", account: wire, id: w1, text: "First dispatch.", media: [{file: wire.png, alt: A telegraph key}]}
  - {time: "10:01", account: chat-room, id: r1, reply_to: w1, text: "Heard it here."}
  - {time: "10:02", account: wire, id: w2, storm: stormed, text: "Under new management."}
  - {time: "10:03", account: chat-room, id: r2, text: "Noted — «новая власть»."}
"""


def env_for(receiver: Receiver | None, tmp_path: Path, site: Path) -> dict:
    env = {k: v for k, v in clean_env().items() if not k.startswith("WEBHOOK_")}
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = str(site)
    if receiver is not None:
        env["WEBHOOK_WIRE_URL"] = receiver.url + "/hook/wire"
        env["WEBHOOK_CHAT_ROOM_URL"] = receiver.url + "/hook/chat-room"
        env["WEBHOOK_TIMEOUT"] = "5"
    return env


def bot(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def test_a_feed_runs_through_the_installed_webhook_publisher(tmp_path, webhook_installed):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "feed.yaml").write_text(FEED, encoding="utf-8")
    (feed / "posts.yaml").write_text(POSTS, encoding="utf-8")
    (feed / "wire.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    ledger = tmp_path / "ledger.sqlite3"
    receiver = Receiver()
    try:
        env = env_for(receiver, tmp_path, webhook_installed)
        checked = bot("check", str(feed), "--credentials", env=env, cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        start = (datetime.now(UTC) + timedelta(seconds=2.5)).isoformat()
        log = tmp_path / "run.log"
        with open(log, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--posts", str(feed), "--start-at", start,
                                     "--speed", "120", "--ledger", str(ledger)], env=env, cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=err)
            try:
                deadline = time.monotonic() + 30
                while len(receiver.posts()) < 4 and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.05)
                time.sleep(0.3)  # a duplicate would arrive now
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(15)
        lines = log.read_text(encoding="utf-8")
        assert code == 0, lines

        bodies = list(receiver.bodies)
        posts = [(path, body) for path, body in bodies if body["type"] == "post"]
        assert [(path, body["entry_id"], body["text"]) for path, body in posts] == [
            ("/hook/wire", "w1", "First dispatch."),
            ("/hook/chat-room", "r1", "Heard it here."),
            ("/hook/wire", "w2", "Under new management."),
            ("/hook/chat-room", "r2", "Noted — «новая власть»."),
        ], lines
        by_id = {body["entry_id"]: body for _, body in posts}
        assert by_id["w1"]["media"] == [{"file": "wire.png", "alt": "A telegraph key"}]
        assert by_id["w1"]["persona"]["name"] == "The Wire" and by_id["w1"]["network"] == "webhook"
        w1_id = "hook-" + str(bodies.index(("/hook/wire", by_id["w1"])) + 1)
        assert by_id["r1"]["reply_to"] == w1_id  # the remote id the receiver gave w1
        assert by_id["w2"]["persona"]["name"] == "Stormed Wire"
        assert all(body["idempotency_key"] for body in by_id.values())

        # persona switches: each account's start-up persona, then the storm's before w2
        switches = [(path, body["persona"]["key"]) for path, body in bodies if body["type"] == "persona"]
        assert sorted(switches[:2]) == [("/hook/chat-room", "room-p"), ("/hook/wire", "wire-p")]
        assert switches[2:] == [("/hook/wire", "stormed")]
        storm_switch = next(i for i, (_, b) in enumerate(bodies) if b["type"] == "persona" and b["persona"]["key"] == "stormed")
        assert storm_switch < bodies.index(("/hook/wire", by_id["w2"]))
        assert bodies[storm_switch][1]["persona"]["avatar"] == "wire.png"

        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
            rows = dict(((e, n), (s, r)) for e, n, s, r in conn.execute(
                "SELECT entry_id, network, state, remote_id FROM deliveries"))
        assert rows[("w1", "webhook")] == ("posted", w1_id)
        assert {key: state for key, (state, _) in rows.items()} == {(e, "webhook"): "posted" for e in ("w1", "r1", "w2", "r2")}
        assert receiver.url not in lines  # the URL may carry a token: never logged
    finally:
        receiver.close()


def test_check_reports_a_missing_webhook_url(tmp_path, webhook_installed):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "feed.yaml").write_text(FEED, encoding="utf-8")
    (feed / "posts.yaml").write_text(POSTS, encoding="utf-8")
    (feed / "wire.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = bot("check", str(feed), "--credentials", env=env_for(None, tmp_path, webhook_installed), cwd=tmp_path)
    assert out.returncode == 1
    assert f"{feed / 'feed.yaml'}:5: error: account 'wire' on webhook lacks credentials: set WEBHOOK_WIRE_URL" in out.stdout
    assert "set WEBHOOK_CHAT_ROOM_URL" in out.stdout


def test_an_unknown_platform_lists_the_installed_publishers(tmp_path, webhook_installed):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "feed.yaml").write_text(FEED.replace("platform: webhook,", "platform: webhok,"), encoding="utf-8")
    (feed / "posts.yaml").write_text("date: 1917-11-07\nposts: []\n", encoding="utf-8")
    out = bot("check", str(feed), env=env_for(None, tmp_path, webhook_installed), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    installed = sorted({ep.name for ep in metadata.entry_points(group="bot.publishers")})
    assert {"console", "x", "webhook"} <= set(installed)
    assert (f"{feed / 'feed.yaml'}:5: error: unknown platform 'webhok' for account 'wire' "
            f"(installed: {', '.join(installed)}) (did you mean 'webhook'?)") in out.stdout.splitlines()


def test_the_entry_point_loads_the_plugin_in_process(webhook_installed):
    from bot import publishers

    cls = publishers.load("webhook")
    assert cls.__module__ == "bot_webhook" and issubclass(cls, publishers.Publisher)
    assert "webhook" in publishers.available()
    assert cls.required_credentials("chat-room") == ["WEBHOOK_CHAT_ROOM_URL"]
