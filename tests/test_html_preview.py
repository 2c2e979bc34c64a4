"""The HTML preview page: escaping, links, storms, personas as worn, images, threads, the CLI."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.views.html import linkify, page_for, render, render_problems
from bot.load import load
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
OLD_PNG = b"\x89PNG\r\n\x1a\nold-avatar"
NEW_PNG = b"\x89PNG\r\n\x1a\nnew-avatar"
PICTURE = b"\x89PNG\r\n\x1a\npicture"
EVIL = '<script>alert("x")</script> & <b>bold</b>'

FEED_YAML = """\
title: Test <Feed>
timezone: Europe/Berlin
years_later: 100
accounts:
  desk:
    platform: [x, mastodon]
    persona: old
  wire:
    platform: console
    persona: wire
personas:
  old: {name: Old Desk, bio: "Historical reenactment.", avatar: media/old.png}
  new: {name: New Desk, bio: "Historical reenactment.", avatar: media/new.png}
  wire: {name: The Wire, bio: "Historical reenactment."}
"""

POSTS_YAML = """\
date: 1925-03-01
posts:
  - time: "09:00"
    account: desk
    id: first
    text: "Read https://example.org/a?b=1&c=2. Not javascript:alert(1) nor <i>this</i>."
  - time: "09:30"
    account: wire
    id: evil
    text: '<script>alert("x")</script> & <b>bold</b>'
  - time: "10:00"
    account: wire
    id: reply-to-first
    reply_to: first
    text: "A reply to the first post."
  - time: "11:00"
    account: desk
    id: stormed
    storm: new
    text: "Under new management."
    media:
      - file: media/picture.png
        alt: 'A "quoted" <picture> of the press'
  - time: "12:00"
    account: desk
    id: after
    text: "Second post as the new desk."
  - time: "09:00"
    date: 1925-03-02
    account: wire
    id: next-day
    reply_to: after
    text: "A reply on the next day."
