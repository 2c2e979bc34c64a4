"""A fake Mastodon instance on 127.0.0.1 that Mastodon.py's real HTTP code talks to.

It serves what the publisher uses: GET /api/v1/instance and /api/v2/instance,
POST /api/v1/statuses (honouring Idempotency-Key per token), POST /api/v2/media
(200 with a url, or 202 then GET /api/v1/media/:id when `async_media` is set),
PATCH /api/v1/accounts/update_credentials and GET .../verify_credentials.
Every request is recorded in `.requests`; faults are queued with `.fail()`.

    with FakeMastodon(tokens={"tok-a": "alice"}) as server:
        server.fail("POST", "/api/v1/statuses", status=429, reset_in=30)
        ... Mastodon(api_base_url=server.base_url, access_token="tok-a") ...
        server.requests[-1].form["status"]
"""

from __future__ import annotations

import itertools
import json
import threading
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "4.3.2"
MAX_CHARS = 500
HANG_LIMIT = 30.0  # a hung request never outlives this, even if nobody releases it


@dataclass
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    token: str | None
    idempotency_key: str | None
    headers: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    json: Any = None

    def field(self, name: str) -> str | None:
        """First value of a form field (None when absent)."""
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    method: str
    path: str
    status: int | None = None  # answer with this HTTP status instead
    error: str | None = None  # the JSON "error" text of that answer
    reset_in: float | None = None  # 429: X-RateLimit-Reset this many seconds ahead
    hang: bool = False  # never answer (until released or HANG_LIMIT)
    drop: bool = False  # close the connection without answering
    after_effect: bool = False  # do the work first, then hang/drop/answer `status`
    times: int = 1


class FakeMastodon:
    def __init__(self, *, tokens: dict[str, str] | None = None, async_media: bool = False):
        """`tokens` maps each valid bearer token to a username (None: any token works)."""
        self.tokens = tokens
        self.async_media = async_media
        self.requests: list[Recorded] = []
        self.statuses: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}  # token -> latest profile
        self._faults: list[Fault] = []
        self._by_key: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids = itertools.count(110_000_000_000_000_001)
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def __enter__(self) -> FakeMastodon:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "use FakeMastodon as a context manager"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- test controls ---------------------------------------------------------

    def fail(self, method: str, path: str, **fault: Any) -> None:
        """Queue a fault for the next request(s) to `method path` (see Fault)."""
        with self._lock:
            self._faults.append(Fault(method.upper(), path, **fault))

    def release(self) -> None:
        """Let the requests hung so far finish (without answering); later faults hang again."""
        with self._lock:
            event, self._release = self._release, threading.Event()
        event.set()

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # -- used by the handler ---------------------------------------------------

    def _record(self, request: Recorded) -> Fault | None:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.method == request.method and fault.path == request.path:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _hang(self) -> None:
        with self._lock:
            event = self._release
        event.wait(HANG_LIMIT)

    def _next_id(self) -> str:
        with self._lock:
            return str(next(self._ids))


def _now_iso(offset: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, list[str]], dict[str, Upload]]:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    form: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    if not isinstance(boundary, str):
        return form, files
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        part = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            part[name.strip()] = value.strip()
        field_name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        if not isinstance(field_name, str):
            continue
        if filename is not None or part.get("content-type"):
            files[field_name] = Upload(filename, part.get("content-type"), data)
        else:
            form.setdefault(field_name, []).append(data.decode("utf-8"))
    return form, files


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMastodon
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    # -- plumbing --------------------------------------------------------------

    def _read(self) -> Recorded:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        auth = self.headers.get("Authorization", "")
        request = Recorded(
            method=self.command,
            path=url.path.rstrip("/") or "/",
            token=auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None,
            idempotency_key=self.headers.get("Idempotency-Key"),
            headers={k: v for k, v in self.headers.items()},
        )
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            request.form, request.files = _parse_multipart(body, ctype)
        elif ctype.startswith("application/json") and body:
            request.json = json.loads(body)
        elif body:
            request.form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        if url.query:
            for name, values in parse_qs(url.query, keep_blank_values=True).items():
                request.form.setdefault(name, []).extend(values)
        return request

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": message}, headers)

    def _vanish(self) -> None:
        self.close_connection = True

    def _handle(self) -> None:
        request = self._read()
        fault = self.fake._record(request)
        if fault is not None and not fault.after_effect:
            if fault.hang:
                self.fake._hang()
                return self._vanish()
            if fault.drop:
                return self._vanish()
            if fault.status is not None:
                return self._fault_answer(fault)
        route = _ROUTES.get((request.method, _route_path(request.path)))
        if route is None:
            return self._error(404, "Record not found")
        if route.auth and not self._authorised(request):
            return self._error(401, "The access token is invalid")
        status, payload = route.fn(self.fake, request)
        if fault is not None and fault.after_effect:
            if fault.hang:
                self.fake._hang()
                return self._vanish()
            if fault.drop or fault.status is None:
                return self._vanish()
            return self._fault_answer(fault)
        if status >= 400:
            return self._error(status, payload)
        self._send(status, payload)

    def _fault_answer(self, fault: Fault) -> None:
        assert fault.status is not None
        headers = {}
        if fault.status == 429:
            headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0"}
            if fault.reset_in is not None:
                headers["X-RateLimit-Reset"] = _now_iso(fault.reset_in)
        default = {401: "The access token is invalid", 429: "Too many requests"}
        self._error(fault.status, fault.error or default.get(fault.status, "Fault"), headers)

    def _authorised(self, request: Recorded) -> bool:
        if request.token is None:
            return False
        return self.fake.tokens is None or request.token in self.fake.tokens


