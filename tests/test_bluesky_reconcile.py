"""Bluesky convergence against the fake PDS, through atproto's real HTTP client:
posts under their delivery's record key, `reconcile`, `profile`, and what a
switch returns. The fake answers a taken key as the reference PDS does (HTTP 500).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.errors import RejectedError, TransientError, UncertainError
from bot.publishers.base import AccountSettings, Found, OutgoingPost, Persona, Profile
from bot.publishers.bluesky import BlueskyPublisher
from bot.publishers.bluesky.records import delivery_rkey, split_remote_id
from tests.fakes.bluesky_server import FakeBluesky, cid_for

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
CREATE = "com.atproto.repo.createRecord"
GET = "com.atproto.repo.getRecord"
UTC = timezone.utc
WHEN = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)
CLAIMED = WHEN + timedelta(seconds=2)
NOW = WHEN + timedelta(minutes=1)
PERSONA = Persona("wire", "The Wire", "News as it came in")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def pds():
    with FakeBluesky() as server:
        yield server


def env_for(pds: FakeBluesky, **extra: str) -> dict[str, str]:
    return {
        "BLUESKY_PAPER_HANDLE": pds.handle,
        "BLUESKY_PAPER_APP_PASSWORD": pds.password,
        "BLUESKY_PAPER_SERVICE": pds.base_url,
        "BLUESKY_TIMEOUT": "1",
        **extra,
    }


def make(pds: FakeBluesky, state: Path, **extra: str) -> BlueskyPublisher:
    return BlueskyPublisher(AccountSettings("paper", ("bluesky",)), env=env_for(pds, **extra),
                            feed_dir=state, state_dir=state)


def post(text: str = "Extra! The bridge is open", entry_id: str = "e1", scheduled: datetime | None = WHEN,
         **kwargs) -> OutgoingPost:
    return OutgoingPost(entry_id=entry_id, account="paper", network="bluesky", text=text, persona=PERSONA,
                        idempotency_key=f"{entry_id}|paper|bluesky", scheduled=scheduled, **kwargs)


def posts(pds: FakeBluesky) -> dict[str, tuple[str, dict]]:
    """rkey -> (cid, value) of every post record on the fake."""
    return {rkey: found for (collection, rkey), found in pds.records.items() if collection == POST}


def remote_of(pds: FakeBluesky, rkey: str) -> str:
    return f"{pds.uri(POST, rkey)}|{pds.records[(POST, rkey)][0]}"


def assert_no_secret(exc: BaseException, pds: FakeBluesky) -> None:
    text = "".join(traceback.format_exception(exc))
    for secret in [pds.password, *pds.issued]:
        assert secret not in text


# -- posts under their delivery's key ------------------------------------------


def test_a_delivery_is_created_under_its_derived_key(pds, tmp_path):
    remote = make(pds, tmp_path).publish(post())

    rkey = delivery_rkey(WHEN, "e1", "paper")
    (create,) = pds.calls(CREATE)
    assert create.json["rkey"] == rkey
    uri, cid = split_remote_id(remote)
    assert uri == pds.uri(POST, rkey)
    assert pds.records[(POST, rkey)][0] == cid


def test_without_a_delivery_instant_the_pds_chooses_the_key(pds, tmp_path):
    remote = make(pds, tmp_path).publish(post(scheduled=None))

    (create,) = pds.calls(CREATE)
    assert "rkey" not in create.json
    assert remote == remote_of(pds, next(iter(posts(pds))))


@pytest.mark.parametrize("hang", [0.0, 1.5], ids=["connection-dropped", "answer-past-the-timeout"])
def test_a_lost_answer_is_found_and_a_retry_makes_no_second_post(pds, tmp_path, hang):
    publisher = make(pds, tmp_path, BLUESKY_TIMEOUT="0.5")
    pds.lose_answer(CREATE, hang=hang)
    with pytest.raises(UncertainError) as caught:
        publisher.publish(post())
    assert_no_secret(caught.value, pds)
    (rkey,) = posts(pds)  # the fake acted on it before the answer was lost

    found = publisher.reconcile(post(), CLAIMED, NOW)

    assert found.state == "posted"
    assert found.remote_id == remote_of(pds, rkey)
    again = publisher.publish(post())  # a retry of the same delivery
    assert again == found.remote_id
    assert len(posts(pds)) == 1
    assert [c.json["rkey"] for c in pds.calls(CREATE)] == [rkey, rkey]


def test_a_restarted_publisher_finds_the_post_of_the_one_before(pds, tmp_path):
    pds.lose_answer(CREATE)
    with pytest.raises(UncertainError):
        make(pds, tmp_path).publish(post())

    restarted = make(pds, tmp_path)  # a new process: same state folder, no memory
    found = restarted.reconcile(post(), CLAIMED, NOW)

    (rkey,) = posts(pds)
    assert found == Found.posted(remote_of(pds, rkey), found.reason)


def test_nothing_created_is_absent(pds, tmp_path):
    publisher = make(pds, tmp_path)
    publisher.publish(post("another entry", entry_id="e0"))  # the account has posts, not this one

    found = publisher.reconcile(post(), CLAIMED, NOW)

    assert found.state == "absent"
    assert found.remote_id is None
    assert delivery_rkey(WHEN, "e1", "paper") in found.reason
    assert len(posts(pds)) == 1


def test_the_same_entry_on_another_anniversary_is_another_post(pds, tmp_path):
    publisher = make(pds, tmp_path)
    first = publisher.publish(post())

    next_year = post(scheduled=WHEN.replace(year=2027))
    assert publisher.reconcile(next_year, CLAIMED, NOW).state == "absent"
    second = publisher.publish(next_year)

    assert second != first
    assert len(posts(pds)) == 2


def test_an_answer_that_never_came_then_absent_then_sent_again_makes_one_post(pds, tmp_path):
    """The first request stalls inside the server (not acted on yet): the lookup says
    absent, the post is sent again; when the stalled request is acted on at last,
    the key is taken and it makes nothing."""
    publisher = make(pds, tmp_path, BLUESKY_TIMEOUT="0.3")
    publisher.profile()  # logged in before the clock starts
    started = time.monotonic()
    pds.hang(CREATE, 1.5)
    with pytest.raises(UncertainError):
        publisher.publish(post())
    assert publisher.reconcile(post(), CLAIMED, NOW).state == "absent"

    remote = publisher.publish(post())
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))  # the stalled request's turn has come

    (rkey,) = posts(pds)
    assert remote == remote_of(pds, rkey)
    assert [c.json["rkey"] for c in pds.calls(CREATE)] == [rkey, rkey]


def test_a_retry_after_already_exists_returns_the_existing_post(pds, tmp_path):
    rkey = delivery_rkey(WHEN, "e1", "paper")
    cid = pds.put(POST, rkey, {"$type": POST, "text": post().text, "createdAt": "2026-05-12T09:30:00.000Z"})

    remote = make(pds, tmp_path).publish(post())

    assert remote == f"{pds.uri(POST, rkey)}|{cid}"
    assert len(posts(pds)) == 1
    assert len(pds.calls(CREATE)) == 1  # answered 500, then the key was read
    assert [c.query["rkey"] for c in pds.calls(GET)] == [rkey]


def test_a_key_holding_another_post_is_a_conflict(pds, tmp_path):
    rkey = delivery_rkey(WHEN, "e1", "paper")
    pds.put(POST, rkey, {"$type": POST, "text": "something else", "createdAt": "2026-05-12T09:30:00.000Z"})
    publisher = make(pds, tmp_path)

    found = publisher.reconcile(post(), CLAIMED, NOW)
    assert (found.state, found.final) == ("unknown", True)
    assert "another post" in found.reason
    with pytest.raises(RejectedError, match="holds another post") as caught:
        publisher.publish(post())
    assert_no_secret(caught.value, pds)
    assert posts(pds)[rkey][1]["text"] == "something else"


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_with_nothing_under_the_key_stays_transient(pds, tmp_path, status):
    pds.fail(CREATE, status)
    with pytest.raises(TransientError) as caught:
        make(pds, tmp_path).publish(post())
    assert not isinstance(caught.value, UncertainError)
    assert str(status) in str(caught.value)
    assert posts(pds) == {}
    assert len(pds.calls(GET)) == 1  # the key was looked at before saying so


def test_an_invalid_post_is_still_rejected_without_a_lookup(pds, tmp_path):
    pds.fail(CREATE, 400, error="InvalidRecord", message="Record/text must not be longer than 300 graphemes")
    with pytest.raises(RejectedError, match="300 graphemes"):
        make(pds, tmp_path).publish(post("x" * 301))
    assert pds.calls(GET) == []


def test_a_delivery_in_a_second_whose_digits_the_pds_refuses_is_still_posted(pds, tmp_path):
    instant = datetime(2062, 10, 6, 4, 52, 30, tzinfo=UTC)  # see test_bluesky_rkey
    publisher = make(pds, tmp_path)
    remote = publisher.publish(post(scheduled=instant))
    found = publisher.reconcile(post(scheduled=instant), CLAIMED, NOW)
    assert (found.state, found.remote_id) == ("posted", remote)
    assert split_remote_id(remote)[0].endswith("/" + delivery_rkey(instant, "e1", "paper"))


# -- reconcile's own failures --------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_failed_lookup_is_transient(pds, tmp_path, status):
    publisher = make(pds, tmp_path)
    publisher.publish(post("warm-up", entry_id="e0"))
    pds.fail(GET, status)
    with pytest.raises(TransientError) as caught:
        publisher.reconcile(post(), CLAIMED, NOW)
    assert_no_secret(caught.value, pds)


def test_a_lookup_with_the_network_down_is_transient(pds, tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    publisher = make(pds, tmp_path, BLUESKY_PAPER_SERVICE=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError, match="connection failed"):
        publisher.reconcile(post(), CLAIMED, NOW)


def test_a_lookup_the_pds_refuses_is_unknown_for_good(pds, tmp_path):
    publisher = make(pds, tmp_path, BLUESKY_PAPER_APP_PASSWORD="wrong-pass-9876")
    found = publisher.reconcile(post(), CLAIMED, NOW)
    assert (found.state, found.final) == ("unknown", True)
    assert "wrong-pass-9876" not in found.reason


def test_without_a_delivery_instant_reconcile_cannot_tell(pds, tmp_path):
    found = make(pds, tmp_path).reconcile(post(scheduled=None), CLAIMED, NOW)
    assert (found.state, found.final) == ("unknown", True)
    assert pds.requests == []


# -- kill -9 during the call ---------------------------------------------------------

_CHILD = textwrap.dedent("""
    import json, os, sys
    from datetime import datetime
    from pathlib import Path
    from bot.publishers.base import AccountSettings, OutgoingPost, Persona
    from bot.publishers.bluesky import BlueskyPublisher
    args = json.loads(sys.argv[1])
    publisher = BlueskyPublisher(AccountSettings("paper", ("bluesky",)), env=os.environ,
                                 feed_dir=Path(args["state"]), state_dir=Path(args["state"]))
    publisher.publish(OutgoingPost(entry_id="e1", account="paper", network="bluesky", text=args["text"],
                                   persona=Persona("wire", "The Wire"),
                                   scheduled=datetime.fromisoformat(args["when"])))
    print("returned")
