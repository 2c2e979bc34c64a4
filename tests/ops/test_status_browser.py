"""The status page in Debian's Chromium (Playwright): it loads without a console error,
asks for nothing but itself, and reloads itself."""

from __future__ import annotations

import os
import shutil

import pytest

from bot.errors import RejectedError
from tests.ops.support import rehearsal, running, scripted_service, wait_until
from tests.support.engine import ScriptedNetwork
from tests.support.feeds import story

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine (apt-get install chromium)"),
]


def test_the_status_page_loads_without_console_errors_and_refreshes(tmp_path):
    from playwright.sync_api import sync_playwright

    feed = story(tmp_path / "feed", {"a": "x", "b": ["x", "mastodon"]}, [
        {"date": "1927-01-01", "time": f"10:0{i}", "account": ("a", "b")[i % 2], "id": f"e{i}", "text": f"Entry {i}."}
        for i in range(4)])
    net = ScriptedNetwork("x")
    net.fail("post", None, RejectedError("403 Forbidden"))
    service = scripted_service(feed, tmp_path / "ledger.sqlite3", {"x": net, "mastodon": ScriptedNetwork("mastodon")},
                               {"BOT_HTTP": "127.0.0.1:0"}, rehearsal(0.3, speed=600))
    with running(service) as ops:
        wait_until(service.finished, 15, "the rehearsal to settle")
        ops.refresh = ops.http.httpd.ops.refresh = 1
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 900, "height": 900})
            problems, requests = [], []
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            # a refresh the browser itself cancels (the next one, or the close, came first on a busy
            # machine) is not a failure of the page; any other failure is
            page.on("requestfailed", lambda r: r.failure != "net::ERR_ABORTED"
                    and problems.append(f"request failed: {r.url} ({r.failure})"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(ops.http.url)
            assert page.title() == "Story: status"
            assert page.inner_text(".health") == "healthy"
            counts = {page.text_content(f".counts li:nth-child({i}) .label"): page.text_content(f".counts li:nth-child({i}) .n")
                      for i in range(1, 7)}
            assert counts["posted"] == "5" and counts["failed"] == "1"
            assert "1927-01-01.yaml" in page.inner_text(".problems") and "403 Forbidden" in page.inner_text(".problems")
            page.wait_for_timeout(2500)  # Refresh: 1
            browser.close()
    assert problems == []
    assert len(requests) >= 2 and all(url == ops.http.url for url in requests), requests
