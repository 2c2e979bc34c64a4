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
read to know which account called. Each access token is one account, created on
first sight with a fixed numeric id (`account(token)`); its name, description,
avatar and banner are what the v1.1 profile calls last set.

Served: POST /2/tweets, /2/media/upload, /2/media/metadata; GET /2/users/me and
/2/users/{id}/tweets (the posts this fake created for that account, newest first,
with max_results, pagination_token, since_id/until_id, start_time/end_time
(inclusive, second granularity), exclude=replies, post.fields created_at,
conversation_id, attachments and the expansions author_id, in_reply_to_user_id,
referenced_posts, attachments.media_keys); the three v1.1 account/update_profile*
calls. Texts come back as X shows them (`x_rendering`): URLs as t.co links, `&<>` as
HTML entities, a t.co link for attached images, "@username " before a reply to
another account; a description's URLs as t.co links with entities.description.urls.

Faults (FAULT_KINDS) apply to any path, reads included (e.g. ACCESS_LEVEL on
/2/users/{id}/tweets is X's 403 code 453). HANG and RESET_AFTER_READ lose the request
(nothing is created); ACTED_THEN_HANG and ACTED_THEN_RESET act on it (the post exists)
and lose the answer.

Checked against X's published API (tests/fakes/x_spec.py, the pinned x_openapi.json):
every /2/ request against the spec's request schema for its path, method and content
type, and every /2/ answer against the response schema for its status (v2 error
answers are the spec's `Error` body, `{"code", "message"}`, with X's documented
error codes; a refused request gets an `invalid-request` problem). The v1.1 calls,
which the v2 document lacks, are held to the parameters X documents for them
(V1_CALLS); any other path is a violation (answered 404). A request that breaks the
rules is answered 400 with the schema's message
and recorded as a violation (`Recorded.violation`, `violations()`); an answer of the
fake's own that breaks them is recorded too. A violation fails the test: `stop()`
(and so the end of a ``with`` block) raises SpecViolation for any not yet reported,
tests/conftest.py fails the test during which one happened, and `read_log` raises on
a log that holds one. A test that sends a bad request on purpose takes its
violations with `take_violations()`.
"""

from __future__ import annotations

import argparse
import base64
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
import weakref
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .x_spec import Request, SpecViolation, XSpec, pinned_spec

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
# The two below act on the request (a post is created, a profile updated) and then
# lose the answer: what a timeout or a cut connection can hide from the client.
ACTED_THEN_HANG = "acted_then_hang"  # act, answer nothing for hang_seconds, close
ACTED_THEN_RESET = "acted_then_reset"  # act, then TCP reset instead of the answer

FAULT_KINDS = (
    RATE_LIMITED, RATE_LIMITED_NO_RESET, SERVER_ERROR, UNAVAILABLE, UNAUTHORIZED,
    DUPLICATE, ACCESS_LEVEL, MALFORMED_JSON, HANG, RESET_BEFORE_READ, RESET_AFTER_READ,
    ACTED_THEN_HANG, ACTED_THEN_RESET,
)

ROUTES = (
    "/2/tweets",
    "/2/media/upload",
    "/2/media/metadata",
    "/2/users/me",
    "/2/users/{id}/tweets",
    "/1.1/account/update_profile.json",
    "/1.1/account/update_profile_image.json",
    "/1.1/account/update_profile_banner.json",
)

# The v1.1 calls the bot makes are not in the v2 OpenAPI document. What X documents for
# each: path -> (text parameters, file parameters, required ones, documentation).
# `image` and `banner` may come as a file part or as base64 text.
V1_DOCS = "https://developer.x.com/en/docs/x-api/v1/accounts-and-users/manage-account-settings/api-reference/"
V1_CALLS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str], str]] = {
    "/1.1/account/update_profile.json": (
        frozenset({"name", "url", "location", "description", "include_entities", "skip_status"}),
        frozenset(), frozenset(), V1_DOCS + "post-account-update_profile"),
    "/1.1/account/update_profile_image.json": (
        frozenset({"image", "include_entities", "skip_status"}),
        frozenset({"image"}), frozenset({"image"}), V1_DOCS + "post-account-update_profile_image"),
    "/1.1/account/update_profile_banner.json": (
        frozenset({"banner", "width", "height", "offset_left", "offset_top"}),
        frozenset({"banner"}), frozenset({"banner"}), V1_DOCS + "post-account-update_profile_banner"),
}

ERROR_CODES = "https://developer.x.com/en/support/x-api/error-troubleshooting"
# v2 fault answers: the spec's `Error` body with X's documented code (ERROR_CODES)
_V2_FAULT_BODIES = {
    RATE_LIMITED: (429, {"code": 88, "message": "Rate limit exceeded"}),
    RATE_LIMITED_NO_RESET: (429, {"code": 88, "message": "Rate limit exceeded"}),
    SERVER_ERROR: (500, {"code": 131, "message": "Internal error"}),
    UNAVAILABLE: (503, {"code": 130, "message": "Over capacity"}),
    UNAUTHORIZED: (401, {"code": 32, "message": "Could not authenticate you."}),
    DUPLICATE: (403, {"code": 187, "message":
                      "You are not allowed to create a Tweet with duplicate content."}),
    ACCESS_LEVEL: (403, {"code": 453, "message":
                         "You currently have access to a subset of X API V2 endpoints and "
                         "limited v1.1 endpoints (e.g. media post, oauth) only. If you need "
                         "access to this endpoint, you may need a different access level. You "
                         "can learn more here: https://developer.x.com/en/portal/product"}),
}
PROBLEM_JSON = {"Content-Type": "application/problem+json"}

# v1.1 fault answers (no schema to meet)
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


# How X shows text it was sent. Posts: every URL becomes a t.co link, `&`, `<` and `>`
# come back as HTML entities, each attached image adds a t.co link at the end, and a
# reply to someone else's post starts with "@their_username ". Profile descriptions: URLs
# become t.co links too, with entities.description.urls giving the URL each stands for.
# (The fake's URL rule is simpler than X's; it takes http(s):// and www. forms.)
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)]}'\""


def tco_link(seed: str) -> str:
    """A t.co link, stable for `seed` (23 characters, like X's)."""
    return "https://t.co/" + hashlib.sha256(seed.encode()).hexdigest()[:10]


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def x_rendering(text: str, salt: str, *, escape: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """(`text` as X shows it, its URL entities: start, end, url, expanded_url, display_url)."""
    out: list[str] = []
    urls: list[dict[str, Any]] = []
    length = pos = 0
    for match in _URL_RE.finditer(text):
        url = match.group().rstrip(_URL_TAIL)
        before = text[pos:match.start()]
        piece = _escaped(before) if escape else before
        out.append(piece)
        length += len(piece)
        link = tco_link(f"{salt}:{url}")
        urls.append({"start": length, "end": length + len(link), "url": link,
                     "expanded_url": url if "://" in url else "http://" + url,
                     "display_url": url.split("://", 1)[-1]})
        out.append(link)
        length += len(link)
        pos = match.start() + len(url)
    out.append(_escaped(text[pos:]) if escape else text[pos:])
    return "".join(out), urls


def _problem(status: int, title: str) -> dict[str, Any]:
    """The generic 'problem' body (v1.1 faults and paths the fake does not serve)."""
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def _invalid_request(detail: str) -> dict[str, Any]:
    """The spec's InvalidRequestProblem (application/problem+json)."""
    return {"type": "https://api.x.com/2/problems/invalid-request", "title": "Invalid Request",
            "detail": detail, "status": 400}


def _timestamp(moment: float) -> str:
    """X's created_at form: 2024-05-01T12:00:00.000Z."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Account:
    """One access token's account, as the fake keeps it."""

    id: str
    username: str
    created_at: float
    name: str = "Fake Account"
    description: str = ""
    url: str = ""
    location: str = ""
    avatar_sha256: str | None = None  # digest of the last profile image uploaded
    banner_sha256: str | None = None

    @property
    def profile_image_url(self) -> str:
        if self.avatar_sha256 is None:
            return "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
        return f"https://pbs.twimg.com/profile_images/{self.id}/{self.avatar_sha256[:16]}_normal.png"

    @property
    def profile_banner_url(self) -> str | None:
        if self.banner_sha256 is None:
            return None
        return f"https://pbs.twimg.com/profile_banners/{self.id}/{self.banner_sha256[:16]}"


@dataclass
class Post:
    """A post the fake created."""

    id: str
    author_id: str
    text: str  # as sent
    created_at: float
    reply_to: str | None = None  # id of the post replied to
    conversation_id: str = ""
    in_reply_to_user_id: str | None = None
    media_keys: tuple[str, ...] = ()
    shown: str = ""  # the text as X shows it in its answers (see `x_rendering`)


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
    violation: str | None = None  # how the request or its answer broke X's published API

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


_LIVE: weakref.WeakSet[FakeXServer] = weakref.WeakSet()  # for tests/conftest.py


def pending_violations() -> list[str]:
    """Violations no test has been told about yet, in every fake of this process;
    they count as reported from now on."""
    return [v for fake in list(_LIVE) for v in fake.take_violations()]


class FakeXServer:
    """The fake X API. Thread-safe; start() / stop() or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None,
                 spec: XSpec | None = None):
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._tweet_ids = itertools.count(1_800_000_000_000_000_001)
        self._media_ids = itertools.count(1_900_000_000_000_000_001)
        self.spec = spec or pinned_spec()
        self._violations: list[str] = []
        self._reported = 0  # violations before this index have been raised or taken
        self._accounts: dict[str | None, Account] = {}
        self._posts: list[Post] = []
        self._media_keys: dict[str, str] = {}  # media id -> media key
        self._stopping = threading.Event()
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None
        self.resets_before_read = 0  # connections dropped unread (they are not in requests())
        _LIVE.add(self)

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
        """Stop serving; SpecViolation if a request or answer broke the spec unreported."""
        self._stopping.set()  # wakes hanging handlers
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self._httpd.server_close()
        with self._lock:
            if self._log:
                self._log.close()
                self._log = None
        self.check()

    def __enter__(self) -> FakeXServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the published API's rules
    def violations(self) -> list[str]:
        """Every way a request or answer so far broke X's published API, oldest first."""
        with self._lock:
            return list(self._violations)

    def take_violations(self) -> list[str]:
        """The violations not reported yet; from now on they count as reported."""
        with self._lock:
            taken = self._violations[self._reported:]
            self._reported = len(self._violations)
        return taken

    def check(self) -> None:
        """Raise SpecViolation for violations not reported yet."""
        if taken := self.take_violations():
            raise SpecViolation(f"the fake X server saw {len(taken)} request(s) or answer(s) "
                                "breaking X's published API:\n" + "\n".join(taken))

    def _violation(self, rec: Recorded, problems: list[str]) -> None:
        text = "; ".join(problems)
        rec.violation = text if rec.violation is None else f"{rec.violation}; {text}"
        with self._lock:
            self._violations.extend(problems)

    # ---- accounts and posts
    def account(self, token: str | None) -> Account:
        """The account of an access token (made on first use, with a fixed id)."""
        with self._lock:
            return self._account(token)

    def _account(self, token: str | None) -> Account:
        if token not in self._accounts:
            digest = int(hashlib.sha256((token or "").encode()).hexdigest(), 16)
            user_id = str(10**17 + digest % (9 * 10**17))  # 18 digits, like X's
            self._accounts[token] = Account(user_id, f"fake_{user_id[-8:]}", time.time())
        return self._accounts[token]

    def user_id(self, token: str | None) -> str:
        return self.account(token).id

    def posts(self, token: str | None = None) -> list[Post]:
        """The posts created (of one token's account), oldest first."""
        with self._lock:
            author = self._account(token).id if token is not None else None
            return [p for p in self._posts if author is None or p.author_id == author]

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
        if urlsplit(self.path).path.startswith("/_control/"):
            return self._control_get(urlsplit(self.path).path)
        self._api("GET")

    def do_POST(self) -> None:
        self._api("POST")

    def _api(self, method: str) -> None:
        fake = self.server.fake
        received = time.time()
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-request (killed): nothing to check or act on
            self.close_connection = True
            return
        if url.path.startswith("/_control/"):
            return self._control(url.path, body)

        query = parse_qs(url.query, keep_blank_values=True)
        rec = Recorded(
            method=method, path=url.path, token=_token_of(self.headers.get("Authorization")),
            time=received, query={k: v[-1] for k, v in query.items()},
        )
        ctype = self.headers.get("Content-Type", "")
        unparsed = None
        try:
            if ctype.startswith("application/json"):
                rec.json = json.loads(body or b"null")
            elif ctype.startswith("multipart/form-data"):
                rec.form, rec.files = _parse_multipart(ctype, body)
            elif ctype.startswith("application/x-www-form-urlencoded"):
                rec.form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
        except (ValueError, UnicodeDecodeError) as exc:
            rec.form = {"_unparsed": body[:200].decode("latin-1")}
            unparsed = str(exc)

        problems = self._check_request(rec, query, ctype, bool(body or length), unparsed)
        if problems:
            fake._violation(rec, problems)

        fault = self.fault
        rec.fault = fault.kind if fault else None
        if fault and fault.kind in (RESET_AFTER_READ, HANG, ACTED_THEN_RESET, ACTED_THEN_HANG) \
                and not problems:
            if fault.kind in (ACTED_THEN_RESET, ACTED_THEN_HANG):  # act; the answer is lost
                status, payload, headers = self._route(rec, query)
                self._check_answer(rec, status, payload, headers)
            fake._record(rec)
            if fault.kind in (RESET_AFTER_READ, ACTED_THEN_RESET):
                self._reset()
            else:
                fake._stopping.wait(fault.hang_seconds)
                self.close_connection = True
            return

        if problems:
            status, payload, headers = self._refuse(rec, "; ".join(problems))
        elif fault:
            status, payload, headers = self._fault_answer(fault, rec)
        else:
            status, payload, headers = self._route(rec, query)
        if not (fault and fault.kind == MALFORMED_JSON and not problems):
            self._check_answer(rec, status, payload, headers)  # (a cut answer was checked whole)
        rec.status = status
        fake._record(rec)
        self._answer(status, payload, headers)

    # -- the rules: X's OpenAPI document for /2/, X's documentation for the v1.1 calls
    def _check_request(self, rec: Recorded, query: dict[str, list[str]], ctype: str,
                       has_body: bool, unparsed: str | None) -> list[str]:
        if rec.path.startswith("/2/"):
            return self.server.fake.spec.check_request(Request(
                method=rec.method, path=rec.path, query=query, headers=dict(self.headers.items()),
                content_type=ctype.split(";")[0].strip().lower() or None, json=rec.json,
                form=rec.form, files=tuple(rec.files), has_body=has_body, unparsed=unparsed))
        if rec.path in V1_CALLS:
            return _check_v1(rec, self.headers.get("Authorization") or "", query)
        return [f"{rec.method} {rec.path}: neither in the pinned spec nor a v1.1 call the fake "
                f"knows ({', '.join(V1_CALLS)})"]

    def _check_answer(self, rec: Recorded, status: int, payload: Any,
                      headers: dict[str, str]) -> None:
        if not rec.path.startswith("/2/"):
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        ctype = headers.get("Content-Type", "application/json; charset=utf-8" if data else None)
        problems = self.server.fake.spec.check_response(rec.method, rec.path, status, ctype, data)
        if problems:
            self.server.fake._violation(rec, ["the fake's answer: " + p for p in problems])

    def _refuse(self, rec: Recorded, message: str):
        if rec.path.startswith("/2/"):
            return 400, _invalid_request(message), dict(PROBLEM_JSON)
        if rec.path in V1_CALLS:
            return 400, {"errors": [{"message": message}]}, {}
        return 404, _problem(404, "Not Found Error"), {}

    def _fault_answer(self, fault: _Fault, rec: Recorded):
        kind = fault.kind
        headers: dict[str, str] = {}
        if kind in (RATE_LIMITED, RATE_LIMITED_NO_RESET):
            headers = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0"}
            if kind == RATE_LIMITED:
                headers["x-rate-limit-reset"] = str(int(time.time() + fault.reset_in))
        if kind in _V2_FAULT_BODIES and rec.path.startswith("/2/"):
            status, body = _V2_FAULT_BODIES[kind]
            return status, body, headers
        if kind in (RATE_LIMITED, RATE_LIMITED_NO_RESET):
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
        status, payload, headers = self._route(rec, parse_qs(urlsplit(self.path).query))
        self._check_answer(rec, status, payload, headers)
        text = payload.decode() if isinstance(payload, bytes) else json.dumps(payload)
        return status, (text[:12] or "{").encode(), headers

    def _route(self, rec: Recorded, query: dict[str, list[str]]):
        fake = self.server.fake
        if (rec.method, rec.path) == ("POST", "/2/tweets"):
            return self._create_post(rec)
        if (rec.method, rec.path) == ("POST", "/2/media/upload"):
            rec.created_id = fake._next_id(rec.path)
            with fake._lock:
                fake._media_keys[rec.created_id] = f"3_{rec.created_id}"
            size = next(iter(rec.files.values()), {}).get("size", 0)
            return 200, {"data": {
                "id": rec.created_id, "media_key": f"3_{rec.created_id}",
                "size": size, "expires_after_secs": 86400,
            }}, {}
        if (rec.method, rec.path) == ("POST", "/2/media/metadata"):
            sent = rec.json if isinstance(rec.json, dict) else {}
            metadata = sent.get("metadata") if isinstance(sent.get("metadata"), dict) else {}
            return 200, {"data": {"id": str(sent.get("id")), "associated_metadata": metadata}}, {}
        if (rec.method, rec.path) == ("GET", "/2/users/me"):
            return self._users_me(rec, query)
        if rec.method == "GET" and (match := re.fullmatch(r"/2/users/([^/]+)/tweets", rec.path)):
            return self._user_posts(match.group(1), query)
        if rec.method == "POST" and rec.path in V1_CALLS:
            return self._profile(rec)
        return 404, _problem(404, "Not Found Error"), {}

    # -- v2 posts and users
    def _create_post(self, rec: Recorded):
        fake = self.server.fake
        sent = rec.json if isinstance(rec.json, dict) else {}
        reply = sent.get("reply") if isinstance(sent.get("reply"), dict) else {}
        media = sent.get("media") if isinstance(sent.get("media"), dict) else {}
        rec.created_id = fake._next_id(rec.path)
        with fake._lock:
            author = fake._account(rec.token).id
            parent_id = reply.get("in_reply_to_tweet_id")
            parent = next((p for p in fake._posts if p.id == parent_id), None)
            keys = tuple(fake._media_keys.get(str(m), f"3_{m}") for m in media.get("media_ids", []))
            text = str(sent.get("text", ""))
            shown = x_rendering(text, rec.created_id)[0]
            shown = " ".join([shown] * bool(shown) + [tco_link(f"{rec.created_id}:media:{k}") for k in keys[:1]])
            if parent is not None and parent.author_id != author:
                parent_author = next(a for a in fake._accounts.values() if a.id == parent.author_id)
                shown = f"@{parent_author.username} {shown}"
            fake._posts.append(Post(
                id=rec.created_id, author_id=author, text=text,
                created_at=rec.time, reply_to=parent_id,
                conversation_id=parent.conversation_id if parent else (parent_id or rec.created_id),
                in_reply_to_user_id=parent.author_id if parent else None, media_keys=keys,
                shown=shown))
        return 201, {"data": {"id": rec.created_id, "text": shown,
                              "edit_history_post_ids": [rec.created_id]}}, {}

    def _users_me(self, rec: Recorded, query: dict[str, list[str]]):
        fake = self.server.fake
        fields = _listed(query, "user.fields")
        expansions = _listed(query, "expansions")
        with fake._lock:
            account = fake._account(rec.token)
            user = _user_json(account, fields)
            answer: dict[str, Any] = {"data": user}
            mine = [p for p in fake._posts if p.author_id == account.id]
            if "most_recent_post_id" in expansions and mine:
                user["most_recent_post_id"] = mine[-1].id
                answer["includes"] = {"posts": [_post_json(mine[-1], _listed(query, "post.fields"), set())]}
        return 200, answer, {}

    def _user_posts(self, user_id: str, query: dict[str, list[str]]):
        fake = self.server.fake
        fields, expansions = _listed(query, "post.fields"), _listed(query, "expansions")
        with fake._lock:
            owner = next((a for a in fake._accounts.values() if a.id == user_id), None)
            if owner is None:
                return 200, {"errors": [{
                    "value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                    "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                    "resource_id": user_id, "type": "https://api.x.com/2/problems/resource-not-found",
                }]}, {}
            found = sorted((p for p in fake._posts if p.author_id == user_id),
                           key=lambda p: int(p.id), reverse=True)
            by_id = {p.id: p for p in fake._posts}
            users = {a.id: a for a in fake._accounts.values()}
        try:
            found = _select(found, query)
        except ValueError as exc:
            return 400, _invalid_request(str(exc)), dict(PROBLEM_JSON)
        limit = int(query.get("max_results", ["10"])[-1])
        page, more = found[:limit], len(found) > limit
        meta: dict[str, Any] = {"result_count": len(page)}
        if not page:
            return 200, {"meta": meta}, {}
        meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if more:
            meta["next_token"] = _page_token(page[-1].id)
        answer: dict[str, Any] = {"data": [_post_json(p, fields, expansions) for p in page],
                                  "meta": meta}
        includes: dict[str, list[Any]] = {}
        user_ids = []
        for post in page:
            if "author_id" in expansions:
                user_ids.append(post.author_id)
            if "in_reply_to_user_id" in expansions and post.in_reply_to_user_id:
                user_ids.append(post.in_reply_to_user_id)
            if "referenced_posts" in expansions and post.reply_to in by_id:
                includes.setdefault("posts", []).append(_post_json(by_id[post.reply_to], fields, set()))
            if "attachments.media_keys" in expansions:
                includes.setdefault("media", []).extend(
                    {"media_key": key, "type": "photo"} for key in post.media_keys)
        user_fields = _listed(query, "user.fields")
        for uid in dict.fromkeys(user_ids):
            if uid in users:
                includes.setdefault("users", []).append(_user_json(users[uid], user_fields))
        if includes:
            answer["includes"] = includes
        return 200, answer, {}

    # -- v1.1 profile
    def _profile(self, rec: Recorded):
        fake = self.server.fake
        with fake._lock:
            account = fake._account(rec.token)
            params = rec.params
            if rec.path == "/1.1/account/update_profile.json":
                for name in ("name", "description", "url", "location"):
                    if name in params:
                        setattr(account, name, params[name])
            elif rec.path == "/1.1/account/update_profile_image.json":
                account.avatar_sha256 = _upload_digest(rec, "image")
            else:
                account.banner_sha256 = _upload_digest(rec, "banner")
                return 200, b"", {}
            return 200, {"id": int(account.id), "id_str": account.id,
                         "screen_name": account.username, "name": account.name,
                         "description": account.description,
                         "profile_image_url_https": account.profile_image_url}, {}

    # -- control
    def _control_get(self, path: str) -> None:
        fake = self.server.fake
        if path == "/_control/requests":
            self._answer(200, [json.loads(r.to_json()) for r in fake.requests()])
        elif path == "/_control/violations":
            self._answer(200, fake.violations())
        else:
            self._answer(404, {"error": f"unknown control {path}"})

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
        headers = dict(headers or {})
        ctype = headers.pop("Content-Type", "application/json; charset=utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _check_v1(rec: Recorded, authorization: str, query: dict[str, list[str]]) -> list[str]:
    """Problems of a v1.1 profile call against the parameters X documents (V1_CALLS)."""
    allowed, files, required, docs = V1_CALLS[rec.path]
    label = f"{rec.method} {rec.path}"
    problems = []
    if rec.method != "POST":
        problems.append(f"{label}: only POST is documented ({docs})")
    if not authorization.startswith("OAuth "):
        problems.append(f"{label}: needs OAuth 1.0a user context (Authorization: OAuth ...)")
    sent = [*query, *rec.form, *rec.files]
    for name in sent:
        if name not in allowed:
            problems.append(f"{label}: parameter {name!r} is not documented "
                            f"(documented: {', '.join(sorted(allowed))}; {docs})")
    for name in rec.files:
        if name in allowed and name not in files:
            problems.append(f"{label}: {name!r} is documented as text, not a file ({docs})")
    for name in required:
        if name not in sent:
            problems.append(f"{label}: parameter {name!r} is required ({docs})")
    return problems


def _upload_digest(rec: Recorded, name: str) -> str:
    if name in rec.files:
        return rec.files[name]["sha256"]
    try:
        data = base64.b64decode(rec.params.get(name, ""))
    except ValueError:
        data = rec.params.get(name, "").encode()
    return hashlib.sha256(data).hexdigest()


def _listed(query: dict[str, list[str]], name: str) -> set[str]:
    return {v for text in query.get(name, []) for v in text.split(",") if v}


def _user_json(account: Account, fields: set[str]) -> dict[str, Any]:
    user: dict[str, Any] = {"id": account.id, "name": account.name, "username": account.username}
    bio, bio_urls = x_rendering(account.description, f"bio:{account.id}", escape=False)
    optional = {
        "description": bio,
        "entities": {"description": {"urls": bio_urls}} if bio_urls else None,
        "profile_image_url": account.profile_image_url,
        "profile_banner_url": account.profile_banner_url,
        "created_at": _timestamp(account.created_at),
        "protected": False,
        "verified": False,
        "url": account.url,
        "location": account.location or None,
    }
    user.update({k: v for k, v in optional.items() if k in fields and v is not None})
    return user


def _post_json(post: Post, fields: set[str], expansions: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": post.id, "text": post.shown, "edit_history_post_ids": [post.id]}
    if "created_at" in fields:
        data["created_at"] = _timestamp(post.created_at)
    if "conversation_id" in fields:
        data["conversation_id"] = post.conversation_id
    if ("attachments" in fields or "attachments.media_keys" in expansions) and post.media_keys:
        data["attachments"] = {"media_keys": list(post.media_keys)}
    if "author_id" in expansions:
        data["author_id"] = post.author_id
    if "in_reply_to_user_id" in expansions and post.in_reply_to_user_id:
        data["in_reply_to_user_id"] = post.in_reply_to_user_id
    if "referenced_posts" in expansions and post.reply_to:
        data["referenced_posts"] = [{"type": "replied_to", "id": post.reply_to}]
    return data


def _page_token(last_id: str) -> str:
    return base64.b32hexencode(last_id.encode()).decode().rstrip("=").lower()


def _seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).timestamp())


def _select(posts: list[Post], query: dict[str, list[str]]) -> list[Post]:
    """`posts` (newest first) narrowed by the timeline's query parameters."""
    one = {k: v[-1] for k, v in query.items()}
    if "pagination_token" in one:
        token = one["pagination_token"].upper()
        try:
            before = base64.b32hexdecode(token + "=" * (-len(token) % 8)).decode()
            int(before)
        except ValueError:
            raise ValueError(f"The `pagination_token` query parameter value [{one['pagination_token']}] "
                             "is not valid") from None
        posts = [p for p in posts if int(p.id) < int(before)]
    if "since_id" in one:
        posts = [p for p in posts if int(p.id) > int(one["since_id"])]
    if "until_id" in one:
        posts = [p for p in posts if int(p.id) < int(one["until_id"])]
    if "start_time" in one:
        posts = [p for p in posts if int(p.created_at) >= _seconds(one["start_time"])]
    if "end_time" in one:
        posts = [p for p in posts if int(p.created_at) <= _seconds(one["end_time"])]
    if "replies" in _listed(query, "exclude"):
        posts = [p for p in posts if p.reply_to is None]
    return posts


def read_log(path: Path, *, allow_violations: bool = False) -> list[dict[str, Any]]:
    """The requests of a JSON-lines log written by `--log`; SpecViolation if any of them
    (or its answer) broke X's published API, unless `allow_violations`."""
    lines = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    bad = [f"{r['method']} {r['path']}: {r['violation']}" for r in lines if r.get("violation")]
    if bad and not allow_violations:
        raise SpecViolation(f"the fake X server's log {Path(path).name} records {len(bad)} "
                            "violation(s) of X's published API:\n" + "\n".join(bad))
    return lines


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
    try:
        server.stop()
    except SpecViolation as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
