"""`bot preview`: the chosen events of a loaded feed in each format."""

from __future__ import annotations


from bot.replay.schedule import Window


def window(loaded, settings) -> Window:
    """--from/--until/--account as a Window (ConfigError for an unknown account)."""
    settings.check_accounts(loaded.feed.config.accounts)
    return Window.of(settings.start, settings.end, settings.accounts, loaded.timeline.zone)


def chosen(loaded, settings) -> list:
    """The events `preview` shows: --from/--until (replay zone) and --account applied."""
    return window(loaded, settings).select(loaded.timeline.events)


def platforms(loaded) -> dict[str, tuple[str, ...]]:
    return {key: account.platforms for key, account in loaded.feed.config.accounts.items()}


def write_json(out, loaded, events) -> None:
    """One JSON line per event, from the cache's lines of the whole timeline when it has them."""
    from bot.views.jsonl import json_lines, write_lines

    lines = loaded.lines(json_lines, platforms(loaded))
    at = {id(event): i for i, event in enumerate(loaded.timeline.events)}
    write_lines(out, (lines[at[id(event)]] for event in events))


def text(loaded, events, style=None):
    from bot.views.text import text_lines

    if style is None:
        return text_lines(events, loaded.timeline, loaded.feed.config.personas)
    return text_lines(events, loaded.timeline, loaded.feed.config.personas, style)


def write_html(loaded, events, target: str) -> str | None:
    from bot.views.html import render, write

    return write(render(loaded, events), target)


def html_page(loaded, settings, *, live: int | None = None) -> str:
    """The page `--serve` shows: the preview, or check's messages while the feed has errors."""
    from bot.views.html import page_for

    return page_for(loaded, lambda ok: chosen(ok, settings), live=live)


def nothing_chosen(loaded, settings) -> str:
    """What to say when --from/--until/--account leave no entry."""
    if not loaded.timeline.events:
        return "the feed has no entries to show"
    zone = loaded.timeline.zone
    parts = []
    if settings.start:
        parts.append(f"from {settings.start.at(zone).isoformat()}")
    if settings.end:
        parts.append(f"until {settings.end.at(zone).isoformat()}")
    if settings.accounts:
        parts.append("of " + ", ".join(settings.accounts))
    return f"no entries {' '.join(parts)} (the feed replays {loaded.span().removeprefix('replays ')})"
