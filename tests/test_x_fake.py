"""The fake X server holds every request to X's published API (tests/fakes/x_spec.py and
the pinned x_openapi.json; the v1.1 calls to X's documented parameters) and serves the
two read endpoints, GET /2/users/me and GET /2/users/{id}/tweets.

Driven through tweepy's own stack (the publisher's configured Client and API), no mocks."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import tweepy

from bot.errors import UncertainError
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona
from bot.publishers.x import XPublisher
from tests.fakes import x_server as fx
from tests.fakes.x_server import FakeXServer
from tests.fakes.x_spec import SpecViolation

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    "X_API_KEY": "ck-fake-app", "X_API_SECRET": "cs-fake-app",
    "X_DESK_ACCESS_TOKEN": "at-desk", "X_DESK_ACCESS_TOKEN_SECRET": "ats-desk",
    "X_WIRE_ACCESS_TOKEN": "at-wire", "X_WIRE_ACCESS_TOKEN_SECRET": "ats-wire",
}
PERSONA = Persona("plain", "Daily News", "All the news")


@pytest.fixture
def x_server():
    with FakeXServer() as server:
        yield server


def publisher(server: FakeXServer, account: str = "desk", tmp: Path = Path(".")) -> XPublisher:
    env = {**SECRETS, "X_API_BASE_URL": server.base_url, "X_TIMEOUT": "5"}
    return XPublisher(AccountSettings(account, ("x",)), env=env, feed_dir=tmp, state_dir=tmp)


def post(text: str, **kw) -> OutgoingPost:
    return OutgoingPost(entry_id="e", account="desk", network="x", text=text, persona=PERSONA, **kw)


def png(tmp_path: Path, name: str, seed: int = 0) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([seed]) * 64)
    return path


def get(pub: XPublisher, route: str, **params) -> dict:
    """A v2 GET through tweepy's Client (its session, OAuth 1.0a signing, error mapping)."""
    return pub._client._client.request("GET", route, params=params, user_auth=True).json()


# ---- a request that breaks the spec fails the test that sent it

def test_the_fake_refuses_a_request_breaking_the_spec_and_stop_raises(tmp_path):
    fake = FakeXServer().start()
    try:
        with pytest.raises(tweepy.BadRequest) as caught:
            publisher(fake, tmp=tmp_path)._client._client.create_tweet(
                text="x", reply_settings="everyone", user_auth=True)
        problem = caught.value.response.json()
        assert caught.value.response.headers["Content-Type"] == "application/problem+json"
        assert problem["type"] == "https://api.x.com/2/problems/invalid-request"
        assert "'everyone' is not one of ['following'" in problem["detail"]
        [rec] = fake.requests()
        assert rec.status == 400 and "'everyone' is not one of" in rec.violation
    finally:
        with pytest.raises(SpecViolation, match="'everyone' is not one of") as stopped:
            fake.stop()
    assert "POST /2/tweets: request body (application/json)" in str(stopped.value)
    fake.check()  # reported once


def test_a_violation_fails_the_running_test_with_the_schema_message(tmp_path):
    """tests/conftest.py turns a violation no test took into a failure of that test."""
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_inner.py").write_text(f"""
import sys
sys.path.insert(0, {str(REPO)!r})
import requests
from tests.fakes.x_server import FakeXServer

server = FakeXServer().start()  # outlives the tests: only the hook can report

def send():
    return requests.post(server.base_url + "/2/media/metadata", json={{"id": "abc"}},
                         headers={{"Authorization": 'OAuth oauth_token="t"'}}, timeout=5)

def test_sends_a_bad_request():
    assert send().status_code == 400

def test_takes_its_violation():
    assert send().status_code == 400
    assert len(server.take_violations()) == 1

def test_sends_nothing():
    pass
