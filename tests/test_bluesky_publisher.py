"""BlueskyPublisher against a fake PDS, through atproto's real HTTP client."""

from __future__ import annotations

import importlib
import json
import logging
import socket
import stat
import sys
import time
import traceback
from pathlib import Path

import pytest

from bot.errors import (
    ConfigError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)
from bot.publishers import load
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona
from bot.publishers.bluesky import BlueskyPublisher
from bot.publishers.bluesky.records import link_facets, split_remote_id
from tests.fakes.bluesky_server import FakeBluesky

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
CREATE = "com.atproto.repo.createRecord"
PERSONA = Persona("wire", "The Wire", "News as it came in")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def pds():
    with FakeBluesky() as server:
        yield server


def make(pds: FakeBluesky, state: Path, key: str = "le-temps", **extra: str) -> BlueskyPublisher:
    account = "LE_TEMPS" if key == "le-temps" else key.upper()
    env = {
        f"BLUESKY_{account}_HANDLE": pds.handle,
        f"BLUESKY_{account}_APP_PASSWORD": pds.password,
        f"BLUESKY_{account}_SERVICE": pds.base_url,
        "BLUESKY_TIMEOUT": "1",
        **extra,
    }
    return BlueskyPublisher(
        AccountSettings(key, ("bluesky",)), env=env, feed_dir=state, state_dir=state
    )


def post(text: str = "hello", **kwargs) -> OutgoingPost:
    return OutgoingPost(
        entry_id=kwargs.pop("entry_id", "e1"), account="le-temps", network="bluesky",
        text=text, persona=PERSONA, **kwargs,
    )


def created(pds: FakeBluesky, collection: str = POST) -> list[dict]:
    return [r.json for r in pds.calls(CREATE) if r.json["collection"] == collection]


def assert_no_secret(exc: BaseException, pds: FakeBluesky) -> None:
    text = "".join(traceback.format_exception(exc))
    for secret in [pds.password, *pds.issued]:
        assert secret not in text


# -- registration and configuration -------------------------------------------


def test_registered_under_its_name():
    assert load("bluesky") is BlueskyPublisher
    assert (BlueskyPublisher.limits.text, BlueskyPublisher.limits.text_bytes) == (300, 3000)


def test_required_credentials_follow_the_contract():
    assert BlueskyPublisher.required_credentials("le-temps") == [
        "BLUESKY_LE_TEMPS_HANDLE",
        "BLUESKY_LE_TEMPS_APP_PASSWORD",
    ]


def test_missing_credentials_are_named_without_a_network_call(pds, tmp_path):
    with pytest.raises(ConfigError, match="le-temps' on bluesky lacks BLUESKY_LE_TEMPS_APP_PASSWORD$"):
        BlueskyPublisher(
            AccountSettings("le-temps", ("bluesky",)),
            env={"BLUESKY_LE_TEMPS_HANDLE": "x.test"},
            feed_dir=tmp_path, state_dir=tmp_path,
        )
    assert pds.requests == []


def test_timeout_defaults_to_30_s_and_rejects_nonsense(pds, tmp_path):
    env = {"BLUESKY_TIMEOUT": ""}
    assert make(pds, tmp_path, **env).timeout == 30.0
    with pytest.raises(ConfigError, match="BLUESKY_TIMEOUT"):
        make(pds, tmp_path, BLUESKY_TIMEOUT="soon")


def test_without_atproto_the_facts_load_and_building_gives_an_install_hint(monkeypatch, tmp_path):
    """`bot check` reads Bluesky's limits without atproto; an account needs it, and says how to get it."""
    monkeypatch.setitem(sys.modules, "atproto_client", None)
    monkeypatch.delitem(sys.modules, "bot.publishers.bluesky.api", raising=False)
    cls = importlib.import_module("bot.publishers.bluesky").BlueskyPublisher
    assert cls.limits.text == 300
    env = {"BLUESKY_LE_TEMPS_HANDLE": "x.test", "BLUESKY_LE_TEMPS_APP_PASSWORD": "pw-123456"}
    with pytest.raises(ImportError, match=r"pip install 'anniversary-bot\[bluesky\]'"):
        cls(AccountSettings("le-temps", ("bluesky",)), env=env, feed_dir=tmp_path, state_dir=tmp_path)


