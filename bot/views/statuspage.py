"""The status page of a running service (BOT_HTTP, `/`): what `bot status` says
(`bot.views.status.report`), as HTML in the look of the preview, reloading itself.

Read only: no form, no script of its own; the server sends `Refresh:`. Reasons
come from the ledger, where a network's error message may stand: they are masked
like log lines (`bot.run.logs.Redact`) before they reach the page.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from string import Template

from bot.views.html import asset
from bot.views.status import STATES

REFRESH = 30  # seconds


def render(data: dict, *, title: str, zone: str, health: dict, now: str, refresh: int = REFRESH,
           source_of: Callable[[str], str] = lambda entry_id: "", clean: Callable[[str], str] = lambda text: text) -> str:
    """The page for `report()`'s `data`; `health` is /healthz's body; `source_of(id)`
    gives `path:line` of an entry of the feed."""
    ok = health.get("status") == "ok"
    badge = "healthy" if ok else f"unhealthy: {health.get('reason', '')}"
    counts = "".join(
        f'<li class="{"bad" if state in ("failed", "uncertain", "missed") and data[state] else ""}">'
        f'<span class="n">{data[state]}</span><span class="label">{label}</span></li>'
        for state, label in [*((s, s) for s in STATES), ("pending", "pending"), ("claimed", "in flight")])
    header = (
        f'<header class="status-header"><h1>{esc(title)}</h1>'
        f'<p class="health {"ok" if ok else "bad"}" role="status">{esc(clean(badge))}</p>'
        f'<p class="meta">Status at {esc(now)} · times in {esc(zone)} · '
        f'<span class="refresh-note">this page refreshes every {refresh} s</span></p></header>'
    )
    body = [header, f'<main id="status"><ul class="counts" aria-label="Deliveries">{counts}</ul>',
            facts(data, source_of), personas(data), problems(data, source_of, clean), "</main>"]
    return Template(asset("page.html")).substitute(
        title=esc(f"{title}: status"), css=asset("preview.css") + asset("status.css"), js="", body_attributes="",
        body="\n".join(body))


def facts(data: dict, source_of) -> str:
    last, nxt = data["last"], data["next"]
    last_text = (f"{last['id']} ({last['account']} on {last['platform']}, remote id {last['remote_id']}, at {last['at']})"
                 if last else "none")
    next_text = f"{nxt['id']} at {nxt['scheduled']} ({nxt['account']} on {nxt['platform']})" if nxt else "none"
    where = source_of(nxt["id"]) if nxt else ""
    return (
        '<dl class="facts">'
        f"<dt>Last posted</dt><dd>{esc(last_text)}</dd>"
        f"<dt>Next due</dt><dd>{esc(next_text)}{f' <code>{esc(where)}</code>' if where else ''}</dd>"
        "</dl>"
    )


def personas(data: dict) -> str:
    rows = "".join(
        f"<tr><td>{esc(p['account'])}</td><td>{esc(p['platform'])}</td><td>{esc(p['worn'] or '')}</td>"
        f'<td class="{"" if p["worn"] == p["due"] else "due"}">{esc(p["due"] or "")}</td></tr>'
        for p in data["personas"])
    return (
        '<section class="status-section" aria-labelledby="personas"><h2 id="personas">Personas</h2>'
        '<table class="personas-table"><thead><tr><th scope="col">Account</th><th scope="col">Network</th>'
        f'<th scope="col">Worn</th><th scope="col">Due now</th></tr></thead><tbody>{rows}</tbody></table></section>'
    )


def problems(data: dict, source_of, clean) -> str:
    if not data["problems"]:
        return '<section class="status-section" aria-labelledby="problems"><h2 id="problems">Problems</h2><p>None.</p></section>'
    items = []
    for p in data["problems"]:
        what = f"switch to {p['persona']}" if p["kind"] == "switch" else p["id"]
        where = source_of(p["id"]) if p["id"] else ""
        line = f"{p['state']}: {what} ({p['account']} on {p['platform']})" + (f" at {where}" if where else "")
        if p["reason"]:
            line += f": {clean(p['reason'])}"
        css = "warning" if p["state"] == "missed" else "error"
        items.append(f'<li class="{css}"><code>{esc(line)}</code></li>')
    return ('<section class="status-section" aria-labelledby="problems"><h2 id="problems">Problems</h2>'
            f'<ul class="problems">{"".join(items)}</ul></section>')


def esc(text) -> str:
    return escape(str(text), quote=True)
