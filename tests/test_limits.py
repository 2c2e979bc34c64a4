"""Every limit a publisher declares is enforced by `bot check`, located, before anything is sent.

For each built-in network, a feed at each declared limit passes, and the limit plus one
gives a `PATH:LINE: error:` on the line concerned. A third-party publisher brings its
own limits the same way (the registry is asked, not a table of our own)."""

from __future__ import annotations

import json
import struct
import zlib

import pytest

from bot import publishers

NETWORKS = ("x", "mastodon", "bluesky")


def png(size: int) -> bytes:
    """A valid PNG of exactly `size` bytes (a 1x1 image with a private padding chunk)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    body = chunk(b"IDAT", zlib.compress(bytes([0, 10, 20, 30])))
    end = chunk(b"IEND", b"")
    padding = size - len(head) - len(body) - len(end) - 12
    assert padding >= 0
    return head + chunk(b"prVt", b"\0" * padding) + body + end


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


FEED = """title: Limits
timezone: UTC
years_later: 110
accounts:
  acct: {{platform: {network}, persona: p}}
personas:
  p: {{name: {name}, bio: {bio}{avatar}}}
"""


def feed(make_feed, tmp_path, network, *, text="Plain text.", images=(), alt="An image.", name="Name",
         bio="A bio.", avatar=None):
    files = {"img": None}
    media = ""
    if images:
        media = "\n    media:\n" + "".join(f"      - {{file: {f}, alt: {q(alt)}}}\n" for f, _ in images)
    post = f'date: 1917-11-06\nposts:\n  - time: "10:00"\n    account: acct\n    text: {q(text)}{media}\n'
    files = {"day.yaml": post, **{f: data for f, data in images}}
    if avatar is not None:
        files["avatar.png"] = avatar
    yaml_avatar = ", avatar: avatar.png" if avatar is not None else ""
    return make_feed(tmp_path, FEED.format(network=network, name=q(name), bio=q(bio), avatar=yaml_avatar), files)


def errors(invoke_bot, root, tmp_path) -> list[str]:
    code, out, _ = invoke_bot("check", str(root), cwd=tmp_path)
    found = [line for line in out.splitlines() if ": error: " in line]
    assert (code == 1) == bool(found), out
    return found


@pytest.mark.parametrize("network", NETWORKS)
def test_text_at_the_limit_passes_and_one_more_is_a_located_error(network, tmp_path, make_feed, invoke_bot):
    limits = publishers.load(network).limits
    assert errors(invoke_bot, feed(make_feed, tmp_path / "ok", network, text="a" * limits.text), tmp_path) == []
    over = errors(invoke_bot, feed(make_feed, tmp_path / "over", network, text="a" * (limits.text + 1)), tmp_path)
    assert over == [f"{tmp_path / 'over' / 'feed' / 'day.yaml'}:5: error: text is {limits.text + 1} characters on {network}, over its limit of {limits.text}"]


def test_bluesky_counts_bytes_too(tmp_path, make_feed, invoke_bot):
    """300 family emoji are 300 graphemes but 7,500 bytes: the PDS refuses them (maximum 3000)."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    found = errors(invoke_bot, feed(make_feed, tmp_path, "bluesky", text=family * 300), tmp_path)
    assert found == [f"{tmp_path / 'feed' / 'day.yaml'}:5: error: text is 7500 bytes of UTF-8 on bluesky, over its limit of 3000 bytes"]


@pytest.mark.parametrize("network", NETWORKS)
def test_image_bytes_at_the_limit_pass_and_one_more_is_a_located_error(network, tmp_path, make_feed, invoke_bot):
    most = publishers.load(network).limits.image_bytes
    ok = feed(make_feed, tmp_path / "ok", network, images=[("big.png", png(most))])
    assert errors(invoke_bot, ok, tmp_path) == []
    over = feed(make_feed, tmp_path / "over", network, images=[("big.png", png(most + 1))])
    assert errors(invoke_bot, over, tmp_path) == [
        f"{tmp_path / 'over' / 'feed' / 'day.yaml'}:7: error: image 'big.png' is {most + 1} bytes; {network} takes at most {most}"]


