"""The live preview server without a browser: page, Server-Sent Events, rebuild on change."""

from __future__ import annotations

import io
import shutil
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.views.html import page_for
from bot.load import load
from bot.settings import Settings
from bot.views.server import PreviewServer, serve

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def build_for(feed: Path):
    def build(version: int) -> str:
        return page_for(load(Settings(posts=feed, display="posts", env={}, years_later=110), now=NOW), lambda loaded: loaded.timeline.events, live=version)
    return build


@pytest.fixture
def feed(tmp_path):
    target = tmp_path / "posts"
    shutil.copytree(REPO / "posts", target)
    return target


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


def next_version(url: str, seen: int, timeout: float = 5) -> int:
    """The version of the first `reload` event on the stream for a page of version `seen`."""
    with urllib.request.urlopen(f"{url}events?v={seen}", timeout=timeout) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        event = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event == "reload":
                return int(line[len("data: "):])
    raise AssertionError("stream ended without a reload event")


def test_serves_the_page_and_reloads_it_on_change(feed):
    with PreviewServer(feed, build_for(feed), port=0) as server:
        page = get(server.url)
        assert 'data-live="1"' in page and 'data-id="telegraph-stormed"' in page
        assert next_version(server.url, 0) == 1  # a stale page reloads at once

        day = feed / "1917-11-07.yaml"
        day.write_text(day.read_text(encoding="utf-8").replace("Kerensky has fled.", "Kerensky has gone."), encoding="utf-8")
        version = next_version(server.url, 1)
        assert version > 1
        page = get(server.url)
        assert "Kerensky has gone." in page and f'data-live="{version}"' in page

        day.write_text("posts: [\n", encoding="utf-8")
        assert next_version(server.url, version) > version
        page = get(server.url)
        assert 'class="problems"' in page and "1917-11-07.yaml:" in page and ": error: " in page

        with pytest.raises(urllib.error.HTTPError) as missing:
            get(server.url + "secrets.env")
        assert missing.value.code == 404


def test_a_failing_build_shows_its_message(feed):
    def build(version: int) -> str:
        raise ValueError("cannot <build>")

    with PreviewServer(feed, build, port=0) as server:
        page = get(server.url)
        assert "error: ValueError: cannot &lt;build&gt;" in page
        assert 'data-live="1"' in page


def test_listens_on_localhost_only_and_reports_a_taken_port(feed):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = io.StringIO()
        assert serve(feed, build_for(feed), port=port, out=io.StringIO(), err=err) == 1
        assert err.getvalue().startswith(f"error: cannot listen on 127.0.0.1:{port}:")
    with PreviewServer(feed, build_for(feed), port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")


def test_a_missing_feed_folder_is_a_located_error(tmp_path):
    err = io.StringIO()
    assert serve(tmp_path / "nope", build_for(tmp_path), port=0, out=io.StringIO(), err=err) == 1
    assert err.getvalue() == f"{tmp_path / 'nope'}:1: error: feed folder not found\n"