""")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "test_inner.py")], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert "1 failed, 2 passed" in done.stdout, done.stdout + done.stderr
    assert "FAILED test_inner.py::test_sends_a_bad_request" in done.stdout
    assert ("POST /2/media/metadata: request body (application/json): 'abc' does not match "
            "'^[0-9]{1,19}$' (at $.id)") in done.stdout


def test_the_fake_as_a_process_logs_violations_and_exits_1(tmp_path):
    port_file, log = tmp_path / "port", tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.x_server", "--port-file", str(port_file), "--log", str(log)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        answer = requests.get(base + "/2/users/me", params={"tweet.fields": "created_at"},
                              headers={"Authorization": 'OAuth oauth_token="t"'}, timeout=5)
        assert answer.status_code == 400
        assert requests.get(base + "/_control/violations", timeout=5).json() == [
            "GET /2/users/me: query parameter 'tweet.fields' is not allowed "
            "(allowed: expansions, post.fields, user.fields)"]
        with pytest.raises(SpecViolation, match="requests.jsonl records 1 violation"):
            fx.read_log(log)
        [line] = fx.read_log(log, allow_violations=True)
        assert line["status"] == 400 and "tweet.fields" in line["violation"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 1
    assert "query parameter 'tweet.fields' is not allowed" in proc.stderr.read()


def test_a_path_x_does_not_have_is_a_violation(x_server, tmp_path):
    api = publisher(x_server, tmp=tmp_path)._client._api
    with pytest.raises(tweepy.NotFound):
        api.update_status("v1.1 posting")  # not a call the bot may make
    assert x_server.take_violations() == [
        "POST /1.1/statuses/update.json: neither in the pinned spec nor a v1.1 call the fake knows "
        "(/1.1/account/update_profile.json, /1.1/account/update_profile_image.json, "
        "/1.1/account/update_profile_banner.json)"]


# ---- the fake's own answers

def test_fault_answers_to_v2_calls_are_the_specs_error_body(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    for kind in (fx.RATE_LIMITED, fx.SERVER_ERROR, fx.UNAVAILABLE, fx.UNAUTHORIZED,
                 fx.DUPLICATE, fx.ACCESS_LEVEL):
        x_server.fail(kind)
        with pytest.raises(tweepy.HTTPException) as caught:
            pub._client._client.create_tweet(text=kind, user_auth=True)
        body = caught.value.response.json()
        assert set(body) == {"code", "message"} and isinstance(body["code"], int)
    assert [r.violation for r in x_server.requests()] == [None] * 6  # each checked, each valid


def test_alt_text_answer_echoes_the_metadata_as_an_object(x_server, tmp_path):
    publisher(x_server, tmp=tmp_path).publish(post("x", media=(MediaItem(png(tmp_path, "a.png"), "Alt"),)))
    meta = x_server.requests("/2/media/metadata")[0]
    assert meta.status == 200 and meta.violation is None


# ---- v1.1: X's documented parameters only

def test_v1_profile_call_with_an_undocumented_parameter_is_refused(x_server, tmp_path):
    api = publisher(x_server, tmp=tmp_path)._client._api
    with pytest.raises(tweepy.BadRequest):
        api.update_profile(name="Paper", profile_link_color="FF0000")  # tweepy offers it, X no longer does
    [problem] = x_server.take_violations()
    assert problem.startswith("POST /1.1/account/update_profile.json: parameter 'profile_link_color' "
                              "is not documented (documented: description, include_entities, location, "
                              "name, skip_status, url; https://developer.x.com/")
    assert x_server.account("at-desk").name == "Fake Account"  # refused: nothing changed


def test_v1_profile_image_without_an_image_is_refused(x_server, tmp_path):
    api = publisher(x_server, tmp=tmp_path)._client._api
    with pytest.raises(tweepy.BadRequest):
        api.request("POST", "account/update_profile_image", endpoint_parameters=("skip_status",),
                    skip_status=True)
    assert x_server.take_violations() == [
        "POST /1.1/account/update_profile_image.json: parameter 'image' is required "
        "(https://developer.x.com/en/docs/x-api/v1/accounts-and-users/manage-account-settings/"
        "api-reference/post-account-update_profile_image)"]


def test_v1_banner_with_crop_parameters_is_accepted(x_server, tmp_path):
    api = publisher(x_server, tmp=tmp_path)._client._api
    api.update_profile_banner("b.png", file=io.BytesIO(b"banner"), width=1500, height=500,
                              offset_left=0, offset_top=0)
    assert x_server.account("at-desk").banner_sha256 == hashlib.sha256(b"banner").hexdigest()


# ---- GET /2/users/me

def test_users_me_reflects_the_profile_the_v1_calls_set(x_server, tmp_path):
    pub = publisher(x_server, "wire", tmp=tmp_path)
    fields = ["description", "profile_image_url", "profile_banner_url"]
    before = pub._client._client.get_me(user_fields=fields, user_auth=True).data
    assert before.id == int(x_server.user_id("at-wire")) and before.name == "Fake Account"
    assert "default_profile" in before.profile_image_url

    avatar, banner = png(tmp_path, "avatar.png", 1), png(tmp_path, "banner.png", 2)
    pub.switch_persona(Persona("wire", "Petrograd Telegraph Agency", "Bulletins", avatar, banner))
    me = get(pub, "/2/users/me", **{"user.fields": ",".join(fields)})["data"]
    digest = hashlib.sha256(avatar.read_bytes()).hexdigest()
    assert me == {
        "id": x_server.user_id("at-wire"), "username": x_server.account("at-wire").username,
        "name": "Petrograd Telegraph Agency", "description": "Bulletins",
        "profile_image_url": f"https://pbs.twimg.com/profile_images/{me['id']}/{digest[:16]}_normal.png",
        "profile_banner_url": f"https://pbs.twimg.com/profile_banners/{me['id']}/"
                              + hashlib.sha256(banner.read_bytes()).hexdigest()[:16],
    }
    assert x_server.account("at-wire").avatar_sha256 == digest
    assert get(pub, "/2/users/me")["data"].keys() == {"id", "name", "username"}  # only when asked


def test_users_me_expands_the_most_recent_post(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    assert "includes" not in get(pub, "/2/users/me", expansions="most_recent_post_id")
    first, last = pub.publish(post("first")), pub.publish(post("last"))
    answer = get(pub, "/2/users/me", expansions="most_recent_post_id", **{"post.fields": "created_at"})
    assert answer["data"]["most_recent_post_id"] == last != first
    assert answer["includes"]["posts"][0]["text"] == "last"


# ---- GET /2/users/{id}/tweets

def test_user_posts_newest_first_in_pages(x_server, tmp_path):
    pub, other = publisher(x_server, tmp=tmp_path), publisher(x_server, "wire", tmp=tmp_path)
    ids = [pub.publish(post(f"post {i}")) for i in range(7)]
    other.publish(post("someone else"))
    me = x_server.user_id("at-desk")

    page = get(pub, f"/2/users/{me}/tweets", max_results=5)
    assert [p["text"] for p in page["data"]] == [f"post {i}" for i in (6, 5, 4, 3, 2)]
    assert page["data"][0] == {"id": ids[6], "text": "post 6", "edit_history_post_ids": [ids[6]]}
    assert page["meta"]["result_count"] == 5
    assert (page["meta"]["newest_id"], page["meta"]["oldest_id"]) == (ids[6], ids[2])
    rest = get(pub, f"/2/users/{me}/tweets", max_results=5, pagination_token=page["meta"]["next_token"])
    assert [p["id"] for p in rest["data"]] == [ids[1], ids[0]] and "next_token" not in rest["meta"]
    assert [p["id"] for p in get(pub, f"/2/users/{me}/tweets", since_id=ids[4], until_id=ids[6])["data"]] == [ids[5]]
    assert len(get(pub, f"/2/users/{me}/tweets")["data"]) == 7  # ten by default


def test_user_posts_fields_and_expansions_show_threads_and_images(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    root = pub.publish(post("root", media=(MediaItem(png(tmp_path, "a.png"), "Alt"),)))
    reply = pub.publish(post("reply", reply_to_remote=root))
    me = x_server.user_id("at-desk")
    answer = get(pub, f"/2/users/{me}/tweets", max_results=5,
                 expansions="referenced_posts,author_id,attachments.media_keys",
                 **{"post.fields": "created_at,conversation_id,attachments"})
    newest, oldest = answer["data"]
    assert newest["id"] == reply and newest["referenced_posts"] == [{"type": "replied_to", "id": root}]
    assert newest["conversation_id"] == oldest["conversation_id"] == root
    assert newest["author_id"] == me
    media_id = x_server.requests("/2/media/upload")[0].created_id
    assert oldest["attachments"] == {"media_keys": [f"3_{media_id}"]}
    assert answer["includes"]["posts"][0]["id"] == root
    assert answer["includes"]["users"] == [{"id": me, "name": "Fake Account",
                                            "username": x_server.account("at-desk").username}]
    assert answer["includes"]["media"] == [{"media_key": f"3_{media_id}", "type": "photo"}]
    created = datetime.fromisoformat(newest["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(seconds=30)
    assert [p["id"] for p in get(pub, f"/2/users/{me}/tweets", exclude="replies")["data"]] == [root]


def test_user_posts_time_window_is_inclusive_to_the_second(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    remote = pub.publish(post("timed"))
    made = x_server.posts("at-desk")[0].created_at
    second = datetime.fromtimestamp(int(made), UTC)
    me = x_server.user_id("at-desk")

    def window(start, end):
        answer = get(pub, f"/2/users/{me}/tweets", start_time=f"{start:%Y-%m-%dT%H:%M:%SZ}",
                     end_time=f"{end:%Y-%m-%dT%H:%M:%SZ}")
        return [p["id"] for p in answer.get("data", [])], answer["meta"]["result_count"]

    assert window(second, second) == ([remote], 1)
    assert window(second + timedelta(seconds=1), second + timedelta(seconds=9)) == ([], 0)
    assert window(second - timedelta(seconds=9), second - timedelta(seconds=1)) == ([], 0)


def test_user_posts_of_an_unknown_user_is_a_not_found_problem(x_server, tmp_path):
    answer = get(publisher(x_server, tmp=tmp_path), "/2/users/42/tweets")
    assert answer["errors"][0]["type"] == "https://api.x.com/2/problems/resource-not-found"
    assert answer["errors"][0]["resource_id"] == "42"


def test_tweepys_own_timeline_call_breaks_the_spec(x_server, tmp_path):
    """tweepy names the fields `tweet.fields`; X's spec calls them `post.fields`."""
    pub = publisher(x_server, tmp=tmp_path)
    me = x_server.user_id("at-desk")
    with pytest.raises(tweepy.BadRequest):
        pub._client._client.get_users_tweets(me, tweet_fields=["created_at"], user_auth=True)
    [problem] = x_server.take_violations()
    assert "query parameter 'tweet.fields' is not allowed" in problem
    pub._client._client.get_users_tweets(me, max_results=5, user_auth=True)  # without it: fine
    assert x_server.take_violations() == []


