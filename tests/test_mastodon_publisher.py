"""The mastodon publisher, driving Mastodon.py's real HTTP code against a fake instance."""

from __future__ import annotations

import importlib
import socket
import sys
import traceback

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
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona, env_name
from bot.publishers.mastodon import MastodonPublisher
from bot.publishers.mastodon.api import derive_idempotency_key
from tests.fakes.mastodon_server import FakeMastodon

TOKENS = {"s3cret-alice-TOKEN-0001": "alice", "s3cret-bob-TOKEN-0002": "bob"}
ALICE_TOKEN, BOB_TOKEN = TOKENS
PERSONA = Persona(key="tg", name="The Telegraph", bio="Latest wires")
# a PNG signature and raw bytes (with CR/LF in them): nothing decodes the image
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n\n\r"


@pytest.fixture
def server():
    with FakeMastodon(tokens=TOKENS) as fake:
        yield fake


def make(server, tmp_path, key="alice", token=ALICE_TOKEN, timeout="1", **options):
    name = env_name(key)
    env = {
        f"MASTODON_{name}_BASE_URL": server.base_url,
        f"MASTODON_{name}_ACCESS_TOKEN": token,
        "MASTODON_TIMEOUT": timeout,
    }
    account = AccountSettings(key=key, platforms=("mastodon",), options=options)
    return MastodonPublisher(account, env=env, feed_dir=tmp_path, state_dir=tmp_path)


def post(entry_id="e1", text="Fort Douaumont has fallen.", account="alice", **kw):
    return OutgoingPost(
        entry_id=entry_id, account=account, network="mastodon", text=text, persona=PERSONA, **kw
    )


def image(tmp_path, name="map.png", data=PNG):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    for token in TOKENS:
        assert token not in text
    assert "Bearer" not in text


# -- posting ---------------------------------------------------------------------


def test_a_post_is_published_with_the_account_token_and_visibility(server, tmp_path):
    publisher = make(server, tmp_path, visibility="unlisted")
    remote_id = publisher.publish(post(text="Verdun: heavy shelling since dawn."))

    assert [s["id"] for s in server.statuses] == [remote_id]
    (sent,) = server.requests_to("POST", "/api/v1/statuses")
    assert sent.token == ALICE_TOKEN
    assert sent.field("status") == "Verdun: heavy shelling since dawn."
    assert sent.field("visibility") == "unlisted"
    assert sent.field("in_reply_to_id") is None
    assert sent.idempotency_key == derive_idempotency_key("e1", "alice", "mastodon")


def test_visibility_defaults_to_public(server, tmp_path):
    make(server, tmp_path).publish(post())
    assert server.statuses[0]["visibility"] == "public"


def test_a_reply_carries_the_parent_remote_id(server, tmp_path):
    publisher = make(server, tmp_path)
    parent = publisher.publish(post("e1"))
    child = publisher.publish(post("e2", text="More news.", reply_to_remote=parent))

    assert child != parent
    assert server.requests_to("POST", "/api/v1/statuses")[1].field("in_reply_to_id") == parent
    assert server.statuses[1]["in_reply_to_id"] == parent


def test_an_image_is_uploaded_with_its_alt_text_then_attached(server, tmp_path):
    path = image(tmp_path)
    publisher = make(server, tmp_path)
    publisher.publish(post(media=(MediaItem(path, alt="Map of the front, 21 Feb 1916"),)))

    (upload,) = server.requests_to("POST", "/api/v2/media")
    assert upload.token == ALICE_TOKEN
    assert upload.field("description") == "Map of the front, 21 Feb 1916"
    assert upload.files["file"].data == PNG
    assert upload.files["file"].content_type == "image/png"
    (media_id,) = server.media
    (status_request,) = server.requests_to("POST", "/api/v1/statuses")
    assert status_request.form["media_ids[]"] == [media_id]
    order = [r.path for r in server.requests if r.method == "POST"]
    assert order == ["/api/v2/media", "/api/v1/statuses"]
    assert server.statuses[0]["media_attachments"][0]["description"].startswith("Map of")


