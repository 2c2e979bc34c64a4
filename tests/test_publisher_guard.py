"""`Publisher.before_send`: each built-in publisher asks it right before every request of
a call, and lets its Deposed out unchanged (not a PublishError). A process whose lease
lapsed between the image upload and the post (paused, cut off) sends no post once it
wakes; a lane releases the claim of that post (nothing went out)."""

from __future__ import annotations

import pytest

from bot.errors import Deposed, PublishError
from bot.publishers.base import MediaItem, OutgoingPost, Persona, deposed_in
from tests.test_bluesky_publisher import created, make as make_bluesky, pds  # noqa: F401 (fixture)
from tests.test_mastodon_convergence import STATUSES, clock, make as make_mastodon, server  # noqa: F401 (fixtures)
from tests.test_x_publisher import make as make_x, x_server  # noqa: F401 (fixture)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class Lease:
    """Valid for the first `requests` requests, then lapsed."""

    def __init__(self, requests: int) -> None:
        self.left = requests
        self.asked = 0

    def __call__(self) -> None:
        self.asked += 1
        if self.left <= 0:
            raise Deposed("the lease of epoch 3 was not renewed in time (0.4 s ago)", final=False)
        self.left -= 1


def with_image(tmp_path, network: str, account: str) -> OutgoingPost:
    image = tmp_path / "front.png"
    image.write_bytes(PNG)
    return OutgoingPost(entry_id="e1", account=account, network=network, text="Revolution in Petrograd",
                        persona=Persona("plain", "Daily News", "All the news"), media=(MediaItem(image, "Front"),),
                        idempotency_key=f"e1|{account}|{network}")


def test_x_sends_no_post_once_the_lease_lapsed_after_the_upload(x_server, tmp_path):  # noqa: F811
    publisher = make_x(x_server.base_url, tmp=tmp_path)
    publisher.before_send = lease = Lease(requests=2)  # the upload and its alt text
    with pytest.raises(Deposed) as raised:
        publisher.publish(with_image(tmp_path, "x", "news-desk"))
    assert not isinstance(raised.value, PublishError) and raised.value.final is False
    assert [r.path for r in x_server.requests()] == ["/2/media/upload", "/2/media/metadata"]
    assert x_server.tweets() == [] and lease.asked == 3


def test_x_profile_switch_stops_between_its_requests(x_server, tmp_path):  # noqa: F811
    publisher = make_x(x_server.base_url, tmp=tmp_path)
    avatar = tmp_path / "avatar.png"
    avatar.write_bytes(PNG)
    publisher.before_send = Lease(requests=1)
    with pytest.raises(Deposed):
        publisher.switch_persona(Persona("evening", "Evening News", "Late", avatar=avatar))
    assert [r.path for r in x_server.requests()] == ["/1.1/account/update_profile.json"]


def test_mastodon_sends_no_status_once_the_lease_lapsed_after_the_upload(server, tmp_path):  # noqa: F811
    publisher = make_mastodon(server, tmp_path)
    publisher.before_send = Lease(requests=3)  # the instance's version (v1, v2) and the image
    with pytest.raises(Deposed):
        publisher.publish(with_image(tmp_path, "mastodon", "alice"))
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/api/v1/instance"), ("GET", "/api/v2/instance"), ("POST", "/api/v2/media")]
    assert len(server.statuses) == 0


def test_mastodon_a_lease_lapsed_before_the_version_read_is_deposed_too(server, tmp_path):  # noqa: F811
    publisher = make_mastodon(server, tmp_path)
    publisher.before_send = Lease(requests=1)
    with pytest.raises(Deposed):
        publisher.publish(with_image(tmp_path, "mastodon", "alice"))
    assert not any((r.method, r.path) == STATUSES for r in server.requests)


def test_bluesky_sends_no_record_once_the_lease_lapsed_after_the_upload(pds, tmp_path):  # noqa: F811
    publisher = make_bluesky(pds, tmp_path)
    publisher.before_send = Lease(requests=2)  # the login and the image
    with pytest.raises(Deposed):
        publisher.publish(with_image(tmp_path, "bluesky", "le-temps"))
    assert len(pds.calls("com.atproto.repo.uploadBlob")) == 1
    assert created(pds) == []


def test_without_a_guard_nothing_changes(x_server, tmp_path):  # noqa: F811
    publisher = make_x(x_server.base_url, tmp=tmp_path)
    assert publisher.before_send is None
    publisher.publish(with_image(tmp_path, "x", "news-desk"))
    assert len(x_server.tweets()) == 1


def test_deposed_in_finds_it_inside_a_library_exception():
    deposed = Deposed("epoch 4 is over")
    try:
        try:
            raise deposed
        except Deposed as exc:
            raise RuntimeError("Could not complete request") from exc
    except RuntimeError as outer:
        assert deposed_in(outer) is deposed
    assert deposed_in(ValueError("x")) is None and deposed_in(None) is None
