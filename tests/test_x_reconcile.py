"""The X publisher's convergence calls against the fake X API: `profile` (GET /2/users/me),
the profile `switch_persona` returns, and `reconcile` (GET /2/users/{id}/tweets).

Real tweepy sessions, real HTTP on 127.0.0.1, no mocks. Every request these calls make
is held to X's pinned OpenAPI document by the fake: a request or answer breaking it
fails the test that made it (tests/conftest.py), and `reads` asserts each read was
answered 200 without a violation.
"""

from __future__ import annotations

import hashlib
import io
import json
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.errors import (
    PublishError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)
from bot.publishers.base import (
    AccountSettings,
    Found,
    MediaItem,
    OutgoingPost,
    Persona,
    Profile,
)
from bot.publishers.x import XPublisher, api
from bot.publishers.x.failures import access_denied
from bot.publishers.x.shown import avatar_ref, post_matches, profile_of, same_text
from bot.run.personas import drift, file_digest
from tests.fakes import x_server as fx
from tests.fakes.x_server import FakeXServer, unused_port

SECRETS = {
    "X_API_KEY": "ck-appkey-77aa",
    "X_API_SECRET": "cs-APPSECRET-5e5e5e",
    "X_DESK_ACCESS_TOKEN": "at-DESK-9191",
    "X_DESK_ACCESS_TOKEN_SECRET": "ats-DESKSECRET-8282",
    "X_WIRE_ACCESS_TOKEN": "at-WIRE-7373",
    "X_WIRE_ACCESS_TOKEN_SECRET": "ats-WIRESECRET-6464",
}
DESK, WIRE = SECRETS["X_DESK_ACCESS_TOKEN"], SECRETS["X_WIRE_ACCESS_TOKEN"]
TIMEOUT = 0.5  # X_TIMEOUT of the publishers built here
PLAIN = Persona("plain", "Daily News", "All the news")
TEXT = "Bread & roses <now>: see https://example.org/strike?day=1&hour=2 & www.example.net/x"
SETTLED = timedelta(seconds=TIMEOUT) + api.TIMELINE_DELAY  # from here on "not found" is absent


@pytest.fixture
def x_server():
    with FakeXServer() as server:
        yield server


def make(server_url: str, account: str = "desk", tmp: Path = Path(".")) -> XPublisher:
    env = {**SECRETS, "X_API_BASE_URL": server_url, "X_TIMEOUT": str(TIMEOUT)}
    return XPublisher(AccountSettings(account, ("x",)), env=env, feed_dir=tmp, state_dir=tmp)


def outgoing(text: str = TEXT, **kw) -> OutgoingPost:
    return OutgoingPost(entry_id="e1", account="desk", network="x", text=text, persona=PLAIN,
                        idempotency_key="e1/desk/x", **kw)


def png(tmp_path: Path, name: str, seed: int) -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([seed]) * 300)
    return path


def reads(server: FakeXServer) -> list[tuple[str, dict[str, str]]]:
    """(path, query) of every GET so far; each must have been answered 200, spec-valid."""
    got = [r for r in server.requests() if r.method == "GET"]
    assert [(r.status, r.violation) for r in got] == [(200, None)] * len(got)
    return [(r.path, r.query) for r in got]


def lost_post(server: FakeXServer, pub: XPublisher, post: OutgoingPost, kind: str) -> str:
    """Publish `post` while the fake acts on it and loses the answer; the id it made."""
    server.fail(kind, path="/2/tweets", hang_seconds=3)
    with pytest.raises(UncertainError):
        pub.publish(post)
    [made] = [r for r in server.tweets() if r.fault == kind]
    assert made.created_id and made.status is None  # created, never answered
    return made.created_id