# -- session ------------------------------------------------------------------


def test_logs_in_once_and_a_second_instance_reuses_the_saved_session(pds, tmp_path):
    make(pds, tmp_path).publish(post(entry_id="e1"))
    path = tmp_path / "bluesky" / "le-temps.session"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert pds.password not in path.read_text()

    make(pds, tmp_path).publish(post(entry_id="e2"))

    assert len(pds.calls("com.atproto.server.createSession")) == 1
    first, second = pds.calls(CREATE)
    assert second.auth == first.auth  # the saved access token, not a new login


def test_refused_saved_session_falls_back_to_the_password_once(pds, tmp_path):
    make(pds, tmp_path).publish(post(entry_id="e1"))
    pds.revoke_sessions()

    make(pds, tmp_path).publish(post(entry_id="e2"))

    assert len(pds.calls("com.atproto.server.createSession")) == 2
    assert [c.auth in pds.access_tokens for c in pds.calls(CREATE)] == [False, False, True]
    assert len([k for k in pds.records if k[0] == POST]) == 2  # the refused call created nothing
    saved = json.loads((tmp_path / "bluesky" / "le-temps.session").read_text())["session"]
    assert pds.calls(CREATE)[-1].auth in saved


def test_session_near_expiry_is_refreshed_and_saved(tmp_path):
    with FakeBluesky(access_ttl=60) as pds:  # inside atproto's 15-minute refresh margin
        make(pds, tmp_path).publish(post(entry_id="e1"))
        make(pds, tmp_path).publish(post(entry_id="e2"))

        assert len(pds.calls("com.atproto.server.createSession")) == 1
        assert len(pds.calls("com.atproto.server.refreshSession")) == 2
        saved = json.loads((tmp_path / "bluesky" / "le-temps.session").read_text())["session"]
        assert pds.calls(CREATE)[-1].auth in saved


def test_a_session_saved_for_another_handle_is_not_used(pds, tmp_path):
    make(pds, tmp_path).publish(post(entry_id="e1"))
    path = tmp_path / "bluesky" / "le-temps.session"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps(dict(saved, handle="someone.else")))

    make(pds, tmp_path).publish(post(entry_id="e2"))

    assert len(pds.calls("com.atproto.server.createSession")) == 2


# -- posts ------------------------------------------------------------------------


def test_url_after_emoji_and_cjk_gets_a_facet_at_utf8_byte_offsets(pds, tmp_path):
    url = "https://fr.wikipedia.org/wiki/Paris_(ville)?a=1"
    text = f"Dépêche 🇫🇷 東京より: {url}. Suite."
    remote = make(pds, tmp_path).publish(post(text))

    record = created(pds)[0]["record"]
    (facet,) = record["facets"]
    start = text.encode().index(url.encode())
    assert facet["index"]["byteStart"] == start
    assert facet["index"]["byteEnd"] == start + len(url.encode())
    assert facet["features"][0]["uri"] == url
    assert start != text.index(url)  # the test would not catch character offsets otherwise
    uri, cid = split_remote_id(remote)
    assert pds.records[(POST, uri.rsplit("/", 1)[1])][0] == cid


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("no link here", []),
        ("(see https://a.org/x)", ["https://a.org/x"]),
        ("two: http://a.org, https://b.org/p?q=1!", ["http://a.org", "https://b.org/p?q=1"]),
        ("https:// alone", []),
    ],
)
def test_link_facets_trim_punctuation(text, links):
    found = link_facets(text)
    assert [f["features"][0]["uri"] for f in found] == links
    for facet in found:
        index = facet["index"]
        assert text.encode()[index["byteStart"] : index["byteEnd"]].decode() == facet["features"][0]["uri"]


