"""The harness itself, against the reference PDS, with the Python `atproto` client.

Posting, reading back (text byte for byte), blobs, a restart and a SIGKILL of the
PDS, and the DelayProxy's hold, delay, refuse and drop modes.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import httpx
import psutil
import pytest
from typing import TYPE_CHECKING

from .harness import Account, DelayProxy, RealPDS, XrpcError

if TYPE_CHECKING:
    from atproto_client import Client, models


def _network_error() -> type[Exception]:
    # atproto's client is imported where it is used: importing it costs a second of CPU, which
    # every xdist worker would pay at collection, though only one runs these tests
    from atproto_client.exceptions import NetworkError

    return NetworkError

pytestmark = pytest.mark.realpds

POST = "app.bsky.feed.post"
# Non-ASCII on purpose: combining accent (NFD), ZWJ emoji, CJK, right-to-left, a newline.
TEXT = "Anniversary: cafe\u0301 \U0001F468\u200D\U0001F469\u200D\U0001F467 \u6771\u4eac \u05e9\u05dc\u05d5\u05dd\nline two"


def client_for(url: str, account: Account, *, timeout: float = 10.0) -> Client:
    from atproto_client import Client
    from atproto_client.request import Request

    client = Client(base_url=url, request=Request(timeout=timeout))
    client.login(account.handle, account.app_password, fetch_bsky_profile=False)
    return client


def post(client: Client, text: str, **kwargs: object) -> models.AppBskyFeedPost.CreateRecordResponse:
    """send_post to the logged-in account (send_post's default repo is `client.me`, which the
    login does not fetch: this PDS has no AppView to ask)."""
    return client.send_post(text, profile_identify=client.me.did if client.me else client._session.did, **kwargs)  # type: ignore[union-attr, arg-type]


def png(width: int = 3, height: int = 2, *, noise: bool = False) -> bytes:
    """An RGB PNG: a small gradient, or random pixels (incompressible: about 3 bytes a pixel)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    if noise:
        rows = b"".join(b"\x00" + os.urandom(3 * width) for _ in range(height))
    else:
        rows = b"".join(b"\x00" + b"".join(bytes([40 * x, 90, 200 - 30 * y]) for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def rkey_of(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def test_servers_listen_on_loopback_only(real_pds: RealPDS) -> None:
    real_pds.ensure_running()
    for kind, pid in real_pds.pids.items():
        assert pid is not None, kind
        listening = [c.laddr for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        assert listening, f"{kind} listens nowhere"
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, f"{kind} listens on {listening}"
        expected = real_pds.pds_port if kind == "pds" else real_pds.plc_port
        assert {addr.port for addr in listening} == {expected}


def test_account_has_a_plc_did_and_a_test_handle(real_pds: RealPDS, new_account) -> None:
    acct = new_account("smoke-alice")
    assert acct.handle == "smoke-alice.test"
    assert acct.did.startswith("did:plc:")
    assert acct.app_password and acct.app_password != acct.password
    assert acct.password not in repr(acct) and acct.app_password not in repr(acct)
    # The PLC directory knows the DID, with this PDS as its service.
    doc = real_pds.xrpc_get("com.atproto.identity.resolveHandle", {"handle": acct.handle})
    assert doc == {"did": acct.did}
    with pytest.raises(XrpcError) as err:
        real_pds.create_account("smoke-alice")
    assert err.value.status == 400 and "taken" in (err.value.message or "")


def test_post_and_read_back_byte_identical(real_pds: RealPDS, account: Account) -> None:
    client = client_for(real_pds.url, account)
    assert client.me is None  # no AppView behind this PDS, and none asked for
    created = post(client, TEXT)
    assert created.uri.startswith(f"at://{account.did}/{POST}/")

    got = real_pds.get_record(account.did, POST, rkey_of(created.uri))
    assert got["uri"] == created.uri
    assert got["cid"] == created.cid
    assert got["value"]["$type"] == POST
    assert got["value"]["text"].encode("utf-8") == TEXT.encode("utf-8")

    listed = real_pds.list_records(account.did, POST)
    assert [(r["uri"], r["cid"]) for r in listed] == [(created.uri, created.cid)]
    with pytest.raises(XrpcError) as err:
        real_pds.get_record(account.did, POST, "3zzzzzzzzzzzz")
    assert err.value.status == 400 and err.value.error == "RecordNotFound"


@pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")  # atproto's upload_blob
@pytest.mark.parametrize("through_proxy", [False, True], ids=["direct", "proxied-900KB"])
def test_blob_round_trip(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy, through_proxy: bool) -> None:
    url = pds_proxy.url if through_proxy else real_pds.url
    picture = png(540, 540, noise=True) if through_proxy else png()  # images may have 1,000,000 bytes
    client = client_for(url, account)
    blob = client.upload_blob(picture).blob
    assert blob.mime_type == "image/png" and blob.size == len(picture)
    from atproto_client import models

    embed = models.AppBskyEmbedImages.Main(images=[models.AppBskyEmbedImages.Image(alt="a picture", image=blob)])
    created = post(client, "with a picture", embed=embed)

    value = real_pds.get_record(account.did, POST, rkey_of(created.uri))["value"]
    image = value["embed"]["images"][0]["image"]
    assert image["ref"]["$link"] == blob.cid.encode()
    assert image["size"] == len(picture)
    got = httpx.get(f"{url}/xrpc/com.atproto.sync.getBlob", params={"did": account.did, "cid": blob.cid.encode()}, timeout=10)
    assert got.status_code == 200 and got.content == picture
    assert real_pds.get_blob(account.did, blob.cid.encode()) == picture


@pytest.mark.slow  # the harness itself (a PDS restart and kill); the bot's own outage tests restart it too
def test_restart_and_kill_keep_accounts_records_and_sessions(real_pds: RealPDS, account: Account) -> None:
    client = client_for(real_pds.url, account)
    first = post(client, "before the restart")
    old_pid = real_pds.pids["pds"]

    real_pds.stop_pds()
    assert not real_pds.pds_running()
    with pytest.raises(_network_error()):
        client.com.atproto.server.get_session()
    real_pds.start_pds()
    assert real_pds.pids["pds"] != old_pid

    again = client_for(real_pds.url, account)
    assert again.com.atproto.server.get_session().did == account.did
    # The old session's tokens still work: same JWT secret, same account database.
    assert client.com.atproto.server.get_session().did == account.did
    assert real_pds.get_record(account.did, POST, rkey_of(first.uri))["cid"] == first.cid

    second = post(again, "just before a SIGKILL")
    real_pds.kill_pds()
    real_pds.start_pds()
    assert {r["uri"] for r in real_pds.list_records(account.did, POST)} == {first.uri, second.uri}
    assert post(client_for(real_pds.url, account), "after the SIGKILL").uri


def test_hold_keeps_a_request_until_released(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    client = client_for(pds_proxy.url, account, timeout=30)
    pds_proxy.hold()
    result: dict[str, object] = {}

    def call() -> None:
        try:
            result["created"] = post(client, "held, then let through")
        except Exception as err:  # noqa: BLE001 - reported below
            result["error"] = err

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    held = pds_proxy.wait_held(1, timeout=10)
    assert [h["request_line"] for h in held if h["complete"]] == ["POST /xrpc/com.atproto.repo.createRecord HTTP/1.1"]
    time.sleep(0.5)
    assert thread.is_alive(), result
    assert real_pds.list_records(account.did, POST) == []  # nothing reached the PDS

    pds_proxy.release()
    thread.join(10)
    assert not thread.is_alive() and "error" not in result, result
    created = result["created"]
    assert [r["uri"] for r in real_pds.list_records(account.did, POST)] == [created.uri]  # type: ignore[attr-defined]


CLIENT_SCRIPT = textwrap.dedent("""
    import sys
    from atproto_client import Client
    from atproto_client.request import Request
    client = Client(base_url=sys.argv[1], request=Request(timeout=60))
    client.login(sys.argv[2], sys.stdin.readline().strip(), fetch_bsky_profile=False)
    print("logged in", flush=True)
    client.send_post(sys.argv[3], profile_identify=sys.argv[4])
    print("posted", flush=True)
""")


def test_client_killed_while_its_call_is_held(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    """What the proxy is for: the client dies mid-call; the request, once released, is still served."""
    child = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, pds_proxy.url, account.handle, "from a client that died", account.did],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(account.app_password + "\n")
        child.stdin.close()
        assert child.stdout.readline().strip() == "logged in"
        pds_proxy.hold()
        pds_proxy.wait_held(1, timeout=20)
        child.kill()
        assert child.wait(10) == -9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert real_pds.list_records(account.did, POST) == []
    pds_proxy.release()
    deadline = time.monotonic() + 10
    while not (records := real_pds.list_records(account.did, POST)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["value"]["text"] for r in records] == ["from a client that died"]


def test_release_without_forwarding_drops_the_request(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    client = client_for(pds_proxy.url, account, timeout=30)
    pds_proxy.hold()
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, post, client, "never arrives"), daemon=True)
    thread.start()
    pds_proxy.wait_held(1, timeout=10)
    pds_proxy.release(forward=False)
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], (_network_error(), httpx.HTTPError)), errors
    assert real_pds.list_records(account.did, POST) == []


def _capture(errors: list[BaseException], fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except BaseException as err:  # noqa: BLE001
        errors.append(err)


def test_delay_slows_requests_by_the_given_time(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    client = client_for(pds_proxy.url, account)
    t0 = time.monotonic()
    client.com.atproto.server.get_session()
    fast = time.monotonic() - t0
    pds_proxy.delay(1.0)
    t0 = time.monotonic()
    assert client.com.atproto.server.get_session().did == account.did
    slow = time.monotonic() - t0
    assert 1.0 <= slow < 1.0 + fast + 1.5, (fast, slow)


def test_refuse_fails_fast_then_recovers(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    client = client_for(pds_proxy.url, account)  # an open keep-alive connection through the proxy
    pds_proxy.refuse()
    t0 = time.monotonic()
    with pytest.raises(_network_error()) as err:
        post(client, "during the outage")
    assert time.monotonic() - t0 < 2.0
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", pds_proxy.port), timeout=2).close()
    assert real_pds.pds_running() and real_pds.list_records(account.did, POST) == []

    pds_proxy.pass_through()
    created = post(client, "after the outage")
    assert [r["uri"] for r in real_pds.list_records(account.did, POST)] == [created.uri]


def test_drop_resets_connections(real_pds: RealPDS, account: Account, pds_proxy: DelayProxy) -> None:
    client = client_for(pds_proxy.url, account)
    pds_proxy.drop()
    t0 = time.monotonic()
    with pytest.raises((_network_error(), httpx.HTTPError)):
        post(client, "dropped")
    assert time.monotonic() - t0 < 2.0
    assert pds_proxy.accepted >= 2  # the login's connection, and the dropped one(s)
    pds_proxy.pass_through()
    assert client.com.atproto.server.get_session().did == account.did
    assert real_pds.list_records(account.did, POST) == []
