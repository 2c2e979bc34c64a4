"""Mastodon's part in convergence: `reconcile` (an uncertain post found, or proved
absent, on the instance), `profile()` and the profile `switch_persona` returns.

Everything goes through Mastodon.py's real HTTP code to the fake instance of
tests/fakes, whose clock the tests move (no test waits for an idempotency key
to expire).
"""

from __future__ import annotations

import socket
import traceback
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import RateLimited, RejectedError, TransientError, UncertainError
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona, env_name
from bot.publishers.mastodon import MastodonPublisher
from bot.publishers.mastodon.api import KEY_WINDOW, LOOKUP_PAGES, PAGE_SIZE, derive_idempotency_key
from bot.publishers.mastodon.content import same_text, status_text
from tests.fakes.mastodon_server import FakeMastodon, render_text
from tests.support.examples import examples

TOKENS = {"s3cret-alice-TOKEN-0001": "alice", "s3cret-bob-TOKEN-0002": "bob"}
ALICE_TOKEN, BOB_TOKEN = TOKENS
PERSONA = Persona(key="tg", name="The Telegraph", bio="Latest wires")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
T0 = datetime(2027, 2, 21, 7, 15, tzinfo=UTC)  # the claim
STATUSES = ("POST", "/api/v1/statuses")
UPLOADS = ("POST", "/api/v2/media")

# what a feed entry may say: a long URL with & in its query, escapes, line breaks,
# a blank line, a hashtag, a remote mention, emoji
RICH = (
    "Verdun & Douaumont: <heavy> \"shelling\" since dawn 💥🇫🇷\n"
    "Map: https://example.org/archive/1916/02/21/front-line.png?zoom=3&layer=forts\n"
    "\n"
    "More soon #WW1 via @wire@news.example"
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def server(clock):
    with FakeMastodon(tokens=TOKENS, clock=clock) as fake:
        yield fake


def make(server, tmp_path, key="alice", token=ALICE_TOKEN, timeout="1"):
    name = env_name(key)
    env = {
        f"MASTODON_{name}_BASE_URL": server.base_url,
        f"MASTODON_{name}_ACCESS_TOKEN": token,
        "MASTODON_TIMEOUT": timeout,
    }
    account = AccountSettings(key=key, platforms=("mastodon",))
    return MastodonPublisher(account, env=env, feed_dir=tmp_path, state_dir=tmp_path)


def post(entry_id="e1", text="Fort Douaumont has fallen.", **kw):
    kw.setdefault("idempotency_key", f"{entry_id}|alice|mastodon")
    return OutgoingPost(entry_id=entry_id, account="alice", network="mastodon", text=text,
                        persona=PERSONA, scheduled=T0, **kw)


def image(tmp_path, name="map.png", data=PNG):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def lost(server, publisher, outgoing, *, made: bool, how: str = "drop"):
    """Publish `outgoing` and lose the answer: `made` says whether the instance made it."""
    before = len(server.statuses)
    server.fail(*STATUSES, after_effect=made, **{how: True})
    with pytest.raises(UncertainError):
        publisher.publish(outgoing)
    server.release()
    assert len(server.statuses) == before + (1 if made else 0)


def assert_no_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc))
    for token in TOKENS:
        assert token not in text
    assert "Bearer" not in text


# -- within the key's hour: the same request again ------------------------------------


@pytest.mark.parametrize("how", ["drop", "hang"])
def test_a_lost_answer_is_settled_by_the_same_request_within_the_hour(server, clock, tmp_path, how):
    publisher = make(server, tmp_path, timeout="0.5")
    lost(server, publisher, post(), made=True, how=how)
    (original,) = server.statuses

    clock.now = T0 + timedelta(minutes=20)
    found = publisher.reconcile(post(), T0, clock.now)

    assert (found.state, found.remote_id) == ("posted", original["id"])
    assert server.statuses == [original]  # nothing made twice
    sent = server.requests_to(*STATUSES)
    assert len(sent) == 2 and {r.idempotency_key for r in sent} == {"e1|alice|mastodon"}


def test_within_the_hour_a_post_never_made_is_made_once(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(), made=False)

    clock.now = T0 + timedelta(minutes=5)
    first = publisher.reconcile(post(), T0, clock.now)
    clock.now += timedelta(minutes=5)
    again = publisher.reconcile(post(), T0, clock.now)  # asked twice: still one status

    (status,) = server.statuses
    assert (first.state, first.remote_id) == ("posted", status["id"])
    assert again == first
    assert status["text"] == "Fort Douaumont has fallen."