"""


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None) -> None:
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def find_all(self, tag: str, **attrs) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(n.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class Tree(HTMLParser):
    VOID = {"meta", "link", "img", "input", "br", "hr", "source"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in self.VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def make_feed(root: Path, posts: str = POSTS_YAML) -> Path:
    (root / "media").mkdir(parents=True)
    (root / "media" / "old.png").write_bytes(OLD_PNG)
    (root / "media" / "new.png").write_bytes(NEW_PNG)
    (root / "media" / "picture.png").write_bytes(PICTURE)
    (root / "feed.yaml").write_text(FEED_YAML, encoding="utf-8")
    (root / "1925.yaml").write_text(posts, encoding="utf-8")
    return root


def data_uri(content: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(content).decode()


@pytest.fixture
def feed(tmp_path):
    loaded = load(Settings(posts=make_feed(tmp_path / "feed"), display="feed", env={}), now=NOW)
    assert loaded.ok, [str(d) for d in loaded.diagnostics]
    return loaded


@pytest.fixture
def page(feed):
    html = render(feed, feed.timeline.events)
    return html, Tree(html).root


def article(root: Node, entry_id: str) -> Node:
    (found,) = root.find_all("article", data_id=entry_id)
    return found


def test_script_in_a_text_shows_as_text(page):
    html, root = page
    assert html.count("<script") == 2  # the replay steps (JSON) and the page's own script
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;' in html
    (text,) = [p for p in article(root, "evil").find_all("p") if "text" in p.classes()]
    assert text.text() == EVIL
    assert not article(root, "evil").find_all("b")


def test_urls_become_links_and_nothing_else_does(page):
    _, root = page
    links = article(root, "first").find_all("a")
    assert [a.attrs["href"] for a in links] == ["https://example.org/a?b=1&c=2"]
    assert links[0].text() == "https://example.org/a?b=1&c=2"
    text = [p for p in article(root, "first").find_all("p") if "text" in p.classes()][0].text()
    assert text.endswith("c=2. Not javascript:alert(1) nor <i>this</i>.")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see (https://a.org/x)", 'see (<a href="https://a.org/x" rel="noopener noreferrer">https://a.org/x</a>)'),
        ("https://en.wikipedia.org/wiki/Aurora_(ship)!", '<a href="https://en.wikipedia.org/wiki/Aurora_(ship)" rel="noopener noreferrer">https://en.wikipedia.org/wiki/Aurora_(ship)</a>!'),
        ('https://x.org/"onmouseover="alert(1)', '<a href="https://x.org/" rel="noopener noreferrer">https://x.org/</a>"onmouseover="alert(1)'),
        ("http://", "http://"),
        ("a < b & c", "a &lt; b &amp; c"),
    ],
)
def test_linkify(text, expected):
    assert linkify(text) == expected


def test_every_event_is_one_article_with_its_data_attributes(feed, page):
    _, root = page
    articles = root.find_all("article")
    assert sorted(a.attrs["data-id"] for a in articles) == sorted(e.id for e in feed.timeline.events)
    for event in feed.timeline.events:
        node = article(root, event.id)
        assert node.attrs["data-account"] == event.account
        assert node.attrs["data-instant"] == event.instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    # 09:00 Europe/Berlin (CET, +01:00) on 1 March 2025 is 08:00 UTC
    assert article(root, "first").attrs["data-instant"] == "2025-03-01T08:00:00Z"


def test_storm_is_a_visible_event_and_personas_are_worn_as_published(page):
    html, root = page
    stormed = article(root, "stormed")
    (note,) = [d for d in stormed.find_all("div") if "storm" in d.classes()]
    assert "desk is now New Desk" in note.text()
    assert "was Old Desk" in note.text()
    names = {entry: [s.text() for s in article(root, entry).find_all("span") if "name" in s.classes()] for entry in ("first", "stormed", "after")}
    assert names == {"first": ["Old Desk"], "stormed": ["New Desk"], "after": ["New Desk"]}

    def card_avatar(entry):
        (card,) = [d for d in article(root, entry).find_all("div") if "card" in d.classes()]
        return [img.attrs["src"] for img in card.find_all("img") if "avatar" in img.classes()]

    assert card_avatar("first") == [data_uri(OLD_PNG)]
    assert card_avatar("stormed") == card_avatar("after") == [data_uri(NEW_PNG)]
    # a persona without an avatar gets initials, not a broken image
    assert not card_avatar("evil")
    assert "TW" in article(root, "evil").text()


def test_every_image_has_alt_text_and_is_inline(page):
    html, root = page
    images = root.find_all("img")
    assert images
    for img in images:
        assert img.attrs.get("alt"), img.attrs
        assert img.attrs["src"].startswith("data:image/png;base64,")
    (figure,) = article(root, "stormed").find_all("figure")
    (picture,) = figure.find_all("img")
    assert picture.attrs["src"] == data_uri(PICTURE)
    assert picture.attrs["alt"] == 'A "quoted" <picture> of the press'
    assert 'A "quoted" <picture> of the press' in figure.find_all("figcaption")[0].text()


def test_page_is_self_contained(page):
    html, root = page
    assert not root.find_all("link", rel="stylesheet")
    assert all("src" not in s.attrs for s in root.find_all("script"))
    assert re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', html) == ["https://example.org/a?b=1&amp;c=2"]


def test_replies_follow_their_parent_with_a_marker(page):
    _, root = page
    (first_day, second_day) = root.find_all("section")
    order = [a.attrs["data-id"] for a in first_day.find_all("article")]
    assert order == ["first", "reply-to-first", "evil", "stormed", "after"]
    reply = article(root, "reply-to-first")
    assert reply.attrs["data-depth"] == "1" and "reply" in reply.classes()
    (marker,) = [p for p in reply.find_all("p") if "reply-to" in p.classes()]
    assert "Replying to Old Desk" in marker.text()
    assert marker.find_all("a")[0].attrs["href"] == "#entry-first"
    # a reply on a later day stays in its own day, unindented, still marked
    nxt = article(second_day, "next-day")
    assert nxt.attrs["data-depth"] == "0"
    assert "Replying to New Desk" in nxt.text()


def test_days_are_headed_and_times_are_in_the_replay_zone(page):
    _, root = page
    assert [h.text() for h in root.find_all("h2")] == ["Saturday 1 March 2025", "Sunday 2 March 2025"]
    (clock,) = [t for t in article(root, "first").find_all("time")]
    assert clock.text() == "09:00"
    assert clock.attrs["datetime"] == "2025-03-01T09:00:00+01:00"
    assert root.find_all("main") and root.find_all("h1")[0].text() == "Test <Feed>"


def test_cross_posting_badges(page):
    _, root = page
    def badges(entry):
        (ul,) = article(root, entry).find_all("ul")
        return [li.text() for li in ul.find_all("li")]
    assert badges("first") == ["X", "Mastodon"]
    assert badges("evil") == ["Console"]


def test_time_travel_steps_cover_every_instant(feed, page):
    import json

    _, root = page
    (steps,) = root.find_all("script", id="replay-steps")
    data = json.loads(steps.text())
    assert [s["instant"] for s in data] == sorted({e.instant.strftime("%Y-%m-%dT%H:%M:%SZ") for e in feed.timeline.events})
    assert data[0]["label"] == "Sat 1 Mar 2025, 09:00 CET"
    assert root.find_all("input", type="range") and len(root.find_all("input", type="checkbox")) == 2


def test_problems_page_escapes_check_messages(tmp_path):
    feed = make_feed(tmp_path / "feed", POSTS_YAML.replace('time: "12:00"', 'time: "25:00"') + "  - {time: '<b>', account: desk, text: x}\n")
    loaded = load(Settings(posts=feed, display="feed", env={}), now=NOW)
    assert not loaded.ok
    html = page_for(loaded, lambda _: pytest.fail("no events for a broken feed"), live=3)
    root = Tree(html).root
    lines = [li.text() for li in root.find_all("li")]
    assert lines == [str(d) for d in loaded.diagnostics]
    assert any(line.startswith("feed/1925.yaml:") and ": error: " in line and "<b>" in line for line in lines)
    assert "<b>" not in html.split("<body", 1)[1]
    assert root.find_all("body")[0].attrs["data-live"] == "3"
    assert "error" in root.find_all("li")[0].classes()
    assert render_problems(["x: <i>"]).count("&lt;i&gt;") == 1


def test_cli_writes_the_page_and_prints_its_path(tmp_path, monkeypatch):
    feed = make_feed(tmp_path / "feed")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["--posts", str(feed), "preview", "--format", "html"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "preview.html"
    assert 'data-id="stormed"' in (tmp_path / "preview.html").read_text(encoding="utf-8")

    result = runner.invoke(cli, ["--posts", str(feed), "preview", "--format", "html", "--out", "-", "--account", "wire"])
    assert result.exit_code == 0
    ids = re.findall(r'<article [^>]*data-id="([^"]+)"', result.stdout)
    assert ids == ["evil", "reply-to-first", "next-day"]

    out = tmp_path / "sub.html"
    result = runner.invoke(cli, ["--posts", str(feed), "preview", "--format", "html", "--out", str(out), "--from", "2025-03-02"])
    assert result.exit_code == 0 and result.stdout.strip() == str(out)
    assert re.findall(r'data-id="([^"]+)"', out.read_text(encoding="utf-8")) == ["next-day"]


def test_cli_refuses_an_invalid_feed_and_bad_options(tmp_path, monkeypatch):
    feed = make_feed(tmp_path / "feed", POSTS_YAML.replace("account: wire\n    id: evil", "account: nobody\n    id: evil"))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["--posts", str(feed), "preview", "--format", "html"])
    assert result.exit_code == 1
    assert re.search(r"^.*1925\.yaml:\d+: error: .*nobody", result.stderr, re.M)
    page = (tmp_path / "preview.html").read_text()  # the valid rest is shown; the problem exits 1
    assert 'data-id="evil"' not in page and page.count("<article") >= 1
    result = runner.invoke(cli, ["--posts", str(REPO / "posts"), "preview", "--format", "json", "--out", "x.html"])
    assert result.exit_code == 2 and "--out goes with --format html" in result.stderr
    result = runner.invoke(cli, ["--posts", str(REPO / "posts"), "preview", "--serve", "--from", "yesterday"])
    assert result.exit_code == 2 and "not an ISO date" in result.stderr