def assert_no_secret(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text


# ---- profile()

def test_profile_reads_users_me_with_the_fields_the_spec_names(x_server, tmp_path):
    profile = make(x_server.base_url, tmp=tmp_path).profile()
    account = x_server.account(DESK)
    assert profile == Profile(account.name, "", avatar_ref(account.profile_image_url))
    assert profile.avatar.startswith("https://abs.twimg.com/sticky/default_profile_images/")
    assert reads(x_server) == [("/2/users/me", {"user.fields": "description,entities,profile_image_url"})]


def test_profile_after_switches_shows_what_each_switch_returned(x_server, tmp_path):
    pub = make(x_server.base_url, "wire", tmp=tmp_path)
    first = Persona("telegraph", "Petrograd Telegraph Agency",
                    "Bulletins & decrees, see https://example.org/pta", png(tmp_path, "a.png", 1))
    second = Persona("soviet", "Izvestia", "Of the Soviet <of> Workers", png(tmp_path, "b.png", 2))

    switched = pub.switch_persona(first)
    shown = pub.profile()
    assert shown == Profile(first.name, first.bio, switched.avatar)
    assert switched.avatar == avatar_ref(x_server.account(WIRE).profile_image_url)
    # X shows the bio's URL as a t.co link (tests/test_x_fake.py); profile() expands it

    again = pub.switch_persona(second)
    assert again.avatar not in (None, switched.avatar)
    assert pub.profile() == Profile(second.name, second.bio, again.avatar)

    without = pub.switch_persona(PLAIN)  # no avatar: the one worn stays
    assert pub.profile() == Profile(PLAIN.name, PLAIN.bio, again.avatar) and without.avatar == again.avatar
    assert [p for p, _ in reads(x_server)] == ["/2/users/me"] * 3


def test_the_engines_drift_check_holds_until_the_avatar_changes_on_x(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    persona = Persona("telegraph", "Telegraph", "Bulletins", png(tmp_path, "a.png", 3))
    switched = pub.switch_persona(persona)
    last_good = SimpleNamespace(persona="telegraph", avatar_digest=file_digest(persona.avatar),
                                avatar_ref=switched.avatar)  # what the ledger records
    assert drift(persona, pub.profile(), last_good) is None

    other = pub._client._api  # someone uploads another picture on the account
    other.update_profile_image("c.png", file=io.BytesIO(b"\x89PNG another picture"))
    assert drift(persona, pub.profile(), last_good) == "the avatar was changed on the network"


def test_switch_cannot_tell_the_avatar_when_x_shows_the_old_one_or_no_answer(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    persona = Persona("telegraph", "Telegraph", "Bulletins", png(tmp_path, "a.png", 4))
    assert pub.switch_persona(persona).avatar is not None
    # the fake gives the same image the same URL: the answer looks like "not processed yet"
    assert pub.switch_persona(persona) == Profile("Telegraph", "Bulletins", None)
    other = Persona("soviet", "Izvestia", "", png(tmp_path, "b.png", 5))
    x_server.fail(fx.MALFORMED_JSON, path="/1.1/account/update_profile_image.json")
    assert pub.switch_persona(other).avatar is None  # done (2xx), reference unknown
    assert x_server.account(DESK).avatar_sha256 == hashlib.sha256(other.avatar.read_bytes()).hexdigest()


def test_profile_is_none_when_the_access_level_forbids_reading_it(x_server, tmp_path):
    x_server.fail(fx.ACCESS_LEVEL, path="/2/users/me")
    assert make(x_server.base_url, tmp=tmp_path).profile() is None
    [rec] = x_server.requests("/2/users/me")
    assert (rec.status, rec.violation) == (403, None)


@pytest.mark.parametrize("kind, expected, text", [
    (fx.UNAUTHORIZED, RejectedError, "X profile read failed: HTTP 401 code 32"),
    (fx.UNAVAILABLE, TransientError, "X profile read failed: HTTP 503"),
    (fx.RATE_LIMITED, RateLimited, "X profile read failed: HTTP 429"),
    (fx.HANG, TransientError, "no answer within 0.5 s"),
])
def test_profile_read_failures_map_to_errors(x_server, tmp_path, kind, expected, text):
    x_server.fail(kind, path="/2/users/me", hang_seconds=3)
    with pytest.raises(PublishError) as caught:
        make(x_server.base_url, tmp=tmp_path).profile()
    assert type(caught.value) is expected and text in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert_no_secret("".join(traceback.format_exception(caught.value)))


def test_profile_when_x_cannot_be_reached_is_transient(tmp_path):
    with pytest.raises(TransientError, match="nothing was sent"):
        make(f"http://127.0.0.1:{unused_port()}", tmp=tmp_path).profile()


# ---- reconcile(): found

@pytest.mark.parametrize("kind", [fx.ACTED_THEN_RESET, fx.ACTED_THEN_HANG, fx.MALFORMED_JSON])
def test_a_post_whose_answer_was_lost_is_found(x_server, tmp_path, kind):
    pub = make(x_server.base_url, tmp=tmp_path)
    pub.publish(outgoing("an earlier post"))
    claimed = datetime.now(UTC)
    if kind == fx.MALFORMED_JSON:
        x_server.fail(kind, path="/2/tweets")
        with pytest.raises(UncertainError):
            pub.publish(outgoing())
        made = x_server.tweets()[-1].created_id
    else:
        made = lost_post(x_server, pub, outgoing(), kind)
    shown = x_server.posts(DESK)[-1].shown
    assert "https://t.co/" in shown and "&amp;" in shown and "&lt;now&gt;" in shown  # X's rewriting
    assert "example.org" not in shown

    found = pub.reconcile(outgoing(), claimed, claimed + timedelta(seconds=2))
    assert (found.state, found.remote_id) == ("posted", made)
    me = x_server.user_id(DESK)
    [(_, me_query), (path, query)] = reads(x_server)
    assert path == f"/2/users/{me}/tweets"
    start = datetime.fromisoformat(query["start_time"])
    assert claimed - api.CLOCK_SKEW - timedelta(seconds=1) < start <= claimed - api.CLOCK_SKEW
    assert query["post.fields"] == "created_at,attachments" and query["expansions"] == "referenced_posts"
    assert "end_time" not in query  # the window's end is not past yet
    assert query["max_results"] == str(api.TIMELINE_PAGE)


def test_profile_read_caches_the_account_id_for_reconcile(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    pub.profile()
    claimed = datetime.now(UTC)
    made = lost_post(x_server, pub, outgoing("one"), fx.ACTED_THEN_RESET)
    found = pub.reconcile(outgoing("one"), claimed, claimed)
    assert (found.state, found.remote_id) == ("posted", made)
    assert [p for p, _ in reads(x_server)].count("/2/users/me") == 1


def test_a_reply_to_another_account_is_found_behind_the_mention_x_adds(x_server, tmp_path):
    desk, wire = make(x_server.base_url, tmp=tmp_path), make(x_server.base_url, "wire", tmp=tmp_path)
    parent = wire.publish(outgoing("The Duma is dissolved"))
    claimed = datetime.now(UTC)
    reply = outgoing("Crowds gather & cheer", reply_to_remote=parent)
    made = lost_post(x_server, desk, reply, fx.ACTED_THEN_RESET)
    username = x_server.account(WIRE).username
    assert x_server.posts(DESK)[-1].shown == f"@{username} Crowds gather &amp; cheer"
    found = desk.reconcile(reply, claimed, claimed + timedelta(seconds=1))
    assert (found.state, found.remote_id) == ("posted", made)


def test_a_post_with_images_is_found_despite_the_link_x_adds(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    claimed = datetime.now(UTC)
    with_image = outgoing("The Tsar abdicates", media=(MediaItem(png(tmp_path, "a.png", 6), "alt"),))
    made = lost_post(x_server, pub, with_image, fx.ACTED_THEN_HANG)
    assert x_server.posts(DESK)[-1].shown.startswith("The Tsar abdicates https://t.co/")
    assert pub.reconcile(with_image, claimed, claimed).remote_id == made
    # the same text without the image is another post: not found, and late enough to say so
    assert pub.reconcile(outgoing("The Tsar abdicates"), claimed, claimed + SETTLED).state == "absent"


def test_same_text_replying_elsewhere_is_not_the_post(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    first, second = pub.publish(outgoing("root one")), pub.publish(outgoing("root two"))
    claimed = datetime.now(UTC)
    made = lost_post(x_server, pub, outgoing("Agreed.", reply_to_remote=first), fx.ACTED_THEN_RESET)
    assert pub.reconcile(outgoing("Agreed.", reply_to_remote=first), claimed, claimed).remote_id == made
    elsewhere = pub.reconcile(outgoing("Agreed.", reply_to_remote=second), claimed, claimed + SETTLED)
    assert elsewhere.state == "absent"


def test_the_post_is_found_on_a_later_page(x_server, tmp_path, monkeypatch):
    monkeypatch.setattr(api, "TIMELINE_PAGE", 5)  # the spec's least max_results
    pub = make(x_server.base_url, tmp=tmp_path)
    claimed = datetime.now(UTC)
    made = lost_post(x_server, pub, outgoing("the lost one"), fx.ACTED_THEN_RESET)
    for i in range(11):
        pub.publish(outgoing(f"later post {i}"))
    found = pub.reconcile(outgoing("the lost one"), claimed, claimed)
    assert (found.state, found.remote_id) == ("posted", made)
    pages = [q for p, q in reads(x_server) if p.endswith("/tweets")]
    assert len(pages) == 3 and "pagination_token" not in pages[0]
    assert pages[1]["pagination_token"] and pages[2]["pagination_token"] != pages[1]["pagination_token"]


# ---- reconcile(): absent or unknown

@pytest.mark.parametrize("kind", [fx.HANG, fx.RESET_AFTER_READ])
def test_nothing_created_is_absent_only_once_x_would_show_it(x_server, tmp_path, kind):
    pub = make(x_server.base_url, tmp=tmp_path)
    pub.publish(outgoing("another post of the account"))
    claimed = datetime.now(UTC)
    x_server.fail(kind, path="/2/tweets", hang_seconds=3)
    with pytest.raises(UncertainError):
        pub.publish(outgoing())
    assert len(x_server.posts(DESK)) == 1  # the request was lost: nothing created

    early = pub.reconcile(outgoing(), claimed, claimed + SETTLED - timedelta(seconds=1))
    assert (early.state, early.final) == ("unknown", False)
    assert "X may not show it yet" in early.reason
    late = pub.reconcile(outgoing(), claimed, claimed + SETTLED)
    assert (late.state, late.remote_id) == ("absent", None)
    assert "not among the account's 1 post(s)" in late.reason


def test_the_window_starts_before_the_claim_and_ends_once_past(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    made = pub.publish(outgoing())
    created = datetime.fromtimestamp(x_server.posts(DESK)[0].created_at, UTC)
    # claimed well after the post was made: an older post with the same text is not it
    late_claim = created + api.CLOCK_SKEW + timedelta(seconds=5)
    assert pub.reconcile(outgoing(), late_claim, late_claim + SETTLED).state == "absent"
    # within the skew before the claim it is
    near = created + api.CLOCK_SKEW - timedelta(seconds=5)
    assert pub.reconcile(outgoing(), near, near).remote_id == made
    # claimed long before, asked a day later: the window ends, the post is after it
    early_claim = created - timedelta(hours=1)
    answer = pub.reconcile(outgoing(), early_claim, early_claim + timedelta(days=1))
    assert answer.state == "absent"
    [*_, (_, query)] = reads(x_server)
    end = datetime.fromisoformat(query["end_time"])
    assert end <= early_claim + timedelta(seconds=TIMEOUT) + api.CLOCK_SKEW < created
    assert "to " + query["end_time"] in answer.reason


def test_more_posts_than_the_pages_read_cannot_tell(x_server, tmp_path, monkeypatch):
    monkeypatch.setattr(api, "TIMELINE_PAGE", 5)
    pub = make(x_server.base_url, tmp=tmp_path)
    claimed = datetime.now(UTC)
    for i in range(api.TIMELINE_PAGES * 5 + 1):
        pub.publish(outgoing(f"post {i}"))
    answer = pub.reconcile(outgoing("never sent"), claimed, claimed + SETTLED)
    assert (answer.state, answer.final) == ("unknown", False)  # a bounded window may tell later
    assert answer.reason.startswith(f"more than {api.TIMELINE_PAGES * 5} posts")
    assert len([p for p, _ in reads(x_server) if p.endswith("/tweets")]) == api.TIMELINE_PAGES


@pytest.mark.parametrize("path", ["/2/users/{id}/tweets", "/2/users/me"])
def test_an_access_level_that_cannot_read_the_timeline_is_final(x_server, tmp_path, path):
    pub = make(x_server.base_url, tmp=tmp_path)
    x_server.fail(fx.ACCESS_LEVEL, path=path.format(id=x_server.user_id(DESK)))
    claimed = datetime.now(UTC)
    assert pub.reconcile(outgoing(), claimed, claimed + SETTLED) == Found.unknown(
        "X's access level does not allow reading the timeline", final=True)
    [rec] = [r for r in x_server.requests() if r.fault]
    assert (rec.status, rec.violation) == (403, None)  # the spec's Error body, code 453


def test_unauthorized_is_final_and_names_no_secret(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    pub.profile()
    x_server.fail(fx.UNAUTHORIZED)
    claimed = datetime.now(UTC)
    answer = pub.reconcile(outgoing(), claimed, claimed)
    assert (answer.state, answer.final) == ("unknown", True)
    assert "X timeline read failed: HTTP 401 code 32" in answer.reason
    assert_no_secret(answer.reason)


def test_an_unknown_account_id_is_read_again(x_server, tmp_path):
    pub = make(x_server.base_url, tmp=tmp_path)
    pub._client._user_id = "42"  # X: 200 with a resource-not-found problem and no meta
    claimed = datetime.now(UTC)
    answer = pub.reconcile(outgoing(), claimed, claimed + SETTLED)
    assert (answer.state, answer.final) == ("unknown", False)
    assert "Could not find user with id: [42]" in answer.reason
    assert pub.reconcile(outgoing(), claimed, claimed + SETTLED).state == "absent"
    assert [p for p, _ in reads(x_server)] == [
        "/2/users/42/tweets", "/2/users/me", f"/2/users/{x_server.user_id(DESK)}/tweets"]


# ---- reconcile(): X cannot be asked now

@pytest.mark.parametrize("kind, expected, text", [
    (fx.UNAVAILABLE, TransientError, "X timeline read failed: HTTP 503"),
    (fx.SERVER_ERROR, TransientError, "HTTP 500"),
    (fx.RATE_LIMITED, RateLimited, "HTTP 429"),
    (fx.RESET_AFTER_READ, TransientError, "connection lost"),
    (fx.MALFORMED_JSON, TransientError, "not valid JSON"),
])
def test_a_failed_lookup_is_transient(x_server, tmp_path, kind, expected, text):
    pub = make(x_server.base_url, tmp=tmp_path)
    x_server.fail(kind, path=f"/2/users/{x_server.user_id(DESK)}/tweets", reset_in=30)
    claimed = datetime.now(UTC)
    with pytest.raises(TransientError) as caught:
        pub.reconcile(outgoing(), claimed, claimed + SETTLED)
    assert type(caught.value) is expected and text in str(caught.value)
    if kind == fx.RATE_LIMITED:
        assert 20 < caught.value.retry_after <= 30
    assert_no_secret("".join(traceback.format_exception(caught.value)))


def test_refused_connections_are_transient(tmp_path):
    pub = make(f"http://127.0.0.1:{unused_port()}", tmp=tmp_path)
    claimed = datetime.now(UTC)
    for known_id in (None, "1234567890"):  # reading users/me first, or the timeline
        pub._client._user_id = known_id
        with pytest.raises(TransientError, match="nothing was sent") as caught:
            pub.reconcile(outgoing(), claimed, claimed + SETTLED)
        assert not isinstance(caught.value, RateLimited)
        assert_no_secret(str(caught.value))


# ---- pure parts

@pytest.mark.parametrize("sent, shown, reply, same", [
    ("Bread & roses", "Bread &amp; roses", False, True),
    ("a <b> c", "a &lt;b&gt; c", False, True),
    ("&amp; literally", "&amp;amp; literally", False, True),
    ("see https://example.org/a?b=1&c=2 now", "see https://t.co/abcdefghij now", False, True),
    ("see example.org now", "see https://t.co/abcdefghij now", False, True),
    ("no link", "no link https://t.co/abcdefghij", False, True),  # the images' link
    ("two  spaces\nand a line ", "two spaces and a line", False, True),
    ("Cafe\u0301", "Caf\u00e9", False, True),  # X stores NFC
    ("hello", "@wire hello", True, True),
    ("hello", "@wire @desk hello", True, True),
    ("@desk hello", "@wire @desk hello", True, True),
    ("hello", "@wire hello", False, False),  # only replies get a mention put before them
    ("Bread & roses", "Bread & circuses", False, False),
    ("Bread", "Bread and roses", False, False),
])
def test_same_text_compares_as_x_shows_text(sent, shown, reply, same):
    assert same_text(sent, shown, reply=reply) is same


def test_post_matches_needs_no_contradiction():
    post = outgoing("hi", reply_to_remote="100")
    assert post_matches(post, {"id": "1", "text": "hi"})  # X showed no reference: not a sign
    assert post_matches(post, {"id": "1", "text": "hi", "referenced_posts": [{"type": "replied_to", "id": "100"}]})
    assert not post_matches(post, {"id": "1", "text": "hi", "referenced_posts": [{"type": "replied_to", "id": "7"}]})
    assert not post_matches(outgoing("hi"), {"id": "1", "text": "hi",
                                             "referenced_posts": [{"type": "replied_to", "id": "7"}]})
    assert post_matches(outgoing("hi"), {"id": "1", "text": "hi", "referenced_posts": [{"type": "quoted", "id": "7"}]})
    assert not post_matches(outgoing("hi"), {"id": "1", "text": "hi", "attachments": {"media_keys": ["3_1"]}})
    assert not post_matches(outgoing("hi"), {"id": "1"})


def test_avatar_refs_of_v1_and_v2_urls_of_one_image_are_equal():
    v1 = "http://pbs.twimg.com/profile_images/123/AbC_normal.jpg"
    v2 = "https://pbs.twimg.com/profile_images/123/AbC_400x400.jpg"
    assert avatar_ref(v1) == avatar_ref(v2) == "https://pbs.twimg.com/profile_images/123/AbC.jpg"
    assert avatar_ref("https://pbs.twimg.com/profile_images/123/XyZ_normal.jpg") != avatar_ref(v2)
    assert avatar_ref("") is None and avatar_ref(None) is None


def test_profile_of_expands_the_bios_links_and_entities():
    user = {"id": "1", "name": "A &amp; B", "username": "ab",
            "description": "News &amp; more: https://t.co/abcdefghij",
            "entities": {"description": {"urls": [{"start": 18, "end": 41, "url": "https://t.co/abcdefghij",
                                                   "expanded_url": "https://example.org/x"}]}},
            "profile_image_url": "https://pbs.twimg.com/profile_images/1/q_normal.png"}
    assert profile_of(user) == Profile("A & B", "News & more: https://example.org/x",
                                       "https://pbs.twimg.com/profile_images/1/q.png")
    assert profile_of({"id": "1", "name": "A"}) == Profile("A", "", None)


@pytest.mark.parametrize("body, denied", [
    ({"code": 453, "message": "You currently have access to a subset of X API V2 endpoints"}, True),
    ({"errors": [{"code": 453, "message": "a subset of endpoints"}]}, True),
    ({"title": "Client Forbidden", "type": "https://api.twitter.com/2/problems/client-forbidden",
      "reason": "client-not-enrolled", "detail": "must use keys attached to a Project"}, True),
    ({"title": "Unsupported Authentication", "status": 403,
      "type": "https://api.twitter.com/2/problems/unsupported-authentication",
      "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint."}, True),
    ({"code": 200, "message": "Forbidden."}, False),
    ({"title": "Forbidden", "type": "about:blank", "status": 403}, False),
])
def test_access_denied_reads_x_s_access_level_answers(body, denied):
    assert access_denied(json.dumps(body).encode()) is denied
    error = api.error_for_answer(403, {}, json.dumps(body).encode(), "timeline read", read=True, now=0)
    assert isinstance(error, api.AccessDenied) is denied and isinstance(error, RejectedError)
    assert type(api.error_for_answer(403, {}, json.dumps(body).encode(), "post", now=0)) is RejectedError
