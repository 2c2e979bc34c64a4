"""The feed as one self-contained HTML page: a social timeline authors can open offline.

`render(loaded, events)` lays the chosen events out by replay day, each entry
with the persona worn at that moment, its replies indented right after it and
storms as events of their own. Styles, script and images are inline (images as
base64 `data:` URIs), so the file opens from disk with no network.
`render_problems(lines)` is the page shown instead while the feed has errors.
With `live=VERSION` the page listens on `/events` and reloads itself (see
`bot.views.server`). The page's CSS, JS and shell live in `bot/html/`.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from string import Template

from bot.feed.diagnostics import summary
from bot.feed.folder import inside
from bot.replay.timeline import Event

URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
TRAILING = ".,;:!?'\")]}"
MAX_INDENT = 3


@cache
def asset(name: str) -> str:
    return resources.files("bot.views").joinpath("assets", name).read_text(encoding="utf-8")


def linkify(text: str) -> str:
    """`text` as HTML: http(s) URLs become links, everything else is escaped."""
    out, pos = [], 0
    for match in URL.finditer(text):
        url = match.group(0)
        while url and url[-1] in TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url = url[:-1]
        if "://" not in url or url.endswith("://"):
            continue
        start = match.start()
        out.append(escape(text[pos:start], quote=False))
        out.append(f'<a href="{escape(url)}" rel="noopener noreferrer">{escape(url, quote=False)}</a>')
        pos = start + len(url)
    out.append(escape(text[pos:], quote=False))
    return "".join(out)


def script_json(value) -> str:
    """JSON safe to place inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def utc(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def clock(local: datetime) -> str:
    return f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"


class Images:
    """Files of the feed folder as data: URIs, each read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, str | None] = {}

    def uri(self, relative: str | None) -> str | None:
        if not relative:
            return None
        if relative not in self.cache:
            self.cache[relative] = self._read(relative)
        return self.cache[relative]

    def _read(self, relative: str) -> str | None:
        target = inside(self.root, relative)
        if target is None or not target.is_file():
            return None
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return f"data:{kind};base64,{base64.b64encode(target.read_bytes()).decode('ascii')}"


def page(title: str, body: str, *, live: int | None = None) -> str:
    attribute = "" if live is None else f' data-live="{live}"'
    return Template(asset("page.html")).substitute(
        title=escape(title), css=asset("preview.css"), js=asset("preview.js"), body_attributes=attribute, body=body
    )


def render_problems(lines: list[str], *, title: str = "Feed preview", summary: str = "", live: int | None = None) -> str:
    """The page shown while the feed has errors: check's messages, escaped, one per line."""
    items = "\n".join(
        f'<li class="{"error" if ": error: " in line else "warning"}"><code>{escape(line, quote=False)}</code></li>'
        for line in lines
    )
    hint = "<p>Fix them and save: this page reloads by itself.</p>" if live is not None else ""
    tail = f'<p class="summary">{escape(summary, quote=False)}</p>' if summary else ""
    body = (
        f'<main class="problems-page"><h1>{escape(title, quote=False)}: the feed has errors</h1>{hint}'
        f'<ul class="problems">\n{items}\n</ul>{tail}</main>'
    )
    return page(f"{title}: errors", body, live=live)


def page_for(loaded, pick: Callable[..., list[Event]], *, live: int | None = None) -> str:
    """The preview of a loaded feed (the events `pick(loaded)` chooses), or check's
    messages while it has errors."""
    if loaded.ok:
        return render(loaded, pick(loaded), live=live)
    title = (loaded.feed.config.title if loaded.feed.config else "") or "Feed preview"
    lines = [str(d) for d in loaded.diagnostics]
    return render_problems(lines, title=title, summary=summary(loaded.diagnostics, loaded.feed.files, len(loaded.feed.entries)), live=live)


def write(html: str, target: str) -> str | None:
    """Write the page to the file `target` ('-': stdout). The path written, None for stdout."""
    if target == "-":
        sys.stdout.write(html)
        sys.stdout.flush()
        return None
    Path(target).write_text(html, encoding="utf-8")
    return target


def render(loaded, events: list[Event], *, live: int | None = None) -> str:
    """The preview page of a valid loaded feed, showing `events` (in replay order)."""
    return Renderer(loaded).document(events, live)


class Renderer:
    def __init__(self, loaded) -> None:
        self.config = loaded.feed.config
        self.timeline = loaded.timeline
        self.zone = self.timeline.zone
        self.warnings = [str(d) for d in loaded.diagnostics]
        self.images = Images(loaded.feed.root)
        self.events = self.timeline.by_id()

    # -- the page ---------------------------------------------------------

    def document(self, events: list[Event], live: int | None) -> str:
        days = "\n".join(self.day(day, group) for day, group in by_day(events, self.zone))
        body = "\n".join([
            self.header(events),
            self.controls(events),
            f'<main id="timeline">\n{days}\n<p id="empty" class="empty" hidden>Nothing to show at this moment for these accounts.</p>\n</main>',
            f'<script type="application/json" id="replay-steps">{script_json(self.steps(events))}</script>',
        ])
        return page(self.config.title, body, live=live)

    def header(self, events: list[Event]) -> str:
        config = self.config
        description = f'<p class="description">{linkify(config.description)}</p>' if config.description else ""
        entries = f"{len(events)} {'entry' if len(events) == 1 else 'entries'}"
        warnings = ""
        if self.warnings:
            items = "".join(f"<li><code>{escape(w, quote=False)}</code></li>" for w in self.warnings)
            noun = "warning" if len(self.warnings) == 1 else "warnings"
            warnings = f'<details class="warnings"><summary>{len(self.warnings)} {noun} from check</summary><ul>{items}</ul></details>'
        return (
            f'<header class="feed-header"><h1>{escape(config.title, quote=False)}</h1>{description}'
            f'<p class="meta">Replayed {self.timeline.years_later} years later · times in {escape(self.zone.key)} · {entries}</p>'
            f"{warnings}</header>"
        )

    def controls(self, events: list[Event]) -> str:
        shown = {event.account for event in events}
        boxes = []
        for key, account in self.config.accounts.items():
            if key not in shown:
                continue
            persona = self.config.personas.get(self.timeline.initial.get(key) or "")
            name = persona.name if persona else key
            boxes.append(
                f'<label class="chip"><input type="checkbox" name="account" value="{escape(key)}" checked>'
                f"{self.avatar(persona, 'small')}<span>{escape(name, quote=False)} <span class=\"handle\">@{escape(key, quote=False)}</span></span></label>"
            )
        return (
            '<form id="controls" class="controls" hidden aria-label="Replay controls">'
            '<div class="travel"><label for="moment">Feed as it stands at</label>'
            '<output id="moment-label" for="moment"></output><span id="shown-count" class="count"></span>'
            '<input type="range" id="moment" min="0" max="0" step="1" value="0"></div>'
            f'<fieldset class="accounts"><legend>Accounts</legend>{"".join(boxes)}</fieldset>'
            "</form>"
        )

    def steps(self, events: list[Event]) -> list[dict]:
        """Each distinct replay instant with a readable label, for the time-travel control."""
        out = []
        for instant in sorted({event.instant for event in events}):
            local = instant.astimezone(self.zone)
            out.append({"instant": utc(instant), "label": f"{local:%a} {local.day} {local:%b %Y}, {clock(local)} {local:%Z}"})
        return out

    # -- days and entries -------------------------------------------------

    def day(self, day, group: list[tuple[Event, int]]) -> str:
        heading = f"{day:%A} {day.day} {day:%B %Y}"
        anchor = f"day-{day.isoformat()}"
        entries = "\n".join(self.entry(event, depth) for event, depth in group)
        return (
            f'<section class="day" aria-labelledby="{anchor}"><h2 id="{anchor}">{heading}</h2>\n'
            f"{entries}\n</section>"
        )

    def entry(self, event: Event, depth: int) -> str:
        entry = event.entry
        local = event.instant.astimezone(self.zone)
        classes = ["entry"] + (["reply"] if entry.reply_to else []) + (["has-storm"] if entry.storm else [])
        attributes = (
            f'id="entry-{escape(entry.id)}" class="{" ".join(classes)}" data-id="{escape(entry.id)}" '
            f'data-account="{escape(entry.account)}" data-instant="{utc(event.instant)}" data-depth="{min(depth, MAX_INDENT)}"'
        )
        storm = self.storm(event, local) if entry.storm else ""
        card = self.card(event, local) if entry.text is not None else ""
        return f"<article {attributes}>{storm}{card}</article>"

    def storm(self, event: Event, local: datetime) -> str:
        was, now = self.persona(event.previous), self.persona(event.persona)
        was_name = was.name if was else (event.previous or "?")
        now_name = now.name if now else (event.persona or "?")
        return (
            f'<div class="storm" role="note">{self.avatar(was, "small")}<span class="arrow" aria-hidden="true">→</span>{self.avatar(now, "small")}'
            f'<p><strong>{escape(event.account, quote=False)} is now {escape(now_name, quote=False)}</strong>'
            f' <span class="storm-meta"><time datetime="{local.isoformat()}">{clock(local)}</time>'
            f" · was {escape(was_name, quote=False)}</span></p></div>"
        )

    def card(self, event: Event, local: datetime) -> str:
        entry = event.entry
        persona = self.persona(event.persona)
        name = persona.name if persona else (event.persona or entry.account)
        reply = ""
        if entry.reply_to:
            parent = self.persona(self.events[entry.reply_to].persona) if entry.reply_to in self.events else None
            to = parent.name if parent else entry.reply_to
            reply = (
                f'<p class="reply-to"><span aria-hidden="true">↳</span> Replying to '
                f'<a href="#entry-{escape(entry.reply_to)}">{escape(to, quote=False)}</a></p>'
            )
        figures = "".join(self.figure(media) for media in entry.media)
        platforms = "".join(
            f"<li>{escape(_network_name(p), quote=False)}</li>" for p in self.config.accounts[entry.account].platforms
        )
        return (
            f'<div class="card">{self.avatar(persona, "")}<div class="body">'
            f'<header><span class="name">{escape(name, quote=False)}</span> '
            f'<span class="handle">@{escape(entry.account, quote=False)}</span> · '
            f'<time datetime="{local.isoformat()}" title="{local:%A %d %B %Y %H:%M:%S %Z}">{clock(local)}</time></header>'
            f'{reply}<p class="text">{linkify(entry.text)}</p>{figures}'
            f'<footer><span class="on">on</span><ul class="platforms" aria-label="Platforms">{platforms}</ul>'
            f'<code class="id">{escape(entry.id, quote=False)}</code></footer>'
            "</div></div>"
        )

    def figure(self, media) -> str:
        uri = self.images.uri(media.file)
        alt = media.alt or ""
        caption = (
            f'<figcaption><span class="badge">ALT</span> {escape(alt, quote=False)}</figcaption>'
            if alt
            else '<figcaption class="missing">No alt text</figcaption>'
        )
        if uri is None:
            return f'<figure class="media"><p class="missing">Missing file {escape(media.file, quote=False)}</p>{caption}</figure>'
        if uri.startswith("data:video/"):
            return f'<figure class="media"><video controls src="{uri}" aria-label="{escape(alt)}"></video>{caption}</figure>'
        return f'<figure class="media"><img src="{uri}" alt="{escape(alt)}">{caption}</figure>'

    # -- personas ---------------------------------------------------------

    def persona(self, key: str | None):
        return self.config.personas.get(key) if key else None

    def avatar(self, persona, size: str) -> str:
        css = f"avatar {size}".strip()
        uri = self.images.uri(persona.avatar) if persona else None
        if uri is None:
            name = persona.name if persona else "?"
            initials = "".join(word[0] for word in name.split()[:2]).upper() or "?"
            return f'<span class="{css} initials" aria-hidden="true">{escape(initials, quote=False)}</span>'
        return f'<img class="{css}" src="{uri}" alt="Avatar of {escape(persona.name)}">'


def by_day(events: list[Event], zone) -> list[tuple[object, list[tuple[Event, int]]]]:
    """Events grouped by replay day; within a day each reply comes right after its
    parent (depth-first, with its depth), the rest in replay order."""
    days: dict = {}
    for event in events:
        days.setdefault(event.instant.astimezone(zone).date(), []).append(event)
    out = []
    for day, group in days.items():
        ids = {event.id for event in group}
        children: dict[str, list[Event]] = defaultdict(list)
        roots = []
        for event in group:
            parent = event.entry.reply_to
            (children[parent] if parent in ids else roots).append(event)
        ordered = []
        stack = [(event, 0) for event in reversed(roots)]
        while stack:
            event, depth = stack.pop()
            ordered.append((event, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(event.id, [])))
        out.append((day, ordered))
    return out


def _network_name(platform: str) -> str:
    """The network's name as its publisher writes it."""
    from bot import publishers

    try:
        return publishers.load(platform).title()
    except (LookupError, ImportError):
        return platform
