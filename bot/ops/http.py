"""BOT_HTTP: what a supervisor and an operator's tools read, off by default.

    GET /healthz   200 {"status": "ok", ...} when healthy, else 503 {"status": "unhealthy", "reason": ...}
    GET /metrics   Prometheus text format (bot.ops.metrics)
    GET /          the status page (bot.views.statuspage), read only, refreshing itself

It listens on 127.0.0.1 unless BOT_HTTP names another address (`0.0.0.0:9108`
in a container, behind its own port mapping). Nothing here changes the service.
The socket is bound before the service starts, so a port in use is a one-line
error at once; until the timer is armed /healthz answers 503 "starting".
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot.errors import BotError, ConfigError


class Handler(BaseHTTPRequestHandler):
    server: OpsHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self.answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self.answer(body=False)

    def answer(self, *, body: bool) -> None:
        path = self.path.partition("?")[0]
        ops = self.server.ops
        try:
            if path == "/healthz":
                verdict = ops.health.check()
                payload = json.dumps(verdict.body(), ensure_ascii=False).encode() + b"\n"
                self.reply(200 if verdict.ok else 503, "application/json", payload, body)
            elif path == "/metrics":
                data, kind = ops.metrics.render(self.headers.get("Accept", ""))
                self.reply(200, kind, data, body)
            elif path in ("/", "/index.html"):
                self.reply(200, "text/html; charset=utf-8", ops.page().encode("utf-8"), body,
                           extra={"Refresh": str(ops.refresh)})
            else:
                self.reply(404, "text/plain; charset=utf-8", b"not found\n", body)
        except BotError as exc:  # the ledger cannot be read: say so, do not crash the thread
            self.reply(503, "text/plain; charset=utf-8", f"unavailable: {ops.clean(str(exc))}\n".encode(), body)

    def reply(self, status: int, kind: str, payload: bytes, body: bool, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def log_message(self, format, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


class OpsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    ops: Endpoints


class Endpoints:
    """What the handler serves: `health` (bot.ops.health), `metrics` (bot.ops.metrics),
    `page()` the status page, `clean(text)` masking secrets."""

    def __init__(self, health, metrics, page: Callable[[], str], clean: Callable[[str], str], refresh: int) -> None:
        self.health, self.metrics, self.page, self.clean, self.refresh = health, metrics, page, clean, refresh


class Server:
    def __init__(self, address: tuple[str, int], endpoints: Endpoints) -> None:
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server = type("OpsHTTPServer", (OpsHTTPServer,), {"address_family": family})
        try:
            self.httpd = server((host, port), Handler)
        except OSError as exc:
            raise ConfigError(f"BOT_HTTP {host}:{port}: cannot listen: {exc.strerror or exc}") from None
        self.httpd.ops = endpoints
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="ops-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()
