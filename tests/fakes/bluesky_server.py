"""A fake Bluesky PDS on 127.0.0.1 for tests that drive atproto's real HTTP code.

    with FakeBluesky() as pds:
        publisher = BlueskyPublisher(..., env={"BLUESKY_A_SERVICE": pds.base_url, ...})
        pds.fail("com.atproto.repo.createRecord", 429, headers={"ratelimit-reset": "..."})
        pds.hang("com.atproto.repo.createRecord", seconds=2)
        pds.lose_answer("com.atproto.repo.createRecord")   # acts on it, then drops the connection
        ...
        pds.calls("com.atproto.repo.createRecord")[0].json["record"]

It serves the XRPC methods login, posting and profile edits use: createSession
(without didDoc, so the client stays on this server), refreshSession,
getSession, getProfile, createRecord, putRecord (honouring swapRecord),
getRecord and uploadBlob. Tokens are real HS256 JWTs with `exp`, so atproto can
decode them. Every request is recorded, faults included.

createRecord honours a client-given rkey as the reference PDS (@atproto/pds
0.5.x) does: an app.bsky.feed.post key must be a TID (its regex: 13 characters,
the first 2-7 or a-j), a key containing a word of its slur list is refused (400
InvalidRequest), and a key already taken is answered HTTP 500
InternalServerError "Internal Server Error" (the PDS's repository tree throws;
it has no RecordAlreadyExists), whatever the record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_NO_AUTH = {"com.atproto.server.createSession", "com.atproto.server.refreshSession"}
DROP = -1  # status of an answer the server loses: the connection is closed without one
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_RECORD_KEY = re.compile(r"[a-zA-Z0-9_~.:-]{1,512}")
# the one pattern of the PDS's slur list not anchored to whole words, in lower-case ASCII
_REFUSED_WORD = re.compile(r"n[il1oa4][gq]{2}(?:l[e3]t|[e3]r)")


@dataclass
class Request:
    method: str
    nsid: str
    query: dict[str, str]
    auth: str | None  # the bearer token, without "Bearer "
    content_type: str | None
    body: bytes
    json: Any = None


@dataclass
class Fault:
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    error: str = "InternalServerError"
    message: str = "fault injected by the test"
    hang: float = 0.0  # seconds to stall before answering normally
    lose: bool = False  # act on the request, then drop the connection (after `hang` s of silence)


def cid_for(data: bytes, codec: int = 0x71) -> str:
    """A CIDv1 (sha2-256, base32) as a PDS computes it: dag-cbor 0x71, raw 0x55."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class FakeBluesky:
    def __init__(
        self,
        handle: str = "replay.test",
        password: str = "app-pass-s3cr3t-1234",
        *,
        access_ttl: float = 7200.0,
    ) -> None:
        self.handle = handle
        self.password = password
        self.did = "did:plc:" + "fake" * 6
        self.access_ttl = access_ttl
        self.requests: list[Request] = []
        self.records: dict[tuple[str, str], tuple[str, dict]] = {}  # (collection, rkey) -> (cid, value)
        self.blobs: dict[str, tuple[str, bytes]] = {}
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.issued: list[str] = []  # every token ever handed out, revoked ones included
        self._faults: dict[str, list[Fault]] = {}
        self._key = secrets.token_bytes(32)
        self._rkeys = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    # -- control --------------------------------------------------------------

    def __enter__(self) -> FakeBluesky:
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def fail(self, nsid: str, status: int, *, times: int = 1, **kwargs) -> None:
        """Answer the next `times` calls of `nsid` with `status` (headers=, error=, message=)."""
        with self._lock:
            self._faults.setdefault(nsid, []).extend(Fault(status, **kwargs) for _ in range(times))

    def hang(self, nsid: str, seconds: float, *, times: int = 1) -> None:
        """Stall the next calls of `nsid` for `seconds`, then act on them normally."""
        with self._lock:
            self._faults.setdefault(nsid, []).extend(Fault(hang=seconds) for _ in range(times))

    def lose_answer(self, nsid: str, *, hang: float = 0.0, times: int = 1) -> None:
        """Act on the next calls of `nsid`, then lose the answer: close the connection
        without one, after `hang` seconds (past the client's timeout, if it is longer)."""
        with self._lock:
            self._faults.setdefault(nsid, []).extend(Fault(hang=hang, lose=True) for _ in range(times))

    def revoke_sessions(self) -> None:
        """Forget every token issued so far, as a server-side logout would."""
        with self._lock:
            self.access_tokens.clear()
            self.refresh_tokens.clear()

    def calls(self, nsid: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.nsid == nsid]

    def put(self, collection: str, rkey: str, value: dict) -> str:
        """Store a record directly (test setup); return its cid."""
        with self._lock:
            return self._store(collection, rkey, value)

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{self.did}/{collection}/{rkey}"

    # -- behaviour ------------------------------------------------------------

    def _jwt(self, scope: str, ttl: float) -> str:
        now = int(time.time())
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = {"scope": scope, "sub": self.did, "aud": "did:web:fake.test", "iat": now,
                   "exp": int(now + ttl), "jti": secrets.token_hex(8)}
        signing_input = f"{header}.{_b64(json.dumps(payload).encode())}"
        signature = hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def _new_session(self) -> dict:
        access = self._jwt("com.atproto.access", self.access_ttl)
        refresh = self._jwt("com.atproto.refresh", 90 * 86400)
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        self.issued += [access, refresh]
        return {"accessJwt": access, "refreshJwt": refresh, "handle": self.handle, "did": self.did,
                "active": True}

    def _store(self, collection: str, rkey: str, value: dict) -> str:
        cid = cid_for(json.dumps(value, sort_keys=True).encode())
        self.records[(collection, rkey)] = (cid, value)
        return cid

    def handle_request(self, req: Request) -> tuple[int, dict[str, str], dict]:
        """(status, headers, json body) for one request; runs under no lock."""
        with self._lock:
            self.requests.append(req)
            queue = self._faults.get(req.nsid)
            fault = queue.pop(0) if queue else None
        if fault is not None and fault.lose:
            with self._lock:
                self._dispatch(req)
            self._stop.wait(fault.hang)
            return DROP, {}, {}
        if fault is not None and fault.hang:
            self._stop.wait(fault.hang)
        elif fault is not None:
            return fault.status, fault.headers, {"error": fault.error, "message": fault.message}
        with self._lock:
            return self._dispatch(req)

    def _dispatch(self, req: Request) -> tuple[int, dict[str, str], dict]:
        body = req.json if isinstance(req.json, dict) else {}
        if req.nsid == "com.atproto.server.createSession":
            if body.get("identifier") not in (self.handle, self.did) or body.get("password") != self.password:
                return _error(401, "AuthenticationRequired", "Invalid identifier or password")
            return 200, {}, self._new_session()
        if req.nsid == "com.atproto.server.refreshSession":
            if req.auth not in self.refresh_tokens:
                return _error(400, "ExpiredToken", "Token has been revoked")
            self.refresh_tokens.discard(req.auth)
            return 200, {}, self._new_session()
        if req.nsid not in _NO_AUTH and req.auth not in self.access_tokens:
            return _error(401, "InvalidToken", "Token could not be verified")
        if req.nsid == "com.atproto.server.getSession":
            return 200, {}, {"handle": self.handle, "did": self.did, "active": True}
        if req.nsid == "app.bsky.actor.getProfile":
            return 200, {}, {"did": self.did, "handle": self.handle}
        if req.nsid == "com.atproto.repo.uploadBlob":
            cid = cid_for(req.body, codec=0x55)
            mime = req.content_type or "application/octet-stream"
            self.blobs[cid] = (mime, req.body)
            return 200, {}, {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime,
                                      "size": len(req.body)}}
        if req.nsid == "com.atproto.repo.getRecord":
            key = (req.query.get("collection", ""), req.query.get("rkey", ""))
            if req.query.get("repo") not in (self.did, self.handle) or key not in self.records:
                return _error(400, "RecordNotFound", f"Could not locate record: {self.uri(*key)}")
            cid, value = self.records[key]
            return 200, {}, {"uri": self.uri(*key), "cid": cid, "value": value}
        if req.nsid in ("com.atproto.repo.createRecord", "com.atproto.repo.putRecord"):
            return self._write(req.nsid, body)
        return _error(501, "MethodNotImplemented", f"{req.nsid} is not served by the fake")

    def _write(self, nsid: str, body: dict) -> tuple[int, dict[str, str], dict]:
        if body.get("repo") not in (self.did, self.handle):
            return _error(400, "InvalidRequest", "repo is not this account")
        collection, record = body.get("collection"), body.get("record")
        if not isinstance(collection, str) or not isinstance(record, dict):
            return _error(400, "InvalidRequest", "collection and record are required")
        if nsid.endswith("createRecord"):
            self._rkeys += 1
            rkey = body.get("rkey")
            if rkey is not None:
                refused = _refused_rkey(collection, rkey)
                if refused:
                    return _error(400, "InvalidRequest", refused)
            rkey = rkey or f"3kfake{self._rkeys:07d}"
            if (collection, rkey) in self.records:
                return _error(500, "InternalServerError", "Internal Server Error")
        else:
            rkey = body.get("rkey")
            current = self.records.get((collection, rkey))
            if "swapRecord" in body and (current is None or current[0] != body["swapRecord"]):
                return _error(400, "InvalidSwap", "Record was at another cid")
        cid = self._store(collection, rkey, record)
        return 200, {}, {"uri": self.uri(collection, rkey), "cid": cid, "validationStatus": "valid"}


