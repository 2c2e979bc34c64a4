"""The daily summary (BOT_NOTIFY_SUMMARY=HH:MM, in the replay zone): what was posted
yesterday, what is due today, and the problems still open."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from bot.ops.digest import Message


def next_summary(after: datetime, at: time, zone: tzinfo) -> datetime:
    """The first HH:MM in `zone` strictly after `after` (aware), as an aware UTC-comparable datetime."""
    local = after.astimezone(zone)
    day = local.date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), at, tzinfo=zone)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def day_bounds(day, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)


def summary(engine, now: datetime, *, title: str = "", health: str = "") -> Message:
    """The summary as of `now`: yesterday's outcomes (by their settling time), today's
    deliveries, the open problems (as `bot status` counts them)."""
    zone = engine.timeline.zone
    today = now.astimezone(zone).date()
    ledger = engine.ledger
    done = ledger.settled_between(*day_bounds(today - timedelta(days=1), zone))
    start, end = day_bounds(today, zone)
    with engine._lock:
        due = [d for d in engine.items if start <= d.instant < end]
    counts = ledger.counts()
    lines = [(f"yesterday ({today - timedelta(days=1)}): posted {done['posted']}, missed {done['missed']}, "
              f"failed {done['failed']}, uncertain {done['uncertain']}")]
    if due:
        first, last = due[0].instant.astimezone(zone), due[-1].instant.astimezone(zone)
        lines.append(f"today ({today}): {len(due)} due, first {first:%H:%M}, last {last:%H:%M} ({zone})")
    else:
        lines.append(f"today ({today}): nothing due")
    nxt = engine.next_due()
    if nxt is not None:
        lines.append(f"next due: {nxt.astimezone(zone):%Y-%m-%d %H:%M} ({zone})")
    problems = counts["failed"] + counts["missed"] + counts["uncertain"]
    lines.append(f"problems in the ledger: {counts['uncertain']} uncertain (bot resolve), {counts['failed']} failed, "
                 f"{counts['missed']} missed" if problems else "problems in the ledger: none")
    if health:
        lines.append(f"health: {health}")
    severity = "warning" if counts["uncertain"] or done["failed"] or done["missed"] or done["uncertain"] else "info"
    head = f"{title}: daily summary" if title else "daily summary"
    return Message("summary", head, "\n".join(lines), severity)
