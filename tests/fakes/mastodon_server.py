"""A fake Mastodon instance on 127.0.0.1 that Mastodon.py's real HTTP code talks to.

It serves what the publisher uses: GET /api/v1/instance and /api/v2/instance,
POST /api/v1/statuses, POST /api/v2/media (200 with a url, or 202 then GET
/api/v1/media/:id when `async_media` is set), PATCH
/api/v1/accounts/update_credentials, GET .../verify_credentials and GET
/api/v1/accounts/:id/statuses. Every request is recorded in `.requests`; faults
are queued with `.fail()`.

Where the bot relies on the real server's behaviour, the fake copies it (from
Mastodon's source):

- Idempotency-Key (PostStatusService#with_idempotency): kept per account for
  `key_ttl` seconds (3,600 on the server) from the moment the status was made;
  a repeated key answers the stored status without looking at the new
  parameters (no validation, new media stay unattached); a key naming a deleted
  status is a 404. Time is `clock()`, which a test may replace (or call
  `expire_keys()`), so no test waits an hour.
- statuses come back as HTML the way TextFormatter renders plain text:
  entities escaped, links as <a> with invisible/ellipsis spans, mentions as
  h-cards, hashtags as links, paragraphs in <p> and single line breaks as
  <br />; the plain text is never in the answer (only in `.statuses`).
- accounts (CredentialAccountSerializer): `note` as HTML and `source.note` as
  typed; `avatar` a new URL at each upload, the default ".../missing.png" when
  none was set.

    with FakeMastodon(tokens={"tok-a": "alice"}, clock=lambda: now) as server:
        server.fail("POST", "/api/v1/statuses", status=429, reset_in=30)
        ... Mastodon(api_base_url=server.base_url, access_token="tok-a") ...
        server.requests[-1].form["status"]
"""

from __future__ import annotations

import html
import itertools
import json
import re
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

VERSION = "4.3.2"
MAX_CHARS = 500
HANG_LIMIT = 30.0  # a hung request never outlives this, even if nobody releases it
KEY_TTL = 3600.0  # PostStatusService: redis.setex("idempotency:status:<account id>:<key>", 3_600, status.id)
STATUSES_LIMIT = 20  # Api::V1::Accounts::StatusesController: DEFAULT_STATUSES_LIMIT, at most twice that


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
    def __init__(
        self,
        *,
        tokens: dict[str, str] | None = None,
        async_media: bool = False,
        clock: Callable[[], datetime] | None = None,
        key_ttl: float = KEY_TTL,
    ):
        """`tokens` maps each valid bearer token to a username (None: any token works).
        `clock` gives the server's time (statuses' created_at, idempotency keys' age)."""
        self.tokens = tokens
        self.async_media = async_media
        self.clock = clock or (lambda: datetime.now(UTC))
        self.key_ttl = key_ttl
        self.requests: list[Recorded] = []
        self.statuses: list[dict[str, Any]] = []  # as made, with the plain "text" the API never shows
        self.media: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}  # token -> latest profile
        self._faults: list[Fault] = []
        self._by_key: dict[tuple[str, str], tuple[str, datetime]] = {}  # (account id, key) -> (status id, stored at)
        self._ids = itertools.count(110_000_000_000_000_001)
        self._files = itertools.count(1)
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

    def expire_keys(self) -> None:
        """Forget every idempotency key, as the server does `key_ttl` seconds after a post."""
        with self._lock:
            self._by_key.clear()

    def delete_status(self, status_id: str) -> None:
        """The account deletes a status (its idempotency key, if still kept, now names nothing)."""
        with self._lock:
            self.statuses[:] = [s for s in self.statuses if s["id"] != status_id]

    def add_status(self, token: str, text: str, *, created_at: datetime | None = None,
                   in_reply_to_id: str | None = None, visibility: str = "public") -> dict[str, Any]:
        """A status the account made by other means (another app, by hand)."""
        status = _new_status(self, token, text, [], in_reply_to_id, visibility, created_at)
        with self._lock:
            self.statuses.append(status)
        return status

    def account_id(self, token: str) -> str:
        return _account_id(_username(self, token))

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

    def _stored_key(self, account_id: str, key: str) -> str | None:
        """The status id kept under (account, key), if the key has not expired. Under the lock."""
        kept = self._by_key.get((account_id, key))
        if kept is None:
            return None
        status_id, stored_at = kept
        if (self.clock() - stored_at).total_seconds() >= self.key_ttl:
            del self._by_key[(account_id, key)]
            return None
        return status_id


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now_iso(offset: float = 0.0) -> str:
    # rate-limit resets stay on the real clock: Mastodon.py compares them with time.time()
    return _iso(datetime.now(UTC) + timedelta(seconds=offset))