def test_image_is_uploaded_and_embedded_with_its_alt_text(pds, tmp_path):
    image = tmp_path / "front page.png"
    image.write_bytes(PNG)

    make(pds, tmp_path).publish(post(media=(MediaItem(image, "The front page of 12 May"),)))

    (upload,) = pds.calls("com.atproto.repo.uploadBlob")
    assert upload.body == PNG and upload.content_type == "image/png"
    embed = created(pds)[0]["record"]["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    (item,) = embed["images"]
    assert item["alt"] == "The front page of 12 May"
    assert item["image"]["ref"]["$link"] in pds.blobs
    assert item["image"]["mimeType"] == "image/png"


def test_more_than_four_images_are_refused_before_any_upload(pds, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    with pytest.raises(RejectedError, match="at most 4"):
        make(pds, tmp_path).publish(post(media=(MediaItem(image),) * 5))
    assert pds.calls("com.atproto.repo.uploadBlob") == []


def test_three_post_thread_has_the_right_root_and_parent(pds, tmp_path):
    publisher = make(pds, tmp_path)
    first = publisher.publish(post("1/3", entry_id="a"))
    second = publisher.publish(post("2/3", entry_id="b", reply_to_remote=first, thread_root_remote=first))
    publisher.publish(post("3/3", entry_id="c", reply_to_remote=second, thread_root_remote=first))

    records = [c["record"] for c in created(pds)]
    ref = lambda remote: dict(zip(("uri", "cid"), split_remote_id(remote)))  # noqa: E731
    strip = lambda r: {k: r[k] for k in ("uri", "cid")}  # noqa: E731
    assert "reply" not in records[0]
    assert strip(records[1]["reply"]["root"]) == ref(first)
    assert strip(records[1]["reply"]["parent"]) == ref(first)
    assert strip(records[2]["reply"]["root"]) == ref(first)
    assert strip(records[2]["reply"]["parent"]) == ref(second)
    assert ref(first) != ref(second)


def test_a_remote_id_without_cid_is_completed_from_the_server(pds, tmp_path):
    publisher = make(pds, tmp_path)
    parent = publisher.publish(post("top", entry_id="a"))
    uri, cid = split_remote_id(parent)

    publisher.publish(post("reply", entry_id="b", reply_to_remote=uri))

    assert created(pds)[1]["record"]["reply"]["parent"]["cid"] == cid


# -- persona --------------------------------------------------------------------


def test_persona_switch_rewrites_the_profile_swapping_on_its_cid(pds, tmp_path):
    old_avatar = {"$type": "blob", "ref": {"$link": "bafkreiold"}, "mimeType": "image/png", "size": 9}
    pinned = {"uri": pds.uri(POST, "3kpinned"), "cid": "bafyreipinned"}
    cid = pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Old", "description": "old bio",
                                    "avatar": old_avatar, "pinnedPost": pinned})
    banner = tmp_path / "banner.jpg"
    banner.write_bytes(b"\xff\xd8\xff banner")

    make(pds, tmp_path).switch_persona(Persona("tg", "The Telegraph", "Stormed at 9", banner=banner))

    (put,) = pds.calls("com.atproto.repo.putRecord")
    assert put.json["swapRecord"] == cid and put.json["rkey"] == "self"
    record = pds.records[(PROFILE, "self")][1]
    assert record["displayName"] == "The Telegraph"
    assert record["description"] == "Stormed at 9"
    assert record["banner"]["ref"]["$link"] in pds.blobs
    assert record["banner"]["mimeType"] == "image/jpeg"
    assert record["avatar"]["ref"] == old_avatar["ref"]  # not named by the persona: kept
    assert record["pinnedPost"]["uri"] == pinned["uri"]


def test_persona_switch_creates_the_profile_when_absent(pds, tmp_path):
    make(pds, tmp_path).switch_persona(PERSONA)

    assert pds.calls("com.atproto.repo.putRecord") == []
    (create,) = created(pds, PROFILE)
    assert create["rkey"] == "self"
    assert pds.records[(PROFILE, "self")][1]["displayName"] == "The Wire"


def test_persona_switch_rereads_after_a_concurrent_edit(pds, tmp_path):
    pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Old"})
    pds.fail("com.atproto.repo.putRecord", 400, error="InvalidSwap", message="Record was at x")

    make(pds, tmp_path).switch_persona(PERSONA)

    assert len(pds.calls("com.atproto.repo.getRecord")) == 2
    assert pds.records[(PROFILE, "self")][1]["displayName"] == "The Wire"