""")


def test_after_kill_9_during_the_call_the_post_is_found_and_not_sent_twice(pds, tmp_path):
    import json

    pds.lose_answer(CREATE, hang=60)  # the PDS acts, then the answer never comes
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLUESKY_")}
    env.update(env_for(pds, BLUESKY_TIMEOUT="120"), PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps({"state": str(tmp_path), "text": post().text,
                                                  "when": WHEN.isoformat()})],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not posts(pds):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never reached createRecord"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert b"returned" not in child.stdout.read()

    restarted = make(pds, tmp_path)
    found = restarted.reconcile(post(), CLAIMED, NOW)
    (rkey,) = posts(pds)
    assert found.state == "posted" and found.remote_id == remote_of(pds, rkey)
    assert restarted.publish(post()) == found.remote_id
    assert len(posts(pds)) == 1


# -- profile --------------------------------------------------------------------------


def test_no_profile_record_reads_as_an_empty_profile(pds, tmp_path):
    assert make(pds, tmp_path).profile() == Profile("", "", None)


def test_profile_reads_what_the_network_shows(pds, tmp_path):
    avatar = {"$type": "blob", "ref": {"$link": "bafkreiedited"}, "mimeType": "image/png", "size": 9}
    pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Edited by hand", "description": "a new bio",
                              "avatar": avatar})
    assert make(pds, tmp_path).profile() == Profile("Edited by hand", "a new bio", "bafkreiedited")


def test_profile_after_a_switch_is_what_the_switch_returned(pds, tmp_path):
    avatar = tmp_path / "avatar.png"
    avatar.write_bytes(PNG)
    publisher = make(pds, tmp_path)

    switched = publisher.switch_persona(Persona("tg", "The Telegraph", "Stormed at 9", avatar=avatar))

    assert switched == Profile("The Telegraph", "Stormed at 9", cid_for(PNG, codec=0x55))
    assert switched.avatar in pds.blobs
    assert publisher.profile() == switched
    assert make(pds, tmp_path).profile() == switched  # and so does a restarted one


def test_a_switch_without_an_avatar_reports_the_one_kept(pds, tmp_path):
    old = {"$type": "blob", "ref": {"$link": "bafkreiold"}, "mimeType": "image/png", "size": 9}
    pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Old", "description": "old bio", "avatar": old})
    publisher = make(pds, tmp_path)

    switched = publisher.switch_persona(Persona("plain", "Plain"))

    assert switched == Profile("Plain", "", "bafkreiold")
    assert publisher.profile() == switched


def test_a_switch_repeated_after_its_answer_was_lost_is_harmless(pds, tmp_path):
    publisher = make(pds, tmp_path)
    pds.lose_answer(CREATE)  # the profile record is created, the answer lost
    with pytest.raises(UncertainError):
        publisher.switch_persona(PERSONA)

    switched = publisher.switch_persona(PERSONA)

    assert switched == Profile("The Wire", "News as it came in", None)
    assert [k for k in pds.records if k[0] == PROFILE] == [(PROFILE, "self")]
    assert publisher.profile() == switched


def test_a_profile_created_between_read_and_create_is_written_over(pds, tmp_path):
    """The PDS answers a create of an existing profile with 500: read it, swap on it."""
    pds.put(PROFILE, "self", {"$type": PROFILE, "displayName": "Made elsewhere"})
    pds.fail(GET, 400, error="RecordNotFound", message="Could not locate record")  # a stale read

    switched = make(pds, tmp_path).switch_persona(PERSONA)

    assert switched.name == "The Wire"
    assert pds.records[(PROFILE, "self")][1]["displayName"] == "The Wire"
    assert len(pds.calls("com.atproto.repo.putRecord")) == 1