def test_past_its_grace_a_post_never_made_is_not_sent_even_within_the_hour(server, clock, tmp_path):
    """The core says may_send=False once the post is past its grace: only the lookup, no re-send."""
    publisher = make(server, tmp_path)
    lost(server, publisher, post(), made=False)
    clock.now = T0 + timedelta(minutes=5)
    found = publisher.reconcile(post(), T0, clock.now, may_send=False)
    assert found.state == "absent" and server.statuses == []
    lost(server, publisher, post("e2", "Made before the answer was lost."), made=True)
    found = publisher.reconcile(post("e2", "Made before the answer was lost."), T0, clock.now, may_send=False)
    (status,) = server.statuses
    assert (found.state, found.remote_id) == ("posted", status["id"])


def test_the_key_non_ascii_entry_ids_get_is_the_one_publish_sent(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    outgoing = post("штурм", idempotency_key="штурм|alice|mastodon")
    lost(server, publisher, outgoing, made=True)
    found = publisher.reconcile(outgoing, T0, T0 + timedelta(minutes=1))
    assert found.remote_id == server.statuses[0]["id"] and len(server.statuses) == 1
    keys = {r.idempotency_key for r in server.requests_to(*STATUSES)}
    assert keys == {derive_idempotency_key("штурм", "alice", "mastodon")}


def test_a_reply_is_answered_by_its_original_within_the_hour(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    parent = publisher.publish(post("e0", text="Parent."))
    reply = post("e1", text="Reply.", reply_to_remote=parent)
    server.fail(*STATUSES, drop=True, after_effect=True)
    with pytest.raises(UncertainError):
        publisher.publish(reply)
    made = server.statuses[-1]
    found = publisher.reconcile(reply, T0, T0 + timedelta(minutes=30))
    assert found.remote_id == made["id"] and len(server.statuses) == 2
    assert made["in_reply_to_id"] == parent


def test_a_post_with_images_is_looked_for_before_uploading_them_again(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    outgoing = post(media=(MediaItem(image(tmp_path), alt="Map of the front"),))
    lost(server, publisher, outgoing, made=True)

    found = publisher.reconcile(outgoing, T0, T0 + timedelta(minutes=10))

    assert found.remote_id == server.statuses[0]["id"]
    assert len(server.requests_to(*UPLOADS)) == 1  # no upload left unattached
    assert len(server.requests_to(*STATUSES)) == 1


def test_a_post_with_images_never_made_is_uploaded_and_made_within_the_hour(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    outgoing = post(media=(MediaItem(image(tmp_path), alt="Map of the front"),))
    lost(server, publisher, outgoing, made=False)

    found = publisher.reconcile(outgoing, T0, T0 + timedelta(minutes=10))

    (status,) = server.statuses
    assert found.remote_id == status["id"]
    assert [m["description"] for m in status["media_attachments"]] == ["Map of the front"]
    assert len(server.requests_to(*UPLOADS)) == 2  # the lost request's and the re-send's


def test_the_instance_answers_a_repeated_key_with_the_original_whatever_else_is_sent(server, tmp_path):
    """What the fake copies from PostStatusService, which the re-send relies on."""
    publisher = make(server, tmp_path)
    first = publisher.publish(post(text="The original."))
    second = publisher.publish(post(text="Another text, with an image.",
                                    media=(MediaItem(image(tmp_path)),)))
    assert second == first and [s["text"] for s in server.statuses] == ["The original."]
    assert server.statuses[0]["media_attachments"] == []  # the new upload stays unattached
    bob = make(server, tmp_path, "bob", BOB_TOKEN)  # keys are kept per account
    assert bob.publish(post(text="Bob's.")) != first and len(server.statuses) == 2


def test_a_status_deleted_since_cannot_be_told(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(), made=True)
    server.delete_status(server.statuses[0]["id"])
    found = publisher.reconcile(post(), T0, T0 + timedelta(minutes=10))
    assert found.state == "unknown" and found.final
    assert "404" in found.reason and server.statuses == []


def test_a_re_send_refused_by_validation_proves_nothing_stands_under_the_key(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(), made=False)
    server.fail(*STATUSES, status=422, error="Validation failed: Text can't be blank")
    found = publisher.reconcile(post(), T0, T0 + timedelta(minutes=10))
    assert found.state == "absent" and "422" in found.reason


# -- past the key's hour: the account's own statuses ---------------------------------


def test_past_the_hour_the_post_is_found_among_the_account_statuses_by_its_text(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    server.add_status(ALICE_TOKEN, RICH, created_at=T0 - timedelta(days=365))  # a year ago: another post
    lost(server, publisher, post(text=RICH), made=True)
    made = server.statuses[-1]
    for minute in range(1, 8):  # later statuses, newer than the post
        server.add_status(ALICE_TOKEN, f"Update {minute}.", created_at=T0 + timedelta(minutes=minute))
    server.add_status(BOB_TOKEN, RICH, created_at=T0 + timedelta(minutes=1))  # another account's

    clock.now = T0 + timedelta(hours=3)  # the key has expired on the instance
    found = publisher.reconcile(post(text=RICH), T0, clock.now)

    assert (found.state, found.remote_id) == ("posted", made["id"])
    assert len(server.requests_to(*STATUSES)) == 1  # looked up, not re-sent
    assert len(server.statuses) == 10
    # the match went through Mastodon's HTML, not the plain text
    assert "&amp;" in made["content"] and "<br />" in made["content"] and "invisible" in made["content"]


def test_past_the_hour_a_post_never_made_is_absent(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(text=RICH), made=False)
    server.add_status(ALICE_TOKEN, "Something else.", created_at=T0 + timedelta(minutes=2))
    found = publisher.reconcile(post(text=RICH), T0, T0 + timedelta(hours=2))
    assert found.state == "absent"
    assert len(server.requests_to(*STATUSES)) == 1  # the lost request only: nothing re-sent
    assert len(server.statuses) == 1


def test_the_window_edge_decides_between_re_sending_and_looking(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(), made=False)
    assert publisher.reconcile(post(), T0, T0 + KEY_WINDOW).state == "absent"  # looked: nothing sent
    assert len(server.statuses) == 0
    found = publisher.reconcile(post(), T0, T0 + KEY_WINDOW - timedelta(seconds=1))  # re-sent
    assert found.state == "posted" and len(server.statuses) == 1


def test_the_same_text_posted_hours_after_the_claim_is_another_post(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    lost(server, publisher, post(text="Extra edition!"), made=False)
    server.add_status(ALICE_TOKEN, "Extra edition!", created_at=T0 + timedelta(hours=4))
    found = publisher.reconcile(post(text="Extra edition!"), T0, T0 + timedelta(hours=5))
    assert found.state == "absent"


def test_a_reply_prefers_the_status_replying_to_its_parent(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    parent = server.add_status(ALICE_TOKEN, "Parent.", created_at=T0 - timedelta(hours=1))["id"]
    server.add_status(ALICE_TOKEN, "More.", created_at=T0)  # same text, no parent
    reply = server.add_status(ALICE_TOKEN, "More.", created_at=T0 + timedelta(seconds=2), in_reply_to_id=parent)
    found = publisher.reconcile(post(text="More.", reply_to_remote=parent), T0, T0 + timedelta(hours=2))
    assert found.remote_id == reply["id"]


def test_the_lookup_pages_through_the_statuses_until_the_claim(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    made = server.add_status(ALICE_TOKEN, "Deep in the list.", created_at=T0 + timedelta(seconds=5))
    for i in range(PAGE_SIZE + 10):
        server.add_status(ALICE_TOKEN, f"Later {i}.", created_at=T0 + timedelta(minutes=1, seconds=i))
    found = publisher.reconcile(post(text="Deep in the list."), T0, T0 + timedelta(hours=2))
    assert found.remote_id == made["id"]
    pages = [r for r in server.requests if r.method == "GET" and r.path.endswith("/statuses")]
    newest_first = sorted(server.statuses, key=lambda s: int(s["id"]), reverse=True)
    # newest first, each page older than the last one's oldest, until the list ends
    assert [p.field("max_id") for p in pages] == [None, newest_first[PAGE_SIZE - 1]["id"], made["id"]]
    assert all(p.field("limit") == str(PAGE_SIZE) for p in pages)


def test_an_older_status_ends_the_lookup(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    for i in range(PAGE_SIZE * 3):  # long before the claim
        server.add_status(ALICE_TOKEN, f"Old {i}.", created_at=T0 - timedelta(days=2, minutes=-i))
    server.add_status(ALICE_TOKEN, "Recent.", created_at=T0 + timedelta(minutes=3))
    found = publisher.reconcile(post(text="Not there."), T0, T0 + timedelta(hours=2))
    assert found.state == "absent" and "1 statuses" in found.reason
    pages = [r for r in server.requests if r.method == "GET" and r.path.endswith("/statuses")]
    assert len(pages) == 1


def test_too_many_statuses_since_the_claim_cannot_be_told(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    for i in range(PAGE_SIZE * LOOKUP_PAGES + 1):
        server.add_status(ALICE_TOKEN, f"Busy {i}.", created_at=T0 + timedelta(seconds=i))
    found = publisher.reconcile(post(text="Not there."), T0, T0 + timedelta(hours=2))
    assert found.state == "unknown" and found.final
    pages = [r for r in server.requests if r.method == "GET" and r.path.endswith("/statuses")]
    assert len(pages) == LOOKUP_PAGES


def test_a_status_with_other_images_is_not_the_post(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    server.add_status(ALICE_TOKEN, "The map.", created_at=T0 + timedelta(seconds=1))  # no image
    outgoing = post(text="The map.", media=(MediaItem(image(tmp_path)),))
    assert publisher.reconcile(outgoing, T0, T0 + timedelta(hours=2)).state == "absent"


# -- lookup failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "fault", "elapsed"),
    [
        ("GET", "/api/v1/accounts/verify_credentials", {"status": 503}, timedelta(hours=2)),
        ("GET", "/api/v1/accounts/:id/statuses", {"drop": True}, timedelta(hours=2)),
        ("GET", "/api/v1/accounts/:id/statuses", {"hang": True}, timedelta(hours=2)),
        ("POST", "/api/v1/statuses", {"drop": True, "after_effect": True}, timedelta(minutes=10)),
        ("POST", "/api/v1/statuses", {"hang": True}, timedelta(minutes=10)),
        ("POST", "/api/v1/statuses", {"status": 503, "error": "There was a temporary problem"}, timedelta(minutes=10)),
    ],
)
def test_a_failed_lookup_is_transient_and_asked_again(server, clock, tmp_path, method, path, fault, elapsed):
    publisher = make(server, tmp_path, timeout="0.5")
    lost(server, publisher, post(), made=True)
    path = path.replace(":id", server.account_id(ALICE_TOKEN))
    server.fail(method, path, **fault)
    with pytest.raises(TransientError) as caught:
        publisher.reconcile(post(), T0, T0 + elapsed)
    assert type(caught.value) is TransientError  # not uncertain: only the lookup failed
    assert_no_secret(caught.value)
    server.release()
    found = publisher.reconcile(post(), T0, T0 + elapsed)  # asked again, it settles
    assert found.state == "posted" and len(server.statuses) == 1


def test_a_rate_limited_lookup_says_when_to_ask_again(server, clock, tmp_path):
    publisher = make(server, tmp_path)
    server.fail("GET", "/api/v1/accounts/verify_credentials", status=429, reset_in=90)
    with pytest.raises(RateLimited) as caught:
        publisher.reconcile(post(), T0, T0 + timedelta(hours=2))
    assert 60 < caught.value.retry_after <= 91


def test_an_unreachable_instance_is_transient(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"MASTODON_ALICE_BASE_URL": f"http://127.0.0.1:{port}", "MASTODON_ALICE_ACCESS_TOKEN": ALICE_TOKEN}
    publisher = MastodonPublisher(AccountSettings("alice", ("mastodon",)), env=env,
                                  feed_dir=tmp_path, state_dir=tmp_path)
    for elapsed in (timedelta(minutes=1), timedelta(hours=2)):
        with pytest.raises(TransientError) as caught:
            publisher.reconcile(post(), T0, T0 + elapsed)
        assert_no_secret(caught.value)
    with pytest.raises(TransientError):
        publisher.profile()


def test_a_revoked_token_cannot_tell_for_good(server, clock, tmp_path):
    publisher = make(server, tmp_path, token="revoked-token-000")
    for elapsed in (timedelta(minutes=1), timedelta(hours=2)):
        found = publisher.reconcile(post(), T0, T0 + elapsed)
        assert found.state == "unknown" and found.final and "401" in found.reason
        assert "revoked-token-000" not in found.reason


# -- profile -------------------------------------------------------------------------------


def test_the_profile_read_matches_what_a_switch_returned(server, tmp_path):
    publisher = make(server, tmp_path)
    bio = "Wires from the front & the rear.\nEst. 1855: https://example.org/about-the-telegraph-and-its-history"
    switched = publisher.switch_persona(
        Persona("tg", "The Telegraph", bio, avatar=image(tmp_path, "tg.png"), banner=image(tmp_path, "b.png")))

    assert (switched.name, switched.bio) == ("The Telegraph", bio)
    assert switched.avatar and switched.avatar.startswith(server.base_url)
    assert make(server, tmp_path).profile() == switched  # a later start reads the same


def test_each_avatar_upload_is_a_new_reference(server, tmp_path):
    publisher = make(server, tmp_path)
    first = publisher.switch_persona(Persona("a", "A", "", avatar=image(tmp_path, "a.png", PNG + b"a")))
    second = publisher.switch_persona(Persona("b", "B", "", avatar=image(tmp_path, "b.png", PNG + b"b")))
    again = publisher.switch_persona(Persona("b", "B", "", avatar=image(tmp_path, "b.png", PNG + b"b")))
    plain = publisher.switch_persona(Persona("c", "C", "no avatar change"))
    assert len({first.avatar, second.avatar, again.avatar}) == 3
    assert plain.avatar == again.avatar  # a switch without avatar leaves it
    assert publisher.profile() == plain


def test_an_account_without_avatar_shows_none(server, tmp_path):
    profile = make(server, tmp_path).profile()
    assert profile.avatar is None  # not the default .../missing.png
    assert (profile.name, profile.bio) == ("alice", "")
    (read,) = server.requests_to("GET", "/api/v1/accounts/verify_credentials")
    assert read.token == ALICE_TOKEN


def test_an_unreadable_profile_is_transient_or_refused(server, tmp_path):
    publisher = make(server, tmp_path)
    server.fail("GET", "/api/v1/accounts/verify_credentials", status=502)
    with pytest.raises(TransientError):
        publisher.profile()
    with pytest.raises(RejectedError, match="401") as caught:
        make(server, tmp_path, token="wrong-token-123").profile()
    assert "wrong-token-123" not in str(caught.value)


# -- Mastodon's HTML back to text ------------------------------------------------------------


def test_status_text_reads_what_mastodon_renders():
    # TextFormatter's output for RICH on an instance that knows @wire@news.example
    content = (
        '<p>Verdun &amp; Douaumont: &lt;heavy&gt; &quot;shelling&quot; since dawn 💥🇫🇷<br />'
        'Map: <a href="https://example.org/archive/1916/02/21/front-line.png?zoom=3&amp;layer=forts" '
        'target="_blank" rel="nofollow noopener noreferrer"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.org/archive/1916/02/21</span><span class="invisible">'
        '/front-line.png?zoom=3&amp;layer=forts</span></a></p>'
        '<p>More soon <a href="https://m.example/tags/WW1" class="mention hashtag" rel="tag">#<span>WW1</span></a> '
        'via <span class="h-card"><a href="https://news.example/@wire" class="u-url mention">@<span>wire</span></a></span></p>'
    )
    assert status_text(content) == RICH.replace("@wire@news.example", "@wire")
    assert same_text(status_text(content), RICH)
    assert render_text(RICH, "https://m.example") == content  # the fake renders as the server does
    assert not same_text(status_text(content), RICH.replace("dawn", "noon"))


def test_status_text_of_nothing_is_empty():
    assert status_text("") == "" and status_text(None) == ""
    assert status_text("<p>a</p><p>b<br>c</p><script>x()</script>") == "a\n\nb\nc"


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)
                | st.sampled_from(["\n", "\n\n", "&", "<", ">", "\"", "'", " https://a.example/x?y=1&z=2 ",
                                   " #tag ", " @bob@b.example ", "&amp;", "<br />", "<p>"]),
                max_size=12).map("".join))
def test_any_text_survives_mastodon_rendering(text):
    assert same_text(status_text(render_text(text)), text)
