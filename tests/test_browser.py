"""The HTML preview in a real browser: Debian's Chromium driven by Playwright (never a downloaded one)."""

from __future__ import annotations

import base64
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.views.html import render
from bot.load import load
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    loaded = load(Settings(posts=REPO / "posts", display="posts", env={}, years_later=110), now=NOW)
    assert loaded.ok
    path = tmp_path_factory.mktemp("preview") / "preview.html"
    path.write_text(render(loaded, loaded.timeline.events), encoding="utf-8")
    return loaded, path


class Watched:
    """A page with everything that went wrong on it recorded."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(f"console {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}"))
        page.on("request", lambda r: self.requests.append(r.url))

    def entries(self) -> dict[str, dict]:
        rows = self.page.eval_on_selector_all(
            "article[data-id]",
            """els => els.map(e => ({
                id: e.dataset.id, account: e.dataset.account, instant: e.dataset.instant,
                visible: e.checkVisibility(),
                text: (e.querySelector('.text') || {}).innerText || null,
                name: (e.querySelector('.card .name') || {}).textContent || null,
                avatar: (e.querySelector('.card > img.avatar') || {}).src || null,
            }))""",
        )
        return {row["id"]: row for row in rows}


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 900, "height": 900})
    watched = Watched(context.new_page())
    yield watched
    context.close()


@pytest.fixture
def opened(tab, sample):
    tab.page.goto(sample[1].as_uri())
    tab.page.wait_for_selector("#controls:not([hidden])")
    return tab


def data_uri(relative: str) -> str:
    return "data:image/png;base64," + base64.b64encode((REPO / "posts" / relative).read_bytes()).decode()


def test_sample_page_loads_offline_with_no_console_errors(opened):
    assert opened.problems == []
    assert all(url.startswith(("file:", "data:")) for url in opened.requests), opened.requests
    assert opened.page.title() == "Petrograd 1917"


def test_every_entry_text_is_on_the_page(opened, sample):
    loaded, _ = sample
    shown = opened.entries()
    assert list(shown) == [a for a in shown]  # ids are unique
    assert sorted(shown) == sorted(e.id for e in loaded.timeline.events)
    for event in loaded.timeline.events:
        row = shown[event.id]
        assert row["visible"], event.id
        if event.entry.text is not None:
            assert " ".join(row["text"].split()) == " ".join(event.entry.text.split())


def test_after_the_storm_telegraph_shows_revolutionary_times(opened, sample):
    loaded, _ = sample
    shown = opened.entries()
    telegraph = [e for e in loaded.timeline.events if e.account == "telegraph" and e.entry.text]
    storm_at = next(e.instant for e in telegraph if e.entry.storm)
    before = [shown[e.id] for e in telegraph if e.instant < storm_at]
    after = [shown[e.id] for e in telegraph if e.instant >= storm_at]
    assert before and after
    assert {row["name"] for row in before} == {"Russian Telegraph"}
    assert {row["name"] for row in after} == {"Revolutionary Times"}
    assert {row["avatar"] for row in before} == {data_uri("media/telegraph.png")}
    assert {row["avatar"] for row in after} == {data_uri("media/revolutionary-times.png")}
    note = opened.page.locator('article[data-id="telegraph-stormed"] .storm')
    assert note.is_visible()
    assert "telegraph is now Revolutionary Times" in note.inner_text()


def test_time_travel_hides_later_entries(opened):
    page = opened.page
    steps = page.evaluate("JSON.parse(document.getElementById('replay-steps').textContent)")
    stormed = opened.entries()["telegraph-stormed"]["instant"]
    index = [s["instant"] for s in steps].index(stormed)
    page.locator("#moment").fill(str(index))
    rows = opened.entries().values()
    assert {r["id"] for r in rows if r["visible"]} == {r["id"] for r in rows if r["instant"] <= stormed}
    assert any(not r["visible"] for r in rows)
    assert page.locator("#moment-label").inner_text() == steps[index]["label"] == "Sat 6 Nov 2027, 20:30 MSK"
    assert "at=" in page.evaluate("location.hash")

    page.locator("#moment").focus()
    page.keyboard.press("Home")  # the keyboard works the native control
    visible = [r for r in opened.entries().values() if r["visible"]]
    assert [r["instant"] for r in visible] == [steps[0]["instant"]]
    page.keyboard.press("End")
    assert all(r["visible"] for r in opened.entries().values())
    assert opened.problems == []


def test_account_filter(opened):
    page = opened.page
    page.locator('input[name="account"][value="telegraph"]').focus()
    page.keyboard.press("Space")
    rows = opened.entries().values()
    assert all(not r["visible"] for r in rows if r["account"] == "telegraph")
    assert all(r["visible"] for r in rows if r["account"] != "telegraph")
    page.reload()  # the choice survives a reload (as after a live edit)
    page.wait_for_selector("#controls:not([hidden])")
    assert not page.locator('input[value="telegraph"]').is_checked()
    assert all(not r["visible"] for r in opened.entries().values() if r["account"] == "telegraph")


def test_every_image_has_alt_text_and_loads(opened):
    images = opened.page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('alt'), e.naturalWidth])")
    assert len(images) > 40
    assert all(alt and width > 0 for alt, width in images), images
    masthead = opened.page.locator('article[data-id="telegraph-stormed"] figure img')
    assert masthead.get_attribute("alt").startswith("Front page masthead")


def test_readable_on_a_phone_and_keyboard_focus_is_visible(browser, sample):
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(sample[1].as_uri())
    page.wait_for_selector("#controls:not([hidden])")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "moment":
            break
    assert page.evaluate("document.activeElement.id") == "moment"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    context.close()


def read_url(proc: subprocess.Popen, timeout: float = 15) -> str:
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline and not line.endswith("\n"):
        if selector.select(deadline - time.monotonic()):
            chunk = os.read(proc.stdout.fileno(), 4096).decode()
            if not chunk:
                break
            line += chunk
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert match, f"no URL in {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
    return match.group(0)


@pytest.fixture
def served(tmp_path):
    feed = tmp_path / "posts"
    shutil.copytree(REPO / "posts", feed)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env["PYTHONFAULTHANDLER"] = "1"  # a server that Ctrl-C does not stop shows its threads (below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--posts", str(feed), "preview", "--serve", "--port", "0", "--years-later", "110"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_from_a_terminal,
    )
    try:
        yield feed, read_url(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                masks = signal_masks(proc.pid)
                proc.send_signal(signal.SIGABRT)
                proc.wait()
                pytest.fail(f"Ctrl-C did not stop the server within 10 s ({masks}):\n{proc.stderr.read().decode()}")
    assert proc.returncode == 0, proc.stderr.read().decode()


def as_from_a_terminal() -> None:
    """In the server's process before it starts: SIGINT as a terminal gives it (its default
    action, not blocked), whatever this test process happens to have inherited or set."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_masks(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "no /proc"
    return ", ".join(line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def test_live_reload_shows_an_edit_and_check_messages(tab, served):
    from playwright.sync_api import expect

    feed, url = served
    page = tab.page
    page.goto(url)
    first = page.locator('article[data-id="telegraph-workers-way-sealed"] .text')
    expect(first).to_contain_text("Good morning from Petrograd.")
    day = feed / "1917-11-06.yaml"
    original = day.read_text(encoding="utf-8")

    day.write_text(original.replace("Good morning from Petrograd.", "Good morning, edited live."), encoding="utf-8")
    expect(first).to_contain_text("Good morning, edited live.", timeout=3000)

    day.write_text(original.replace("account: kerensky", "account: kerensky_typo", 1), encoding="utf-8")
    problems = page.locator(".problems li")
    expect(problems.first).to_contain_text("1917-11-06.yaml:", timeout=3000)
    expect(problems.first).to_contain_text(": error: ")
    expect(problems.first).to_contain_text("kerensky_typo")

    day.write_text(original, encoding="utf-8")
    expect(first).to_contain_text("Good morning from Petrograd.", timeout=3000)
    assert [p for p in tab.problems if "/events" not in p] == []
