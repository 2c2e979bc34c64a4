#!/usr/bin/env python3
"""Draw the README screenshot: the sample feed's HTML preview around the storm.

Renders `bot preview --format html` of the sample feed (110 years later, so the
picture does not change from year to year), opens it in the system Chromium
through Playwright (never a downloaded browser), travels to the evening of the
storm and photographs the timeline from the Russian Telegraph's last dispatch
to the first posts of Revolutionary Times.

Usage: python scripts/screenshot.py [--posts posts] [--out docs/preview.png] [--width 720] [--height 1060]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

from bot.views.html import render
from bot.load import load

REPO = Path(__file__).resolve().parents[1]
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TRAVEL_TO = "1917-11-06T2010-telegraph"  # scrolled to the top, just under the controls
SHOW_UNTIL = "telegraph-stormed"  # the time-travel control stops a little after this entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", default=str(REPO / "posts"))
    parser.add_argument("--out", default=str(REPO / "docs" / "preview.png"))
    parser.add_argument("--width", type=int, default=720)
    parser.add_argument("--height", type=int, default=1060)
    args = parser.parse_args(argv)

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        print("error: no chromium binary (apt-get install chromium)", file=sys.stderr)
        return 1
    loaded = load(args.posts, args.posts, now=datetime.now(UTC), years_later=110)
    if not loaded.ok:
        for diagnostic in loaded.diagnostics:
            print(diagnostic, file=sys.stderr)
        return 1
    events = loaded.timeline.events
    stormed = next(i for i, e in enumerate(events) if e.id == SHOW_UNTIL)
    until = events[min(stormed + 3, len(events) - 1)].instant.strftime("%Y-%m-%dT%H:%M:%SZ")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        page_file = Path(folder) / "preview.html"
        page_file.write_text(render(loaded, events), encoding="utf-8")
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height}, color_scheme="light")
        page.goto(f"{page_file.as_uri()}#at={until}")
        page.wait_for_selector("#controls:not([hidden])")
        page.evaluate(
            """id => {
                const entry = document.querySelector(`article[data-id="${id}"]`);
                const bar = document.getElementById('controls').getBoundingClientRect().height;
                window.scrollTo(0, entry.getBoundingClientRect().top + window.scrollY - bar);
            }""",
            TRAVEL_TO,
        )
        page.screenshot(path=str(out))
        browser.close()
    print(f"{out} ({out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