# -- rendering plain text as Mastodon does ---------------------------------------
#
# TextFormatter#to_s: the text's entities (URLs with a scheme, hashtags,
# mentions) become links, everything else is escaped with ERB::Util.h; then
# simple_format wraps paragraphs (split on two or more line breaks) in <p>,
# turns single line breaks into <br />, and the "\n" left are deleted.

_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'\u2019]")
_HASHTAG = re.compile(r"(?<![\w/#])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)(?:@([\w.-]+\w))?", re.IGNORECASE)


def _h(text: str) -> str:
    """ERB::Util.h: & < > " ' escaped."""
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _link_url(url: str) -> str:
    prefix = re.match(r"https?://(www\.)?", url).group(0)
    rest = url[len(prefix):]
    display, suffix = rest[:30], rest[30:]
    ellipsis = "ellipsis" if len(rest) > 30 else ""
    return (f'<a href="{_h(url)}" target="_blank" rel="nofollow noopener noreferrer">'
            f'<span class="invisible">{_h(prefix)}</span><span class="{ellipsis}">{_h(display)}</span>'
            f'<span class="invisible">{_h(suffix)}</span></a>')


def _link_entity(match: re.Match, kind: str, base_url: str) -> str:
    if kind == "url":
        return _link_url(match.group(0))
    if kind == "hashtag":
        tag = match.group(1)
        return f'<a href="{_h(base_url)}/tags/{_h(tag)}" class="mention hashtag" rel="tag">#<span>{_h(tag)}</span></a>'
    username, domain = match.group(1), match.group(2)  # a known account: shown by its username only
    url = f"https://{domain}/@{username}" if domain else f"{base_url}/@{username}"
    return f'<span class="h-card"><a href="{_h(url)}" class="u-url mention">@<span>{_h(username)}</span></a></span>'