def test_every_answer_of_the_read_endpoints_is_checked(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    pub.publish(post("one"))
    me = x_server.user_id("at-desk")
    get(pub, "/2/users/me", **{"user.fields": "created_at,protected,verified,url"})
    get(pub, f"/2/users/{me}/tweets", **{"post.fields": "created_at"})
    assert [(r.path, r.status, r.violation) for r in x_server.requests()] == [
        ("/2/tweets", 201, None), ("/2/users/me", 200, None), (f"/2/users/{me}/tweets", 200, None)]
    assert json.loads(json.dumps(x_server.violations())) == []


# ---- texts as X shows them, and faults that act before losing the answer

def test_posts_come_back_as_x_shows_them(x_server, tmp_path):
    pub, wire = publisher(x_server, tmp=tmp_path), publisher(x_server, "wire", tmp=tmp_path)
    plain = pub.publish(post("Bread & roses <now> at https://example.org/a?b=1&c=2."))
    pictured = pub.publish(post("", media=(MediaItem(png(tmp_path, "a.png"), "Alt"),)))
    reply = wire.publish(post("Agreed", reply_to_remote=plain))
    self_reply = pub.publish(post("More", reply_to_remote=plain))
    shown = {p.id: p.shown for p in x_server.posts()}
    link = r"https://t\.co/[0-9a-f]{10}"
    assert re.fullmatch(f"Bread &amp; roses &lt;now&gt; at {link}\\.", shown[plain])
    assert re.fullmatch(link, shown[pictured])  # the images' link
    assert shown[reply] == f"@{x_server.account('at-desk').username} Agreed"  # another account's post
    assert shown[self_reply] == "More"  # a thread of one's own: no mention
    me = x_server.user_id("at-desk")
    texts = {p["id"]: p["text"] for p in get(pub, f"/2/users/{me}/tweets")["data"]}
    assert texts[plain] == shown[plain] and x_server.posts()[0].text.endswith("&c=2.")
    assert x_server.requests("/2/tweets")[0].status == 201


def test_users_me_shows_the_bio_links_as_t_co_with_their_entities(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    pub.switch_persona(Persona("p", "Paper", "Read us at https://example.org/paper daily"))
    me = get(pub, "/2/users/me", **{"user.fields": "description,entities"})["data"]
    [url] = me["entities"]["description"]["urls"]
    assert me["description"] == f"Read us at {url['url']} daily" and url["url"].startswith("https://t.co/")
    assert url["expanded_url"] == "https://example.org/paper"
    assert me["description"][url["start"]:url["end"]] == url["url"]
    assert "entities" not in get(pub, "/2/users/me", **{"user.fields": "description"})["data"]


@pytest.mark.parametrize("kind, created", [
    (fx.HANG, False), (fx.RESET_AFTER_READ, False), (fx.ACTED_THEN_HANG, True), (fx.ACTED_THEN_RESET, True),
])
def test_lost_answers_with_and_without_the_action(x_server, tmp_path, kind, created):
    x_server.fail(kind, path="/2/tweets", hang_seconds=1)
    with pytest.raises(UncertainError):
        publisher(x_server, tmp=tmp_path).publish(post("maybe"))
    [rec] = x_server.requests()
    assert (rec.status, rec.fault, rec.violation) == (None, kind, None)
    assert [p.text for p in x_server.posts()] == (["maybe"] if created else [])
    assert (rec.created_id is not None) is created


def test_access_level_fault_on_the_timeline_is_the_specs_error_body(x_server, tmp_path):
    pub = publisher(x_server, tmp=tmp_path)
    me = x_server.user_id("at-desk")
    x_server.fail(fx.ACCESS_LEVEL, path=f"/2/users/{me}/tweets")
    with pytest.raises(tweepy.Forbidden) as caught:
        pub._client._client.request("GET", f"/2/users/{me}/tweets", params={}, user_auth=True)
    assert caught.value.response.json()["code"] == 453
    [rec] = x_server.requests()
    assert (rec.status, rec.violation) == (403, None)


def test_a_request_cut_off_by_its_dying_client_is_neither_recorded_nor_a_violation(x_server):
    """A bot killed while sending an upload leaves half a multipart body: X never sees a
    complete request, so there is nothing to act on or to hold against the spec."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(x_server.base_url)
    body = b"--b\r\nContent-Disposition: form-data; name=\"media_category\"\r\n\r\ntweet_image\r\n--b\r\n"
    head = (f"POST /2/media/upload HTTP/1.1\r\nHost: {where.netloc}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            f"Content-Length: {len(body) + 500}\r\nAuthorization: OAuth oauth_token=\"at-desk\"\r\n\r\n").encode()
    with socket.create_connection((where.hostname, where.port)) as sock:
        sock.sendall(head + body)  # 500 bytes short: the client dies here
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not x_server.requests():
        time.sleep(0.05)
    assert x_server.requests() == [] and x_server.violations() == []
    publisher(x_server).publish(post("after the cut"))  # the fake goes on serving
    assert [r.json["text"] for r in x_server.tweets()] == ["after the cut"]