def test_several_images_keep_their_order_and_alt_texts(server, tmp_path):
    items = tuple(
        MediaItem(image(tmp_path, f"p{i}.jpg", PNG + bytes([i])), alt=f"photo {i}") for i in range(3)
    )
    make(server, tmp_path).publish(post(media=items))

    uploads = server.requests_to("POST", "/api/v2/media")
    assert [u.field("description") for u in uploads] == ["photo 0", "photo 1", "photo 2"]
    assert [u.files["file"].content_type for u in uploads] == ["image/jpeg"] * 3
    attached = server.requests_to("POST", "/api/v1/statuses")[0].form["media_ids[]"]
    assert attached == list(server.media)


def test_a_missing_image_is_rejected_before_anything_is_sent(server, tmp_path):
    publisher = make(server, tmp_path)
    with pytest.raises(RejectedError, match="gone.png"):
        publisher.publish(post(media=(MediaItem(tmp_path / "gone.png", alt="x"),)))
    assert server.requests == []


def test_each_account_uses_its_own_token(server, tmp_path):
    alice = make(server, tmp_path, "alice", ALICE_TOKEN)
    bob = make(server, tmp_path, "bob-2", BOB_TOKEN)
    bob.publish(post("e1", account="bob-2"))
    alice.publish(post("e1"))

    tokens = [r.token for r in server.requests_to("POST", "/api/v1/statuses")]
    assert tokens == [BOB_TOKEN, ALICE_TOKEN]
    assert [s["account"]["username"] for s in server.statuses] == ["bob", "alice"]


# -- idempotency ------------------------------------------------------------------


def test_the_idempotency_key_is_stable_per_entry_account_and_network():
    key = derive_idempotency_key("e1", "alice", "mastodon")
    assert key == derive_idempotency_key("e1", "alice", "mastodon")
    others = {
        derive_idempotency_key("e2", "alice", "mastodon"),
        derive_idempotency_key("e1", "bob", "mastodon"),
        derive_idempotency_key("e1", "alice", "bluesky"),
    }
    assert key not in others and len(others) == 3
    assert key.isascii() and " " not in key


def test_the_post_key_from_the_service_wins(server, tmp_path):
    make(server, tmp_path).publish(post(idempotency_key="ledger-key-17"))
    assert server.requests[-1].idempotency_key == "ledger-key-17"


def test_a_post_retried_after_a_timeout_exists_once(server, tmp_path):
    publisher = make(server, tmp_path, timeout="0.5")
    server.fail("POST", "/api/v1/statuses", hang=True, after_effect=True)

    with pytest.raises(UncertainError) as caught:
        publisher.publish(post())
    assert "0.5 s" in str(caught.value)
    assert len(server.statuses) == 1  # the instance did create it

    server.release()
    remote_id = publisher.publish(post())

    assert remote_id == server.statuses[0]["id"]
    assert len(server.statuses) == 1
    keys = {r.idempotency_key for r in server.requests_to("POST", "/api/v1/statuses")}
    assert keys == {derive_idempotency_key("e1", "alice", "mastodon")}


def test_a_dropped_connection_after_sending_is_uncertain(server, tmp_path):
    server.fail("POST", "/api/v1/statuses", drop=True, after_effect=True)
    with pytest.raises(UncertainError, match="connection broke"):
        make(server, tmp_path).publish(post())


# -- persona ---------------------------------------------------------------------


def test_a_persona_switch_sets_name_bio_avatar_and_header(server, tmp_path):
    avatar = image(tmp_path, "avatar.png")
    header = image(tmp_path, "header.jpg", PNG[::-1])
    persona = Persona("tg", "The Telegraph", "Wires from the front", avatar=avatar, banner=header)
    make(server, tmp_path).switch_persona(persona)

    (sent,) = server.requests_to("PATCH", "/api/v1/accounts/update_credentials")
    assert sent.token == ALICE_TOKEN
    assert sent.field("display_name") == "The Telegraph"
    assert sent.field("note") == "Wires from the front"
    assert sent.files["avatar"].data == PNG
    assert sent.files["avatar"].content_type == "image/png"
    assert sent.files["header"].data == PNG[::-1]
    assert sent.files["header"].content_type == "image/jpeg"
    assert server.profiles[ALICE_TOKEN]["display_name"] == "The Telegraph"


