"""XPublisher against the fake X API: real tweepy, real HTTP on 127.0.0.1, no mocks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from bot.errors import (
    ConfigError,
    ProfileRefused,
    PublishError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)
from bot.publishers import load
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona
from bot.publishers.x import XPublisher
from bot.publishers.x.api import _BadStatus, base_url_setting
from bot.publishers.x.failures import error_for_answer, retry_after
from tests.fakes import x_server as fx
from tests.fakes.x_server import FakeXServer, unused_port

REPO = Path(__file__).resolve().parents[1]
SECRETS = {
    "X_API_KEY": "ck-appkey-5f1e",
    "X_API_SECRET": "cs-APPSECRET-9a7d3c",
    "X_NEWS_DESK_ACCESS_TOKEN": "at-NEWSDESK-1111",
    "X_NEWS_DESK_ACCESS_TOKEN_SECRET": "ats-NEWSDESKSECRET-2222",
    "X_WIRE_ACCESS_TOKEN": "at-WIRE-3333",
    "X_WIRE_ACCESS_TOKEN_SECRET": "ats-WIRESECRET-4444",
}
NEWS_TOKEN = SECRETS["X_NEWS_DESK_ACCESS_TOKEN"]
WIRE_TOKEN = SECRETS["X_WIRE_ACCESS_TOKEN"]
PERSONA = Persona("plain", "Daily News", "All the news")


@pytest.fixture
def x_server():
    with FakeXServer() as server:
        yield server


def make(server_url: str, account: str = "news-desk", timeout: str = "0.5",
         tmp: Path = Path(".")) -> XPublisher:
    env = {**SECRETS, "X_API_BASE_URL": server_url, "X_TIMEOUT": timeout}
    return XPublisher(AccountSettings(account, ("x",)), env=env, feed_dir=tmp, state_dir=tmp)


def post(text: str = "Revolution in Petrograd", **kw) -> OutgoingPost:
    return OutgoingPost(entry_id="e1", account="news-desk", network="x", text=text,
                        persona=PERSONA, **kw)


def image(tmp_path: Path, name: str, size: int = 300) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * (size // 256 + 1))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_no_secret(error: BaseException) -> None:
    shown = str(error) + repr(error) + "".join(traceback.format_exception(error))
    for value in SECRETS.values():
        assert value not in shown


# ---- credentials and settings

def test_required_credentials_follow_the_contract():
    assert XPublisher.required_credentials("news-desk.1917") == [
        "X_API_KEY", "X_API_SECRET",
        "X_NEWS_DESK_1917_ACCESS_TOKEN", "X_NEWS_DESK_1917_ACCESS_TOKEN_SECRET",
    ]
    assert XPublisher.missing_credentials("wire", SECRETS) == []
    assert XPublisher.missing_credentials("other", SECRETS) == [
        "X_OTHER_ACCESS_TOKEN", "X_OTHER_ACCESS_TOKEN_SECRET"]


def test_registered_under_the_name_x():
    assert load("x") is XPublisher
    assert (XPublisher.name, XPublisher.limits.text, XPublisher.limits.count("a" * 10)) == ("x", 280, 10)


def test_missing_credentials_are_named_without_values(tmp_path):
    env = {k: v for k, v in SECRETS.items() if k != "X_WIRE_ACCESS_TOKEN_SECRET"}
    with pytest.raises(ConfigError, match="X_WIRE_ACCESS_TOKEN_SECRET") as caught:
        XPublisher(AccountSettings("wire", ("x",)), env=env, feed_dir=tmp_path, state_dir=tmp_path)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("env, message", [
    ({"X_API_BASE_URL": "127.0.0.1:8080"}, "X_API_BASE_URL"),
    ({"X_API_BASE_URL": "ftp://host"}, "X_API_BASE_URL"),
    ({"X_TIMEOUT": "soon"}, "X_TIMEOUT"),
    ({"X_TIMEOUT": "0"}, "X_TIMEOUT"),
    ({"X_TIMEOUT": "nan"}, "X_TIMEOUT"),
])
def test_bad_transport_settings_are_config_errors(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        XPublisher(AccountSettings("wire", ("x",)), env={**SECRETS, **env}, feed_dir=tmp_path, state_dir=tmp_path)


def test_transport_defaults_to_tweepy_hosts_and_30_s(tmp_path):
    assert base_url_setting({}) is None
    assert base_url_setting({"X_API_BASE_URL": "http://127.0.0.1:9"}).netloc == "127.0.0.1:9"
    settings = AccountSettings("wire", ("x",))
    assert XPublisher(settings, env=SECRETS, feed_dir=tmp_path, state_dir=tmp_path).timeout == 30.0
    assert XPublisher(settings, env={**SECRETS, "X_TIMEOUT": "2.5"}, feed_dir=tmp_path, state_dir=tmp_path).timeout == 2.5


# ---- pure error mapping

def test_retry_after_counts_from_now_and_needs_the_header():
    assert retry_after({"x-rate-limit-reset": "1000"}, now=990.5) == 9.5
    assert retry_after({"x-rate-limit-reset": "1000"}, now=1010) == 0.0
    assert retry_after({}, now=0) is None
    assert retry_after({"x-rate-limit-reset": "soon"}, now=0) is None


def test_v1_duplicate_code_187_is_uncertain_only_for_posts():
    body = json.dumps({"errors": [{"code": 187, "message": "Status is a duplicate."}]}).encode()
    assert isinstance(error_for_answer(403, {}, body, "post", may_create=True, now=0),
                      UncertainError)
    assert type(error_for_answer(403, {}, body, "alt text", now=0)) is RejectedError


def test_v2_error_body_of_the_spec_is_read():
    # X's OpenAPI document: a v2 error in application/json is {"code": int, "message": str}
    body = json.dumps({"code": 187, "message": "Status is a duplicate."}).encode()
    error = error_for_answer(403, {}, body, "post", may_create=True, now=0)
    assert isinstance(error, UncertainError)
    assert "HTTP 403 code 187: Status is a duplicate." in str(error)
    body = json.dumps({"code": 453, "message": "a subset of X API V2 endpoints"}).encode()
    assert isinstance(error_for_answer(403, {}, body, "profile update", profile=True, now=0),
                      ProfileRefused)


def test_code_453_is_profile_refused_only_on_profile_calls():
    body = json.dumps(fx._ACCESS_LEVEL_BODY).encode()
    assert isinstance(error_for_answer(403, {}, body, "profile update", profile=True, now=0),
                      ProfileRefused)
    assert type(error_for_answer(403, {}, body, "post", may_create=True, now=0)) is RejectedError


# ---- happy paths

def test_post_returns_the_tweet_id(x_server, tmp_path):
    remote = make(x_server.base_url, tmp=tmp_path).publish(post("Bread riots on Nevsky"))
    [tweet] = x_server.requests()
    assert remote == tweet.created_id
    assert (tweet.path, tweet.token, tweet.status) == ("/2/tweets", NEWS_TOKEN, 201)
    assert tweet.json == {"text": "Bread riots on Nevsky"}


def test_reply_carries_the_parent_id(x_server, tmp_path):
    make(x_server.base_url, tmp=tmp_path).publish(post(reply_to_remote="1700000000000000042"))
    [tweet] = x_server.tweets()
    assert tweet.json["reply"] == {"in_reply_to_tweet_id": "1700000000000000042"}


def test_images_are_uploaded_with_alt_text_before_the_tweet(x_server, tmp_path):
    first, second = image(tmp_path, "tsar.png"), image(tmp_path, "duma.jpg", 900)
    media = (MediaItem(first, "The Tsar at Mogilev"), MediaItem(second, None))
    remote = make(x_server.base_url, tmp=tmp_path).publish(post(media=media))

    up1, meta, up2, tweet = x_server.requests()
    assert [r.path for r in (up1, meta, up2, tweet)] == [
        "/2/media/upload", "/2/media/metadata", "/2/media/upload", "/2/tweets"]
    assert up1.files["media"]["sha256"] == sha(first)
    assert up1.form["media_category"] == "tweet_image"
    assert up2.files["media"]["sha256"] == sha(second)
    assert up2.files["media"]["content_type"] == "image/jpeg"  # the part says what it is
    assert up1.form == up2.form == {"media_category": "tweet_image"}  # nothing the spec forbids
    assert meta.json == {"id": up1.created_id,
                         "metadata": {"alt_text": {"text": "The Tsar at Mogilev"}}}
    assert tweet.json["media"] == {"media_ids": [up1.created_id, up2.created_id]}
    assert remote == tweet.created_id
    assert {r.token for r in (up1, meta, up2, tweet)} == {NEWS_TOKEN}


def test_upload_meets_x_spec_which_refuses_the_old_media_type_field(x_server, tmp_path):
    """Regression: the upload sent a `media_type` form field, which X's MediaUploadRequest
    (additionalProperties: false) does not allow. The fake holds uploads to the spec."""
    picture = image(tmp_path, "tsar.png")
    publisher = make(x_server.base_url, tmp=tmp_path)
    with pytest.raises(_BadStatus) as caught:  # the old request, through the same tweepy session
        publisher._client._post_v2("/2/media/upload",
                           files={"media": ("tsar.png", picture.read_bytes(), "image/png")},
                           data={"media_category": "tweet_image", "media_type": "image/png"})
    assert caught.value.response.status_code == 400
    assert x_server.take_violations() == [
        "POST /2/media/upload: request body (multipart/form-data): Additional properties are "
        "not allowed ('media_type' was unexpected)"]

    publisher.publish(post(media=(MediaItem(picture, "The Tsar"),)))
    upload, _, _ = x_server.requests()[1:]
    assert (upload.path, upload.status, upload.violation) == ("/2/media/upload", 200, None)
    assert x_server.take_violations() == []


def test_persona_switch_makes_three_profile_calls(x_server, tmp_path):
    avatar, banner = image(tmp_path, "avatar.png"), image(tmp_path, "banner.png", 2000)
    persona = Persona("telegraph", "Petrograd Telegraph Agency", "Bulletins", avatar, banner)
    make(x_server.base_url, account="wire", tmp=tmp_path).switch_persona(persona)

    profile, pic, ban = x_server.requests()
    assert profile.path == "/1.1/account/update_profile.json"
    assert profile.params == {"name": "Petrograd Telegraph Agency", "description": "Bulletins"}
    assert pic.path == "/1.1/account/update_profile_image.json"
    assert pic.files["image"]["sha256"] == sha(avatar)
    assert ban.path == "/1.1/account/update_profile_banner.json"
    assert ban.files["banner"]["sha256"] == sha(banner)
    assert {r.token for r in (profile, pic, ban)} == {WIRE_TOKEN}


def test_persona_without_images_only_updates_the_profile(x_server, tmp_path):
    make(x_server.base_url, tmp=tmp_path).switch_persona(PERSONA)
    assert [r.path for r in x_server.requests()] == ["/1.1/account/update_profile.json"]


def test_each_account_signs_with_its_own_access_token(x_server, tmp_path):
    news, wire = make(x_server.base_url, tmp=tmp_path), make(x_server.base_url, "wire", tmp=tmp_path)
    news.publish(post("one"))
    wire.publish(post("two"))
    news.switch_persona(PERSONA)
    assert [(r.json or {}).get("text") for r in x_server.tweets()] == ["one", "two"]
    assert [r.token for r in x_server.requests()] == [NEWS_TOKEN, WIRE_TOKEN, NEWS_TOKEN]


def test_missing_image_is_rejected_before_any_request(x_server, tmp_path):
    item = MediaItem(tmp_path / "gone.png", "alt")
    with pytest.raises(RejectedError, match="gone.png"):
        make(x_server.base_url, tmp=tmp_path).publish(post(media=(item,)))
    assert x_server.requests() == []


# ---- faults: right exception, one request, no retry, no secret

TWEETS, UPLOAD, PROFILE = "/2/tweets", "/2/media/upload", "/1.1/account/update_profile.json"

FAULTS = [
    # kind, path faulted, call, expected class, expected text
    (fx.RATE_LIMITED, TWEETS, "publish", RateLimited, "HTTP 429"),
    (fx.RATE_LIMITED_NO_RESET, TWEETS, "publish", RateLimited, "HTTP 429"),
    (fx.SERVER_ERROR, TWEETS, "publish", TransientError, "HTTP 500"),
    (fx.UNAVAILABLE, TWEETS, "publish", TransientError, "HTTP 503"),
    (fx.UNAVAILABLE, UPLOAD, "publish", TransientError, "HTTP 503"),
    (fx.UNAUTHORIZED, TWEETS, "publish", RejectedError, "HTTP 401 code 32: Could not authenticate"),
    (fx.UNAUTHORIZED, PROFILE, "switch", RejectedError, "HTTP 401: Unauthorized"),
    (fx.DUPLICATE, TWEETS, "publish", UncertainError, "duplicate content"),
    (fx.ACCESS_LEVEL, TWEETS, "publish", RejectedError, "code 453"),
    (fx.ACCESS_LEVEL, PROFILE, "switch", ProfileRefused, "code 453"),
    (fx.MALFORMED_JSON, TWEETS, "publish", UncertainError, "not valid JSON"),
    (fx.MALFORMED_JSON, UPLOAD, "publish", TransientError, "not valid JSON"),
    (fx.HANG, TWEETS, "publish", UncertainError, "no answer within 0.5 s"),
    (fx.HANG, UPLOAD, "publish", TransientError, "no answer within 0.5 s"),
    (fx.HANG, PROFILE, "switch", TransientError, "no answer within 0.5 s"),
    (fx.RESET_AFTER_READ, TWEETS, "publish", UncertainError, "after the request was sent"),
    # the client cannot see that the server never read its bytes: still uncertain
    (fx.RESET_BEFORE_READ, TWEETS, "publish", UncertainError, "after the request was sent"),
    (fx.RESET_BEFORE_READ, UPLOAD, "publish", TransientError, "after the request was sent"),
]


@pytest.mark.parametrize("kind, path, call, expected, text", FAULTS,
                         ids=[f"{f[0]}-{f[1]}-{f[2]}" for f in FAULTS])
def test_fault_maps_to_error(x_server, tmp_path, kind, path, call, expected, text):
    x_server.fail(kind, path=path, hang_seconds=3)
    publisher = make(x_server.base_url, tmp=tmp_path)
    with pytest.raises(PublishError) as caught:
        if call == "publish":
            publisher.publish(post(media=(MediaItem(image(tmp_path, "a.png"), "alt"),)))
        else:
            publisher.switch_persona(PERSONA)
    error = caught.value
    assert type(error) is expected
    assert text in str(error)
    assert error.__cause__ is None and error.__context__ is None
    assert_no_secret(error)
    seen = x_server.requests(path)
    assert len(seen) == (0 if kind == fx.RESET_BEFORE_READ else 1)  # no retry inside
    if path == UPLOAD:
        assert x_server.tweets() == []  # nothing posted without its image
    if kind == fx.RESET_BEFORE_READ:
        assert x_server.resets_before_read == 1


def test_rate_limit_carries_seconds_until_reset(x_server, tmp_path):
    x_server.fail(fx.RATE_LIMITED, reset_in=120)
    with pytest.raises(RateLimited) as caught:
        make(x_server.base_url, tmp=tmp_path).publish(post())
    assert 110 < caught.value.retry_after <= 120


def test_rate_limit_without_reset_header_leaves_backoff_to_the_service(x_server, tmp_path):
    x_server.fail(fx.RATE_LIMITED_NO_RESET)
    with pytest.raises(RateLimited) as caught:
        make(x_server.base_url, tmp=tmp_path).publish(post())
    assert caught.value.retry_after is None


def test_malformed_answer_to_a_profile_call_is_still_success(x_server, tmp_path):
    x_server.fail(fx.MALFORMED_JSON, path=PROFILE)
    make(x_server.base_url, tmp=tmp_path).switch_persona(PERSONA)
    assert [r.status for r in x_server.requests()] == [200]


def test_connection_refused_is_transient_and_nothing_sent(tmp_path):
    publisher = make(f"http://127.0.0.1:{unused_port()}", tmp=tmp_path)
    for action in (lambda: publisher.publish(post()), lambda: publisher.switch_persona(PERSONA)):
        with pytest.raises(TransientError, match="nothing was sent") as caught:
            action()
        assert not isinstance(caught.value, RateLimited)
        assert_no_secret(caught.value)


def test_fault_for_one_account_spares_the_other(x_server, tmp_path):
    x_server.fail(fx.SERVER_ERROR, count=5, token=NEWS_TOKEN)
    with pytest.raises(TransientError):
        make(x_server.base_url, tmp=tmp_path).publish(post("news"))
    assert make(x_server.base_url, "wire", tmp=tmp_path).publish(post("wire"))
    assert [(r.token, r.status) for r in x_server.tweets()] == [(NEWS_TOKEN, 500), (WIRE_TOKEN, 201)]


def test_no_secret_in_debug_logs(x_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    publisher = make(x_server.base_url, tmp=tmp_path)
    publisher.publish(post(media=(MediaItem(image(tmp_path, "a.png"), "alt"),)))
    publisher.switch_persona(PERSONA)
    x_server.fail(fx.UNAUTHORIZED)
    with pytest.raises(RejectedError):
        publisher.publish(post())
    assert "Making API request" in caplog.text  # tweepy's debug lines were captured
    for value in SECRETS.values():
        assert value not in caplog.text
    assert SECRETS["X_API_SECRET"] not in repr(publisher)


# ---- the fake as a separate process (for end-to-end tests)

def test_fake_runs_as_a_process_with_log_and_control(tmp_path):
    port_file, log = tmp_path / "port", tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.x_server", "--port-file", str(port_file),
         "--log", str(log)], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{int(port_file.read_text())}"
        import requests
        answer = requests.post(base + "/_control/fault", timeout=5,
                               json={"kind": "503", "path": "/2/tweets", "count": 1})
        assert answer.json() == {"ok": True}
        publisher = make(base, tmp=tmp_path)
        with pytest.raises(TransientError):
            publisher.publish(post("first try"))
        remote = publisher.publish(post("second try"))
        lines = fx.read_log(log)  # fails on any request or answer breaking X's spec
        assert [(r["json"]["text"], r["status"]) for r in lines] == [
            ("first try", 503), ("second try", 201)]
        assert lines[1]["created_id"] == remote and lines[1]["token"] == NEWS_TOKEN
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
