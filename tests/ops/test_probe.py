"""The container's HEALTHCHECK (`python -m bot.ops.probe`): 0 without BOT_HTTP or on 200,
1 on 503 or when nothing answers; a wildcard address is asked on loopback."""

from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.ops.receiver import free_port
from tests.support.env import clean_env


class Answer(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "ok"}' if self.status == 200 else b'{"status": "unhealthy", "reason": "the timer is not running"}'
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def healthz():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def probe(env: dict) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "bot.ops.probe"], env=clean_env(env), capture_output=True, text=True,
                          timeout=30)
    return done.returncode, done.stdout.strip()


def test_without_bot_http_the_probe_passes():
    assert probe({}) == (0, "BOT_HTTP is not set: nothing to check")


def test_the_probe_follows_healthz(healthz):
    port = healthz.server_address[1]
    Answer.status = 200
    assert probe({"BOT_HTTP": f"0.0.0.0:{port}"}) == (0, '{"status": "ok"}')
    Answer.status = 503
    code, out = probe({"BOT_HTTP": str(port)})
    assert code == 1 and "the timer is not running" in out
    Answer.status = 200


def test_nothing_listening_fails_the_probe():
    code, out = probe({"BOT_HTTP": f"127.0.0.1:{free_port()}"})
    assert code == 1 and "Connection refused" in out
