"""A notification target on 127.0.0.1 for Apprise's `json://` URLs: it keeps every
message it is sent; `hang` makes it accept and never answer, `status` answer an error.

    with Receiver() as rx:
        env["BOT_NOTIFY"] = rx.url          # json://127.0.0.1:PORT/
        rx.wait_for(lambda m: "post failed" in m["title"], 10)
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        rx = self.server.receiver
        if rx.hang:
            rx.hung.set()
            rx.release.wait(30)
            return
        try:
            message = json.loads(body)
        except ValueError:
            message = {"raw": body.decode("utf-8", "replace")}
        with rx.lock:
            rx.messages.append({**message, "_path": self.path, "_at": time.monotonic()})
        self.send_response(rx.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.hang = False
        self.hung = threading.Event()
        self.release = threading.Event()
        self.status = 200
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.receiver = self
        self.port = self.httpd.server_address[1]
        self.url = f"json://127.0.0.1:{self.port}/"

    def __enter__(self) -> Receiver:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def titles(self) -> list[str]:
        with self.lock:
            return [m.get("title", "") for m in self.messages]

    def wait_for(self, predicate, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if predicate(m)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no such message within {timeout} s; got: {self.titles()}")


def dead_url() -> str:
    """A json:// URL where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"json://127.0.0.1:{port}/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