# -- the API ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    fn: Any
    auth: bool = True


def _route_path(path: str) -> str:
    if path.startswith("/api/v1/media/"):
        return "/api/v1/media/:id"
    return path


def _account(fake: FakeMastodon, token: str | None) -> dict[str, Any]:
    username = (fake.tokens or {}).get(token or "", "bot")
    profile = fake.profiles.get(token or "", {})
    return {
        "id": str(zlib.crc32(username.encode())),
        "username": username,
        "acct": username,
        "display_name": profile.get("display_name", username),
        "note": profile.get("note", ""),
        "avatar": profile.get("avatar_url", ""),
        "header": profile.get("header_url", ""),
        "created_at": "2020-01-01T00:00:00.000Z",
    }


def _instance_v1(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    return 200, {
        "uri": "127.0.0.1",
        "title": "Fake Mastodon",
        "version": VERSION,
        "configuration": {"statuses": {"max_characters": MAX_CHARS}},
    }


def _instance_v2(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    return 200, {
        "domain": "127.0.0.1",
        "title": "Fake Mastodon",
        "version": VERSION,
        "api_versions": {"mastodon": 2},
        "configuration": {"statuses": {"max_characters": MAX_CHARS}},
    }


def _post_status(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    key = (request.token or "", request.idempotency_key or "")
    with fake._lock:
        if request.idempotency_key and key in fake._by_key:
            return 200, fake._by_key[key]
    text = request.field("status") or ""
    media_ids = request.form.get("media_ids[]", [])
    if not text and not media_ids:
        return 422, "Validation failed: Text can't be blank"
    if len(text) > MAX_CHARS:
        return 422, f"Validation failed: Text character limit of {MAX_CHARS} exceeded"
    unknown = [m for m in media_ids if m not in fake.media]
    if unknown:
        return 422, "Validation failed: media not found"
    status = {
        "id": fake._next_id(),
        "created_at": _now_iso(),
        "content": f"<p>{text}</p>",
        "text": text,
        "visibility": request.field("visibility") or "public",
        "in_reply_to_id": request.field("in_reply_to_id"),
        "media_attachments": [fake.media[m] for m in media_ids],
        "account": _account(fake, request.token),
    }
    with fake._lock:
        if request.idempotency_key:
            fake._by_key[key] = status
        fake.statuses.append(status)
    return 200, status


def _post_media(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    upload = request.files.get("file")
    if upload is None:
        return 422, "Validation failed: File can't be blank"
    media_id = fake._next_id()
    media = {
        "id": media_id,
        "type": "image",
        "url": None if fake.async_media else f"http://127.0.0.1/media/{media_id}",
        "preview_url": None,
        "description": request.field("description"),
        "blurhash": None,
        "size": len(upload.data),
    }
    with fake._lock:
        fake.media[media_id] = media
    return (202 if fake.async_media else 200), media


def _get_media(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    media = fake.media.get(request.path.rsplit("/", 1)[-1])
    if media is None:
        return 404, "Record not found"
    media["url"] = f"http://127.0.0.1/media/{media['id']}"  # processed by now
    return 200, media


def _update_credentials(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    token = request.token or ""
    with fake._lock:
        profile = fake.profiles.setdefault(token, {})
        for name in ("display_name", "note"):
            if name in request.form:
                profile[name] = request.field(name)
        for name in ("avatar", "header"):
            if name in request.files:
                profile[name] = request.files[name].data
                profile[f"{name}_url"] = f"http://127.0.0.1/{name}/{len(profile[name])}"
    return 200, _account(fake, request.token)


def _verify_credentials(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    return 200, _account(fake, request.token)


_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/api/v1/instance"): _Route(_instance_v1, auth=False),
    ("GET", "/api/v2/instance"): _Route(_instance_v2, auth=False),
    ("POST", "/api/v1/statuses"): _Route(_post_status),
    ("POST", "/api/v2/media"): _Route(_post_media),
    ("GET", "/api/v1/media/:id"): _Route(_get_media),
    ("PATCH", "/api/v1/accounts/update_credentials"): _Route(_update_credentials),
    ("GET", "/api/v1/accounts/verify_credentials"): _Route(_verify_credentials),
}