def test_the_1229883_byte_png_on_bluesky_is_reported_by_check(tmp_path, make_feed, invoke_bot):
    found = errors(invoke_bot, feed(make_feed, tmp_path, "bluesky", images=[("photo.png", png(1_229_883))]), tmp_path)
    assert found == [f"{tmp_path / 'feed' / 'day.yaml'}:7: error: image 'photo.png' is 1229883 bytes; bluesky takes at most 1000000"]


@pytest.mark.parametrize("network", NETWORKS)
def test_alt_text_and_image_count_limits(network, tmp_path, make_feed, invoke_bot):
    limits = publishers.load(network).limits
    ok = feed(make_feed, tmp_path / "ok", network, images=[("a.png", png(100))], alt="a" * limits.alt_text)
    assert errors(invoke_bot, ok, tmp_path) == []
    long_alt = feed(make_feed, tmp_path / "alt", network, images=[("a.png", png(100))], alt="a" * (limits.alt_text + 1))
    assert errors(invoke_bot, long_alt, tmp_path) == [
        f"{tmp_path / 'alt' / 'feed' / 'day.yaml'}:7: error: alt text is {limits.alt_text + 1} characters on {network}, over its limit of {limits.alt_text}"]
    five = feed(make_feed, tmp_path / "five", network, images=[(f"{i}.png", png(100)) for i in range(limits.images + 1)])
    assert [e.split(": error: ")[1] for e in errors(invoke_bot, five, tmp_path)] == [f"{limits.images + 1} images: at most 4 per post"]


@pytest.mark.parametrize("network", NETWORKS)
def test_persona_names_bios_and_avatars_fit_the_profile(network, tmp_path, make_feed, invoke_bot):
    limits = publishers.load(network).limits
    fits = feed(make_feed, tmp_path / "ok", network, name="N" * limits.profile_name, bio="b" * limits.profile_bio,
                avatar=png(min(limits.profile_image_bytes, 5000)))
    assert errors(invoke_bot, fits, tmp_path) == []
    where = f"{tmp_path / 'over' / 'feed' / 'feed.yaml'}:7: error: persona 'p': "
    over = feed(make_feed, tmp_path / "over", network, name="N" * (limits.profile_name + 1), bio="b" * (limits.profile_bio + 1),
                avatar=png(limits.profile_image_bytes + 1))
    assert errors(invoke_bot, over, tmp_path) == [
        where + f"image 'avatar.png' is {limits.profile_image_bytes + 1} bytes; {network} takes at most {limits.profile_image_bytes} (profile image)",
        where + f"name is {limits.profile_name + 1} characters, over {network}'s limit of {limits.profile_name}",
        where + f"bio is {limits.profile_bio + 1} characters, over {network}'s limit of {limits.profile_bio}",
    ]


def test_a_type_the_network_does_not_take_is_an_error(tmp_path, make_feed, invoke_bot):
    found = errors(invoke_bot, feed(make_feed, tmp_path, "bluesky", avatar=None, images=[("clip.heic", b"heic")]), tmp_path)
    assert found == [f"{tmp_path / 'feed' / 'day.yaml'}:7: error: bluesky does not take image/heic ('clip.heic'; it takes image/gif, image/jpeg, image/png, image/webp)"]


def test_a_third_party_publisher_brings_its_own_limits(tmp_path, make_feed, invoke_bot, monkeypatch):
    from bot.publishers.base import Limits, Publisher

    class Tiny(Publisher):
        name = "tiny"
        limits = Limits(text=10, images=1, alt_text=5)

        def publish(self, post):
            return "1"

        def switch_persona(self, persona):
            return None

    monkeypatch.setitem(publishers.BUILTIN, "tiny", f"{__name__}:_TINY")
    monkeypatch.setitem(globals(), "_TINY", Tiny)
    publishers.load.cache_clear()
    try:
        root = feed(make_feed, tmp_path, "tiny", text="eleven char", images=[("a.png", png(100)), ("b.png", png(100))], alt="six ch")
        found = [e.split(": error: ")[1] for e in errors(invoke_bot, root, tmp_path)]
    finally:
        publishers.load.cache_clear()
    assert found == ["text is 11 characters on tiny, over its limit of 10", "2 images: tiny takes at most 1 per post",
                     "alt text is 6 characters on tiny, over its limit of 5", "alt text is 6 characters on tiny, over its limit of 5"]
