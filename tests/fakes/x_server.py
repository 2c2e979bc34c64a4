"""A fake X API on 127.0.0.1 that records every request and injects faults on demand.

In-process use (a thread serves; ``with`` starts and stops it)::

    with FakeXServer() as x:
        env["X_API_BASE_URL"] = x.base_url
        x.fail("503", count=2, path="/2/tweets")
        ...
        assert [r.path for r in x.requests()] == [...]

As a separate process, for end-to-end tests (runs until SIGTERM/SIGINT)::

    python -m tests.fakes.x_server --port-file PORT_FILE --log REQUESTS.jsonl

The port is written to PORT_FILE once the server listens; every request is one
JSON line in the log (flushed at once). Faults are set there with
``POST /_control/fault`` and a JSON body ``{"kind": ..., "count": ..., "path": ...,
"token": ..., "reset_in": ..., "hang_seconds": ...}``; ``POST /_control/clear``
drops pending faults and ``GET /_control/requests`` returns the record as JSON.

Signatures are not verified: the OAuth ``oauth_token`` (the access token) is only
read to know which account called.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

# Fault kinds (the `kind` argument of FakeXServer.fail)
RATE_LIMITED = "429"  # 429 with x-rate-limit-reset
RATE_LIMITED_NO_RESET = "429_no_reset"
SERVER_ERROR = "500"
UNAVAILABLE = "503"
UNAUTHORIZED = "401"
DUPLICATE = "403_duplicate"  # X's answer to a repeated tweet text
ACCESS_LEVEL = "403_453"  # the access tier forbids the endpoint (code 453)
MALFORMED_JSON = "malformed_json"  # a 2xx whose body is cut-off JSON (the action happened)
HANG = "hang"  # read and record the request, answer nothing for hang_seconds, close
RESET_BEFORE_READ = "reset_before_read"  # TCP reset without reading the request (not recorded)
RESET_AFTER_READ = "reset_after_read"  # read and record the request, then TCP reset

FAULT_KINDS = (
    RATE_LIMITED, RATE_LIMITED_NO_RESET, SERVER_ERROR, UNAVAILABLE, UNAUTHORIZED,
    DUPLICATE, ACCESS_LEVEL, MALFORMED_JSON, HANG, RESET_BEFORE_READ, RESET_AFTER_READ,
)

ROUTES = (
    "/2/tweets",
    "/2/media/upload",
    "/2/media/metadata",
    "/1.1/account/update_profile.json",
    "/1.1/account/update_profile_image.json",
    "/1.1/account/update_profile_banner.json",
)

_DUPLICATE_BODY = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
_ACCESS_LEVEL_BODY = {
    "errors": [
        {
            "message": "You currently have access to a subset of X API V2 endpoints and "
            "limited v1.1 endpoints (e.g. media post, oauth) only. If you need access to "
            "this endpoint, you may need a different access level. You can learn more "
            "here: https://developer.x.com/en/portal/product",
            "code": 453,
        }
    ]
}


def _problem(status: int, title: str) -> dict[str, Any]:
    """The v2 'problem' body X sends with most errors."""
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    token: str | None  # oauth_token of the Authorization header: the access token
    time: float  # time.time() when the request line arrived
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)  # urlencoded or multipart text fields
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> filename, size...
    status: int | None = None  # what was answered; None when nothing was
    fault: str | None = None
    created_id: str | None = None  # tweet or media id this request created

    @property
    def params(self) -> dict[str, str]:
        """Query and form fields together (v1.1 sends its parameters in the query)."""
        return {**self.query, **self.form}

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass
class _Fault:
    kind: str
    count: int
    path: str | None
    token: str | None
    reset_in: float
    hang_seconds: float

    def matches(self, path: str | None, token: str | None) -> bool:
        return (self.path is None or self.path == path) and (
            self.token is None or self.token == token
        )


class FakeXServer:
    """The fake X API. Thread-safe; start() / stop() or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None):
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._tweet_ids = itertools.count(1_800_000_000_000_000_001)
        self._media_ids = itertools.count(1_900_000_000_000_000_001)
        self._stopping = threading.Event()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self.resets_before_read = 0  # connections dropped unread (they are not in requests())

    # ---- lifecycle
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeXServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-x-server", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()
        with self._lock:
            if self._log:
                self._log.close()
                self._log = None

    def __enter__(self) -> FakeXServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- faults
    def fail(
        self,
        kind: str,
        count: int = 1,
        *,
        path: str | None = None,
        token: str | None = None,
        reset_in: float = 60.0,
        hang_seconds: float = 5.0,
    ) -> None:
        """Answer the next `count` matching requests with fault `kind` (see FAULT_KINDS).

        `path` and `token` narrow which requests match; `reset_in` is how far in the
        future x-rate-limit-reset points (429); `hang_seconds` how long HANG stays silent.
        Faults queue in the order given; each request takes the first that matches.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(_Fault(kind, count, path, token, reset_in, hang_seconds))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str | None, token: str | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(path, token):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ---- record
    def requests(self, path: str | None = None, token: str | None = None) -> list[Recorded]:
        """A snapshot of the requests received so far, oldest first, optionally filtered."""
        with self._lock:
            found = list(self._requests)
        return [r for r in found if (path is None or r.path == path)
                and (token is None or r.token == token)]

    def tweets(self) -> list[Recorded]:
        return self.requests("/2/tweets")

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)
            if self._log:
                self._log.write(rec.to_json() + "\n")
                self._log.flush()

    def _next_id(self, path: str) -> str:
        with self._lock:
            return str(next(self._tweet_ids if path == "/2/tweets" else self._media_ids))


def serve():
    """Generator for a pytest fixture: `x_server = pytest.fixture(serve)`."""
    with FakeXServer() as server:
        yield server


def unused_port() -> int:
    """A localhost port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeXServer


_TOKEN_RE = re.compile(r'\boauth_token="([^"]*)"')


def _token_of(authorization: str | None) -> str | None:
    if not authorization:
        return None
    match = _TOKEN_RE.search(authorization)
    return unquote(match.group(1)) if match else None


def _parse_head(head: bytes) -> tuple[str | None, str | None]:
    """(path, access token) from the raw bytes of a request head."""
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    path = urlsplit(parts[1]).path if len(parts) >= 2 else None
    auth = next((ln.split(":", 1)[1].strip() for ln in lines[1:]
                 if ln.lower().startswith("authorization:")), None)
    return path, _token_of(auth)


def _parse_multipart(content_type: str, body: bytes):
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    form: dict[str, str] = {}
    files: dict[str, dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            form[name] = payload.decode("utf-8", "replace")
        else:
            files[name] = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
    return form, files


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection

    def log_message(self, format, *args) -> None:  # quiet
        pass

    # -- connection level: decide the fault before anything is read
    def handle(self) -> None:
        self.fault = None
        head = self._peek_head()
        path, token = _parse_head(head) if head else (None, None)
        if path is not None and not path.startswith("/_control/"):
            self.fault = self.server.fake._take_fault(path, token)
        if self.fault and self.fault.kind == RESET_BEFORE_READ:
            with self.server.fake._lock:
                self.server.fake.resets_before_read += 1
            self._reset()
            return
        super().handle()

    def _peek_head(self) -> bytes:
        deadline = time.monotonic() + 2.0
        data = b""
        while time.monotonic() < deadline:
            try:
                data = self.connection.recv(65536, socket.MSG_PEEK)
            except OSError:
                return b""
            if not data or b"\r\n\r\n" in data:
                return data
            time.sleep(0.002)
        return data

    def _reset(self) -> None:
        """Close with a TCP reset (SO_LINGER 0), answering nothing."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    # -- request level
    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/_control/requests":
            self._answer(200, [json.loads(r.to_json()) for r in self.server.fake.requests()])
        else:
            self._answer(404, _problem(404, "Not Found Error"))

    def do_POST(self) -> None:
        fake = self.server.fake
        received = time.time()
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path.startswith("/_control/"):
            return self._control(url.path, body)

        rec = Recorded(
            method="POST", path=url.path, token=_token_of(self.headers.get("Authorization")),
            time=received, query={k: v[-1] for k, v in parse_qs(url.query).items()},
        )
        ctype = self.headers.get("Content-Type", "")
        try:
            if ctype.startswith("application/json"):
                rec.json = json.loads(body or b"null")
            elif ctype.startswith("multipart/form-data"):
                rec.form, rec.files = _parse_multipart(ctype, body)
            elif ctype.startswith("application/x-www-form-urlencoded"):
                rec.form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        except (ValueError, UnicodeDecodeError):
            rec.form = {"_unparsed": body[:200].decode("latin-1")}

        fault = self.fault
        rec.fault = fault.kind if fault else None
        if fault and fault.kind in (RESET_AFTER_READ, HANG):
            fake._record(rec)
            if fault.kind == RESET_AFTER_READ:
                self._reset()
            else:
                fake._stopping.wait(fault.hang_seconds)
                self.close_connection = True
            return

        if fault:
            status, payload, headers = self._fault_answer(fault, rec)
        else:
            status, payload, headers = self._route(rec)
        rec.status = status
        fake._record(rec)
        self._answer(status, payload, headers)

    def _fault_answer(self, fault: _Fault, rec: Recorded):
        kind = fault.kind
        if kind in (RATE_LIMITED, RATE_LIMITED_NO_RESET):
            headers = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0"}
            if kind == RATE_LIMITED:
                headers["x-rate-limit-reset"] = str(int(time.time() + fault.reset_in))
            return 429, _problem(429, "Too Many Requests"), headers
        if kind == SERVER_ERROR:
            return 500, _problem(500, "Internal Server Error"), {}
        if kind == UNAVAILABLE:
            return 503, _problem(503, "Service Unavailable"), {}
        if kind == UNAUTHORIZED:
            return 401, _problem(401, "Unauthorized"), {}
        if kind == DUPLICATE:
            return 403, _DUPLICATE_BODY, {}
        if kind == ACCESS_LEVEL:
            return 403, _ACCESS_LEVEL_BODY, {}
        # MALFORMED_JSON: the action happened, but the answer is cut short
        status, payload, headers = self._route(rec)
        text = payload.decode() if isinstance(payload, bytes) else json.dumps(payload)
        return status, (text[:12] or "{").encode(), headers

    def _route(self, rec: Recorded):
        fake = self.server.fake
        if rec.path == "/2/tweets":
            text = (rec.json or {}).get("text", "") if isinstance(rec.json, dict) else ""
            rec.created_id = fake._next_id(rec.path)
            return 201, {"data": {"id": rec.created_id, "text": text}}, {}
        if rec.path == "/2/media/upload":
            rec.created_id = fake._next_id(rec.path)
            size = next(iter(rec.files.values()), {}).get("size", 0)
            return 200, {"data": {
                "id": rec.created_id, "media_key": f"3_{rec.created_id}",
                "size": size, "expires_after_secs": 86400,
            }}, {}
        if rec.path == "/2/media/metadata":
            media_id = (rec.json or {}).get("id") if isinstance(rec.json, dict) else None
            return 200, {"data": {"id": media_id, "associated_metadata": True}}, {}
        if rec.path == "/1.1/account/update_profile_banner.json":
            return 200, b"", {}
        if rec.path in ROUTES:  # the two other v1.1 profile endpoints answer the user
            return 200, {"id": 1, "id_str": "1", "screen_name": "fake",
                         "name": rec.params.get("name", "fake"),
                         "description": rec.params.get("description", "")}, {}
        return 404, _problem(404, "Not Found Error"), {}

    def _control(self, path: str, body: bytes) -> None:
        fake = self.server.fake
        try:
            if path == "/_control/fault":
                spec = json.loads(body or b"{}")
                fake.fail(
                    spec["kind"], int(spec.get("count", 1)), path=spec.get("path"),
                    token=spec.get("token"), reset_in=float(spec.get("reset_in", 60)),
                    hang_seconds=float(spec.get("hang_seconds", 5)),
                )
            elif path == "/_control/clear":
                fake.clear_faults()
            else:
                return self._answer(404, {"error": f"unknown control {path}"})
        except (ValueError, KeyError, TypeError) as exc:
            return self._answer(400, {"error": f"bad control request: {exc}"})
        self._answer(200, {"ok": True})

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the fake X API until killed.")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True, help="one JSON line per request")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = FakeXServer(port=args.port, log_path=args.log).start()
    tmp = args.port_file.with_name(args.port_file.name + ".tmp")
    tmp.write_text(f"{server.port}\n")
    os.replace(tmp, args.port_file)  # readers never see a half-written port
    while not stop.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
