"""Serve the HTML preview on 127.0.0.1 and reload it in the browser when the feed changes.

A watcher thread (watchfiles: OS file events) rebuilds the page whenever a file
under the feed folder changes. Open pages hold a Server-Sent Events stream on
`/events?v=VERSION`; when the page's version is no longer the current one the
server sends a `reload` event and the page reloads itself. A build that fails
serves a page with the failure's message instead of a blank page.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import watchfiles

from bot.views.html import render_problems

KEEPALIVE = 15.0  # seconds between SSE comments, so dead connections are noticed
READY_TIMEOUT = 5.0


class LivePage:
    """The current page and its version number; /events waits here for a newer one."""

    def __init__(self, build: Callable[[int], str]) -> None:
        self.build = build
        self.version = 0
        self.html = b""
        self.closed = False
        self.changed = threading.Condition()

    def rebuild(self) -> None:
        version = self.version + 1
        try:
            html = self.build(version)
        except Exception as exc:  # keep serving: show what went wrong on the page
            message = exc.format_message() if hasattr(exc, "format_message") else f"{type(exc).__name__}: {exc}"
            html = render_problems([f"error: {message}"], live=version)
        with self.changed:
            self.version, self.html = version, html.encode("utf-8")
            self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen or self.closed, timeout)
            return self.version

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()


class Handler(BaseHTTPRequestHandler):
    server: PreviewHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        path, _, query = self.path.partition("?")
        live = self.server.live
        if path in ("/", "/index.html"):
            with live.changed:
                body = live.html
            self.reply(200, "text/html; charset=utf-8", body)
        elif path == "/version":
            self.reply(200, "text/plain; charset=utf-8", str(live.version).encode())
        elif path == "/events":
            self.events(query)
        else:
            self.reply(404, "text/plain; charset=utf-8", b"not found\n")

    def reply(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def events(self, query: str) -> None:
        """Server-Sent Events: `reload` as soon as the page's version is not the current one."""
        live = self.server.live
        try:
            seen = int(parse_qs(query).get("v", ["-1"])[0])
        except ValueError:
            seen = -1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not live.closed:
                version = live.wait(seen, KEEPALIVE)
                if live.closed:
                    break
                if version != seen:
                    self.wfile.write(f"event: reload\ndata: {version}\n\n".encode())
                    seen = version
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:  # the page went away
            pass

    def log_message(self, format, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


class PreviewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    live: LivePage


class PreviewServer:
    """The page, the HTTP server and the feed watcher. `start()` then `serve_forever()`
    (or use it as a context manager, which serves in a background thread)."""

    def __init__(self, root: Path, build: Callable[[int], str], *, host: str = "127.0.0.1", port: int = 8000,
                 on_rebuild: Callable[[set], None] | None = None) -> None:
        self.root = Path(root)
        self.live = LivePage(build)
        self.on_rebuild = on_rebuild
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.httpd = PreviewHTTPServer((host, port), Handler)  # OSError when the port is taken
        self.httpd.live = self.live
        self.watcher = threading.Thread(target=self._watch, name="preview-watcher", daemon=True)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> None:
        """Start watching, then build the first page (so no change falls in between)."""
        self.watcher.start()
        self.ready.wait(READY_TIMEOUT)
        self.live.rebuild()

    def _watch(self) -> None:
        changes_seen = watchfiles.watch(
            self.root, stop_event=self.stop, debounce=150, step=50,
            rust_timeout=200, yield_on_timeout=True, raise_interrupt=False,
        )
        for changes in changes_seen:
            self.ready.set()  # the first (empty) yield: the OS watches are in place
            if changes and not self.stop.is_set():
                self.live.rebuild()
                if self.on_rebuild:
                    self.on_rebuild(changes)

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.stop.set()
        self.live.close()
        if self.thread is not None:
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()
        if self.watcher.is_alive():
            self.watcher.join(5)

    def __enter__(self) -> PreviewServer:
        self.start()
        self.thread = threading.Thread(target=self.serve_forever, name="preview-http", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serve(root: Path, build: Callable[[int], str], *, port: int, host: str = "127.0.0.1", out=None, err=None) -> int:
    """Serve the preview in the foreground until Ctrl-C. Returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    root = Path(root)
    if not root.is_dir():
        print(f"{root}:1: error: feed folder not found", file=err)
        return 1

    def rebuilt(changes: set) -> None:
        names = sorted({Path(path).name for _, path in changes if Path(path).exists() or path.endswith((".yaml", ".yml"))})
        print(f"rebuilt the preview ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''} changed)", file=err, flush=True)

    try:
        server = PreviewServer(root, build, host=host, port=port, on_rebuild=rebuilt)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", file=err)
        return 1
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop_on_term)
    try:
        server.start()
        print(f"Serving the preview of {root} at {server.url} (Ctrl-C to stop)", file=out, flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def stop_on_term(signum, frame) -> None:
    raise KeyboardInterrupt