def test_persona_switch_gives_up_after_two_lost_swaps(pds, tmp_path):
    pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Old"})
    pds.fail("com.atproto.repo.putRecord", 400, times=2, error="InvalidSwap")

    with pytest.raises(TransientError, match="changed during the switch"):
        make(pds, tmp_path).switch_persona(PERSONA)
    assert pds.records[(PROFILE, "self")][1]["displayName"] == "Old"


# -- errors ------------------------------------------------------------------------


def test_429_is_rate_limited_until_the_reset_header(pds, tmp_path):
    publisher = make(pds, tmp_path)
    publisher.publish(post(entry_id="warm-up"))
    pds.fail(CREATE, 429, headers={"ratelimit-reset": str(int(time.time()) + 30)},
             error="RateLimitExceeded", message="Rate Limit Exceeded")

    with pytest.raises(RateLimited) as caught:
        publisher.publish(post(entry_id="e2"))

    assert 20 < caught.value.retry_after <= 30
    assert_no_secret(caught.value, pds)


def test_429_without_headers_leaves_the_wait_to_the_caller(pds, tmp_path):
    pds.fail(CREATE, 429, error="RateLimitExceeded")
    with pytest.raises(RateLimited) as caught:
        make(pds, tmp_path).publish(post())
    assert caught.value.retry_after is None


def test_timeout_after_sending_a_post_is_uncertain_and_not_retried(pds, tmp_path):
    pds.hang(CREATE, 3)
    with pytest.raises(UncertainError, match="timed out") as caught:
        make(pds, tmp_path, BLUESKY_TIMEOUT="0.3").publish(post())
    assert len(pds.calls(CREATE)) == 1
    assert_no_secret(caught.value, pds)


def test_timeout_while_uploading_an_image_is_transient(pds, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    pds.hang("com.atproto.repo.uploadBlob", 3)
    with pytest.raises(TransientError) as caught:
        make(pds, tmp_path, BLUESKY_TIMEOUT="0.3").publish(post(media=(MediaItem(image, "alt"),)))
    assert not isinstance(caught.value, UncertainError)
    assert pds.calls(CREATE) == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(pds, tmp_path, status):
    pds.fail(CREATE, status)
    with pytest.raises(TransientError) as caught:
        make(pds, tmp_path).publish(post())
    assert not isinstance(caught.value, RateLimited)
    assert str(status) in str(caught.value)
    assert_no_secret(caught.value, pds)


def test_connection_refused_is_transient(pds, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before use: nothing listens there
    publisher = make(pds, tmp_path, BLUESKY_LE_TEMPS_SERVICE=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="connection failed") as caught:
        publisher.publish(post())
    assert not isinstance(caught.value, UncertainError)
    assert_no_secret(caught.value, pds)


def test_wrong_password_is_rejected_without_echoing_it(pds, tmp_path):
    publisher = make(pds, tmp_path, BLUESKY_LE_TEMPS_APP_PASSWORD="wrong-pass-9876")
    with pytest.raises(RejectedError, match="Invalid identifier or password") as caught:
        publisher.publish(post())
    assert "wrong-pass-9876" not in "".join(traceback.format_exception(caught.value))
    assert not (tmp_path / "bluesky" / "le-temps.session").exists()


def test_invalid_record_is_rejected(pds, tmp_path):
    publisher = make(pds, tmp_path)
    publisher.publish(post(entry_id="warm-up"))
    pds.fail(CREATE, 400, error="InvalidRecord", message="Record/text must not be longer than 300 graphemes")
    with pytest.raises(RejectedError, match="300 graphemes") as caught:
        publisher.publish(post("x" * 301))
    assert_no_secret(caught.value, pds)


def test_nothing_secret_is_logged(pds, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    make(pds, tmp_path).publish(post(entry_id="e1"))
    pds.revoke_sessions()
    publisher = make(pds, tmp_path)
    publisher.publish(post(entry_id="e2"))
    publisher.switch_persona(PERSONA)
    publisher.close()

    assert "logged in" in caplog.text
    for secret in [pds.password, *pds.issued]:
        assert secret not in caplog.text