def test_a_persona_without_images_sends_only_name_and_bio(server, tmp_path):
    make(server, tmp_path).switch_persona(Persona("p", "Plain", ""))
    (sent,) = server.requests_to("PATCH", "/api/v1/accounts/update_credentials")
    assert sent.field("display_name") == "Plain"
    assert sent.field("note") == ""  # an empty bio clears the previous one
    assert sent.files == {}


def test_a_forbidden_profile_change_is_profile_refused(server, tmp_path):
    server.fail(
        "PATCH",
        "/api/v1/accounts/update_credentials",
        status=403,
        error="This action is outside the authorized scopes",
    )
    with pytest.raises(ProfileRefused, match="outside the authorized scopes"):
        make(server, tmp_path).switch_persona(PERSONA)


def test_a_lost_persona_answer_is_only_transient(server, tmp_path):
    server.fail("PATCH", "/api/v1/accounts/update_credentials", hang=True)
    with pytest.raises(TransientError) as caught:
        make(server, tmp_path, timeout="0.5").switch_persona(PERSONA)
    assert not isinstance(caught.value, UncertainError)


# -- errors ----------------------------------------------------------------------


def test_429_is_rate_limited_with_the_reset_wait_and_no_blocking(server, tmp_path):
    server.fail("POST", "/api/v1/statuses", status=429, reset_in=120)
    with pytest.raises(RateLimited) as caught:
        make(server, tmp_path).publish(post())
    assert 100 < caught.value.retry_after <= 121
    assert len(server.requests_to("POST", "/api/v1/statuses")) == 1  # Mastodon.py did not retry
    assert server.statuses == []


def test_429_without_reset_header_leaves_the_wait_to_the_service(server, tmp_path):
    server.fail("POST", "/api/v1/statuses", status=429)
    with pytest.raises(RateLimited) as caught:
        make(server, tmp_path).publish(post())
    assert caught.value.retry_after is None


def test_429_on_an_upload_is_rate_limited_too(server, tmp_path):
    server.fail("POST", "/api/v2/media", status=429, reset_in=60)
    with pytest.raises(RateLimited):
        make(server, tmp_path).publish(post(media=(MediaItem(image(tmp_path), "alt"),)))
    assert server.statuses == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(server, tmp_path, status):
    server.fail("POST", "/api/v1/statuses", status=status)
    with pytest.raises(TransientError) as caught:
        make(server, tmp_path).publish(post())
    assert type(caught.value) is TransientError
    assert f"HTTP {status}" in str(caught.value)


def test_a_wrong_token_is_rejected_with_the_server_message(server, tmp_path):
    with pytest.raises(RejectedError, match="HTTP 401: The access token is invalid"):
        make(server, tmp_path, token="not-a-known-token").publish(post())


def test_a_too_long_post_is_rejected_with_the_server_message(server, tmp_path):
    with pytest.raises(RejectedError, match="HTTP 422: .*character limit of 500"):
        make(server, tmp_path).publish(post(text="x" * 501))


def test_a_timeout_on_an_upload_is_transient_not_uncertain(server, tmp_path):
    server.fail("POST", "/api/v2/media", hang=True)
    with pytest.raises(TransientError) as caught:
        make(server, tmp_path, timeout="0.5").publish(post(media=(MediaItem(image(tmp_path)),)))
    assert type(caught.value) is TransientError
    assert server.requests_to("POST", "/api/v1/statuses") == []


def test_a_refused_connection_is_transient(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "MASTODON_ALICE_BASE_URL": f"http://127.0.0.1:{port}",
        "MASTODON_ALICE_ACCESS_TOKEN": ALICE_TOKEN,
    }
    publisher = MastodonPublisher(
        AccountSettings("alice", ("mastodon",)), env=env, feed_dir=tmp_path, state_dir=tmp_path
    )
    with pytest.raises(TransientError, match="could not connect to 127.0.0.1") as caught:
        publisher.publish(post())
    assert type(caught.value) is TransientError
    assert_no_secret(caught.value)