def _refused_rkey(collection: str, rkey: object) -> str | None:
    """Why the reference PDS refuses a client-given record key (None: it takes it)."""
    if not isinstance(rkey, str) or not _RECORD_KEY.fullmatch(rkey) or rkey in (".", ".."):
        return f"Invalid record key: {rkey}"
    if _REFUSED_WORD.search(rkey):
        return "Unacceptable slur in record key"
    if collection == "app.bsky.feed.post" and not _TID.fullmatch(rkey):
        return f'Invalid record key for app.bsky.feed.post: Invalid TID string (got "{rkey}") at $'
    return None


def _error(status: int, error: str, message: str) -> tuple[int, dict[str, str], dict]:
    return status, {}, {"error": error, "message": message}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hung handler must not hold up shutdown


def _handler_for(fake: FakeBluesky) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            auth = self.headers.get("Authorization")
            content_type = self.headers.get("Content-Type")
            req = Request(
                method=self.command,
                nsid=url.path.removeprefix("/xrpc/"),
                query={k: v[-1] for k, v in parse_qs(url.query).items()},
                auth=auth.removeprefix("Bearer ") if auth else None,
                content_type=content_type,
                body=body,
            )
            if content_type and content_type.startswith("application/json") and body:
                req.json = json.loads(body)
            status, headers, payload = fake.handle_request(req)
            if status == DROP:  # the answer is lost: close without one
                self.close_connection = True
                return
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

    return Handler
