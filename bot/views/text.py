"""The feed as text for people: grouped by replay day, storms as events."""

from __future__ import annotations

from collections.abc import Iterable

from bot.replay.timeline import Event, Timeline


def text_lines(events: list[Event], timeline: Timeline, personas, style=lambda text, **_: text) -> Iterable[str]:
    """Grouped by replay day: time, display name, account, text, media, reply marker, storms."""
    day = None
    for event in events:
        entry = event.entry
        local = event.instant.astimezone(timeline.zone)
        if local.date() != day:
            if day is not None:
                yield ""
            day = local.date()
            yield style(f"{local:%A %d %B %Y} ({timeline.zone.key})", bold=True)
        name = personas[event.persona].name if event.persona in personas else event.persona
        clock = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
        if entry.storm:
            was = personas[event.previous].name if event.previous in personas else event.previous
            yield style(f"  {clock}  *** {entry.account} is now {name} (was {was}) ***", fg="red", bold=True)
            if entry.text is None:
                continue
        yield f"  {clock}  " + style(name, bold=True) + style(f" @{entry.account}", fg="cyan") + style(f"  [{entry.id}]", dim=True)
        if entry.reply_to:
            yield style(f"         ↳ reply to {entry.reply_to}", fg="yellow")
        for line in entry.text.splitlines() or [""]:
            yield f"         {line}"
        for media in entry.media:
            yield style(f"         [image {media.file}: {media.alt or 'no alt text'}]", fg="green")