def test_no_exception_text_contains_a_secret(server, tmp_path):
    """Every failure kind, including a server that echoes the token back."""
    errors: list[PublishError] = []
    publisher = make(server, tmp_path, timeout="0.5")
    faults = [
        dict(status=429, reset_in=5),
        dict(status=500),
        dict(status=401),
        dict(status=422, error=f"token {ALICE_TOKEN} is not allowed"),
        dict(hang=True),
        dict(drop=True),
    ]
    for fault in faults:
        server.fail("POST", "/api/v1/statuses", **fault)
        with pytest.raises(PublishError) as caught:
            publisher.publish(post())
        errors.append(caught.value)
    with pytest.raises(PublishError) as caught:
        make(server, tmp_path, token=BOB_TOKEN + "x").switch_persona(PERSONA)
    errors.append(caught.value)

    assert [type(e) for e in errors] == [
        RateLimited,
        TransientError,
        RejectedError,
        RejectedError,
        UncertainError,
        UncertainError,
        RejectedError,
    ]
    assert "***" in str(errors[3])  # the echoed token was masked
    for error in errors:
        assert_no_secret(error)
        assert error.__cause__ is None


# -- configuration ---------------------------------------------------------------


def test_required_credentials_follow_the_contract():
    assert MastodonPublisher.required_credentials("the-times") == [
        "MASTODON_THE_TIMES_BASE_URL",
        "MASTODON_THE_TIMES_ACCESS_TOKEN",
    ]
    env = {"MASTODON_THE_TIMES_BASE_URL": "https://example.social"}
    assert MastodonPublisher.missing_credentials("the-times", env) == [
        "MASTODON_THE_TIMES_ACCESS_TOKEN"
    ]


def test_missing_credentials_are_a_config_error_naming_them(tmp_path):
    with pytest.raises(ConfigError, match="MASTODON_ALICE_ACCESS_TOKEN"):
        MastodonPublisher(
            AccountSettings("alice", ("mastodon",)),
            env={"MASTODON_ALICE_BASE_URL": "https://example.social"},
            feed_dir=tmp_path,
            state_dir=tmp_path,
        )


@pytest.mark.parametrize(
    ("options", "timeout", "message"),
    [({"visibility": "loud"}, "1", "visibility"), ({}, "soon", "MASTODON_TIMEOUT"), ({}, "-1", "MASTODON_TIMEOUT")],
)
def test_bad_settings_are_config_errors(server, tmp_path, options, timeout, message):
    with pytest.raises(ConfigError, match=message):
        make(server, tmp_path, timeout=timeout, **options)


def test_without_mastodon_py_the_facts_load_and_building_gives_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mastodon", None)  # makes `import mastodon` fail
    monkeypatch.delitem(sys.modules, "bot.publishers.mastodon.api", raising=False)
    cls = importlib.import_module("bot.publishers.mastodon").MastodonPublisher
    assert cls.limits_for({"max_chars": 1000}).text == 1000
    env = {"MASTODON_T_BASE_URL": "http://127.0.0.1:9", "MASTODON_T_ACCESS_TOKEN": "tok-123456"}
    with pytest.raises(ImportError, match=r"pip install 'anniversary-bot\[mastodon\]'"):
        cls(AccountSettings("t", ("mastodon",)), env=env, feed_dir=tmp_path, state_dir=tmp_path)


@pytest.mark.slow
def test_an_upload_processed_later_is_waited_for(tmp_path):
    """Mastodon.py polls GET /api/v1/media/:id after a 202 (it sleeps 5 s per poll)."""
    with FakeMastodon(tokens=TOKENS, async_media=True) as fake:
        make(fake, tmp_path, timeout="2").publish(post(media=(MediaItem(image(tmp_path), "a"),)))
        (media_id,) = fake.media
        assert fake.requests_to("GET", f"/api/v1/media/{media_id}")
        assert fake.requests_to("POST", "/api/v1/statuses")[0].form["media_ids[]"] == [media_id]