def render_text(text: str, base_url: str = "http://127.0.0.1") -> str:
    """Plain text as a status's (or a bio's) HTML `content`."""
    text = text.strip()
    if not text:
        return ""
    entities: list[tuple[int, int, str, re.Match]] = []
    for kind, pattern in (("url", _URL), ("hashtag", _HASHTAG), ("mention", _MENTION)):
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end, _, _ in entities):
                entities.append((match.start(), match.end(), kind, match))
    out, last = [], 0
    for start, end, kind, match in sorted(entities, key=lambda e: e[0]):
        out.append(_h(text[last:start]))
        out.append(_link_entity(match, kind, base_url))
        last = end
    out.append(_h(text[last:]))
    paragraphs = re.split(r"\n\n+", "".join(out).replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = [re.sub(r"([^\n]\n)(?=[^\n])", r"\1<br />", p) for p in paragraphs]
    return "".join(f"<p>{p}</p>" for p in paragraphs).replace("\n", "")


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

    def do_DELETE(self) -> None:
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
        status, payload, *extra = route.fn(self.fake, request)
        if fault is not None and fault.after_effect:
            if fault.hang:
                self.fake._hang()
                return self._vanish()
            if fault.drop or fault.status is None:
                return self._vanish()
            return self._fault_answer(fault)
        if status >= 400:
            return self._error(status, payload)
        self._send(status, payload, extra[0] if extra else None)

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


_ACCOUNT_STATUSES = re.compile(r"^/api/v1/accounts/([^/]+)/statuses$")


def _route_path(path: str) -> str:
    if path.startswith("/api/v1/media/"):
        return "/api/v1/media/:id"
    if _ACCOUNT_STATUSES.match(path):
        return "/api/v1/accounts/:id/statuses"
    return path


def _username(fake: FakeMastodon, token: str | None) -> str:
    return (fake.tokens or {}).get(token or "", "bot")


def _account_id(username: str) -> str:
    return str(zlib.crc32(username.encode()))


_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def _image_url(fake: FakeMastodon, kind: str, account_id: str, upload: Upload) -> str:
    """Where the server keeps an uploaded avatar or header: a new file name at each upload."""
    ext = _EXTENSIONS.get(upload.content_type or "") or (upload.filename or "x.png").rsplit(".", 1)[-1]
    serial = next(fake._files)
    return f"{fake.base_url}/system/accounts/{kind}s/{account_id}/original/{serial:016x}.{ext}"


def _account(fake: FakeMastodon, token: str | None) -> dict[str, Any]:
    username = _username(fake, token)
    profile = fake.profiles.get(token or "", {})
    note = profile.get("note", "")
    return {
        "id": _account_id(username),
        "username": username,
        "acct": username,
        "display_name": profile.get("display_name", username),
        "note": render_text(note, fake.base_url),
        "avatar": profile.get("avatar_url") or f"{fake.base_url}/avatars/original/missing.png",
        "avatar_static": profile.get("avatar_url") or f"{fake.base_url}/avatars/original/missing.png",
        "header": profile.get("header_url") or f"{fake.base_url}/headers/original/missing.png",
        "header_static": profile.get("header_url") or f"{fake.base_url}/headers/original/missing.png",
        "created_at": "2020-01-01T00:00:00.000Z",
    }


def _credential_account(fake: FakeMastodon, token: str | None) -> dict[str, Any]:
    account = _account(fake, token)
    profile = fake.profiles.get(token or "", {})
    account["source"] = {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": profile.get("note", ""),
        "fields": [],
        "follow_requests_count": 0,
    }
    return account


def _public(status: dict[str, Any]) -> dict[str, Any]:
    """A status as the API shows it: the plain text stays on the server."""
    return {k: v for k, v in status.items() if k != "text"}


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


def _new_status(fake: FakeMastodon, token: str | None, text: str, media_ids: list[str],
                in_reply_to_id: str | None, visibility: str, created_at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": fake._next_id(),
        "created_at": _iso(created_at or fake.clock()),
        "content": render_text(text, fake.base_url),  # of the text stripped, as Status#prepare_contents does
        "text": text,
        "spoiler_text": "",
        "visibility": visibility,
        "in_reply_to_id": in_reply_to_id,
        "reblog": None,
        "media_attachments": [fake.media[m] for m in media_ids],
        "account": _account(fake, token),
    }


def _post_status(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    account_id = _account_id(_username(fake, request.token))
    key = request.idempotency_key
    parent = request.field("in_reply_to_id")
    with fake._lock:
        if parent and not any(s["id"] == parent for s in fake.statuses):  # set_thread, before all else
            return 404, "The post you are trying to reply to does not appear to exist."
        kept = fake._stored_key(account_id, key) if key else None
        if kept is not None:
            # a repeated key: the stored status, whatever the request holds now
            found = next((s for s in fake.statuses if s["id"] == kept), None)
            return (200, _public(found)) if found is not None else (404, "Record not found")
    text = request.field("status") or ""
    media_ids = request.form.get("media_ids[]", [])
    if not text and not media_ids:
        return 422, "Validation failed: Text can't be blank"
    if len(text) > MAX_CHARS:
        return 422, f"Validation failed: Text character limit of {MAX_CHARS} exceeded"
    unknown = [m for m in media_ids if m not in fake.media]
    if unknown:
        return 422, "Validation failed: media not found"
    status = _new_status(fake, request.token, text, media_ids, parent, request.field("visibility") or "public")
    with fake._lock:
        if key:
            fake._by_key[(account_id, key)] = (status["id"], fake.clock())
        fake.statuses.append(status)
    return 200, _public(status)


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
    account_id = _account_id(_username(fake, token))
    with fake._lock:
        profile = fake.profiles.setdefault(token, {})
        for name in ("display_name", "note"):
            if name in request.form:
                profile[name] = (request.field(name) or "").strip()
        for name in ("avatar", "header"):
            if name in request.files:
                profile[name] = request.files[name].data
                profile[f"{name}_url"] = _image_url(fake, name, account_id, request.files[name])
    return 200, _credential_account(fake, request.token)


def _verify_credentials(fake: FakeMastodon, request: Recorded) -> tuple[int, Any]:
    return 200, _credential_account(fake, request.token)


def _int_param(request: Recorded, name: str) -> int | None:
    value = request.field(name)
    return int(value) if value and value.isdigit() else None


def _truthy(request: Recorded, name: str) -> bool:
    return (request.field(name) or "").lower() in ("1", "true", "t", "on", "yes")


def _account_statuses(fake: FakeMastodon, request: Recorded) -> tuple[int, Any, dict[str, str]] | tuple[int, Any]:
    match = _ACCOUNT_STATUSES.match(request.path)
    assert match is not None
    target = match.group(1)
    known = {_account_id(u) for u in (fake.tokens or {"": "bot"}).values()}
    if target not in known:
        return 404, "Record not found"
    limit = _int_param(request, "limit") or STATUSES_LIMIT
    limit = min(limit, 2 * STATUSES_LIMIT)
    max_id, since_id, min_id = (_int_param(request, n) for n in ("max_id", "since_id", "min_id"))
    author = _account_id(_username(fake, request.token)) == target
    with fake._lock:
        mine = [s for s in fake.statuses if s["account"]["id"] == target]
    if not author:
        mine = [s for s in mine if s["visibility"] in ("public", "unlisted")]
    if _truthy(request, "exclude_replies"):
        mine = [s for s in mine if s["in_reply_to_id"] is None]
    if _truthy(request, "only_media"):
        mine = [s for s in mine if s["media_attachments"]]
    if _truthy(request, "pinned"):
        mine = []  # nothing is pinned here
    mine.sort(key=lambda s: int(s["id"]), reverse=True)
    if max_id is not None:
        mine = [s for s in mine if int(s["id"]) < max_id]
    if since_id is not None:
        mine = [s for s in mine if int(s["id"]) > since_id]
    if min_id is not None:  # the page just above min_id, still newest first
        mine = [s for s in mine if int(s["id"]) > min_id][-limit:]
    page = [_public(s) for s in mine[:limit]]
    links = []
    path = f"{fake.base_url}{request.path}"
    if len(page) == limit:
        links.append(f'<{path}?{urlencode({"limit": limit, "max_id": page[-1]["id"]})}>; rel="next"')
    if page:
        links.append(f'<{path}?{urlencode({"limit": limit, "min_id": page[0]["id"]})}>; rel="prev"')
    return (200, page, {"Link": ", ".join(links)}) if links else (200, page)


_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/api/v1/instance"): _Route(_instance_v1, auth=False),
    ("GET", "/api/v2/instance"): _Route(_instance_v2, auth=False),
    ("POST", "/api/v1/statuses"): _Route(_post_status),
    ("POST", "/api/v2/media"): _Route(_post_media),
    ("GET", "/api/v1/media/:id"): _Route(_get_media),
    ("PATCH", "/api/v1/accounts/update_credentials"): _Route(_update_credentials),
    ("GET", "/api/v1/accounts/verify_credentials"): _Route(_verify_credentials),
    ("GET", "/api/v1/accounts/:id/statuses"): _Route(_account_statuses),
}
