"""`bot status`: what the ledger says happened, against what the feed says should."""

from __future__ import annotations

from datetime import datetime

from bot.feed.diagnostics import Diagnostic, warning
from bot.replay.schedule import Rehearsal, deliveries
from bot.replay.timeline import Timeline
from bot.run.ledger import REHEARSAL, BaseLedger

STATES = ("posted", "missed", "failed", "uncertain")


def report(timeline: Timeline, config, ledger: BaseLedger | None, now: datetime) -> dict:
    """Counts per state (deliveries), pending (the feed's deliveries with no row), last, next, problems;
    with a PostgreSQL ledger also `ha`: the active process and the standbys."""
    platforms = {key: account.platforms for key, account in config.accounts.items()}
    override = None
    if ledger is not None and ledger.networks() == {"console"} and not any("console" in p for p in platforms.values()):
        override = "console"  # a dry run's ledger: every account went to the console
        platforms = {key: ("console",) for key in platforms}
    items = deliveries(timeline, platforms, network_override=override)
    known = ledger.states_for([d.key for d in items]) if ledger else {}
    counts = ledger.counts() if ledger else {}
    pending = [d for d in items if tuple(d.key) not in known]
    rehearsal = Rehearsal.loads(ledger.get_meta(REHEARSAL)) if ledger else None
    if rehearsal is not None:  # a rehearsal's ledger: what is next and due on its clock, not the replay's
        now = rehearsal.back(now)
    upcoming = next((d for d in pending if d.instant >= now), None)
    last = ledger.last_posted() if ledger else None
    problems = ledger.problems(limit=50) if ledger else []
    zone = timeline.zone
    worn = ledger.worn() if ledger else {}
    extra = {"ha": processes(ledger)} if ledger is not None and ledger.shared else {}
    return {
        **{state: counts.get(state, 0) for state in STATES},
        "claimed": counts.get("claimed", 0),
        "pending": len(pending),
        "last": None if last is None else {
            "id": last.entry_id, "account": last.account, "platform": last.network,
            "remote_id": last.remote_id, "at": last.settled_at.isoformat() if last.settled_at else None,
        },
        "next": None if upcoming is None else {
            "id": upcoming.key.entry_id,
            "scheduled": upcoming.instant.astimezone(zone).isoformat(),
            "account": upcoming.key.account,
            "platform": upcoming.key.network,
        },
        "personas": [
            {"account": account, "platform": network,
             "worn": worn.get((account, network), timeline.initial.get(account)),
             "due": timeline.persona_at(account, now)}
            for account, networks in sorted(platforms.items()) for network in networks
        ],
        "problems": [
            {
                "kind": row.kind, "id": row.entry_id, "account": row.account, "platform": row.network,
                "state": row.state, "persona": row.persona, "reason": row.reason,
            }
            for row in problems
        ],
        **extra,
    }


def processes(ledger) -> dict:
    """Who is active (host, pid, since, epoch, lease end) and who stands by, as the database says."""
    board = ledger.board()

    def stamp(moment):
        return moment.isoformat(timespec="seconds") if moment else None

    active = board.active
    return {
        "active": None if active is None else {
            "host": active.host, "pid": active.pid, "since": stamp(active.since), "epoch": active.epoch,
            "until": stamp(active.expires_at), "live": active.live,
        },
        "standbys": [{"host": m.host, "pid": m.pid, "since": stamp(m.since), "seen": stamp(m.seen)}
                     for m in board.standbys],
    }


def text(data: dict) -> list[str]:
    lines = [
        "  ".join(f"{state}: {data[state]}" for state in (*STATES, "pending")),
    ]
    if data["claimed"]:
        lines.append(f"in flight: {data['claimed']}")
    last = data["last"]
    lines.append(f"last posted: {last['id']} ({last['account']} on {last['platform']}, remote id {last['remote_id']}, at {last['at']})" if last else "last posted: none")
    nxt = data["next"]
    lines.append(f"next due: {nxt['id']} at {nxt['scheduled']} ({nxt['account']} on {nxt['platform']})" if nxt else "next due: none")
    lines.append("personas:")
    for p in data["personas"]:
        due = "" if p["worn"] == p["due"] else f" (due: {p['due']})"
        lines.append(f"  {p['account']} on {p['platform']}: {p['worn']}{due}")
    if "ha" in data:
        lines += ha_lines(data["ha"])
    if data["problems"]:
        lines.append("problems:")
        for p in data["problems"]:
            what = f"switch to {p['persona']}" if p["kind"] == "switch" else p["id"]
            lines.append(f"  {p['state']}: {what} ({p['account']} on {p['platform']}): {p['reason'] or ''}".rstrip(": "))
    return lines


def ha_lines(ha: dict) -> list[str]:
    active = ha["active"]
    if active is None:
        lines = ["active: none yet"]
    elif active["live"]:
        lines = [f"active: {active['host']} pid {active['pid']} since {active['since']} (epoch {active['epoch']})"]
    else:
        lines = [f"active: none (the lease of {active['host']} pid {active['pid']}, epoch {active['epoch']},"
                 f" ended at {active['until']})"]
    standbys = ha["standbys"]
    lines.append("standbys: " + (", ".join(f"{m['host']} pid {m['pid']} since {m['since']}" for m in standbys)
                                 if standbys else "none"))
    return lines


def edited_after_posting(entries, posted: dict[str, str]) -> list[Diagnostic]:
    """A warning for each entry whose text changed after it was posted (it will not go out again)."""
    out = []
    for entry in entries:
        was = posted.get(entry.id)
        if was is not None and entry.text is not None and was != entry.text_hash:
            out.append(warning(entry.path, entry.line, f"entry {entry.id!r} was already posted with another text: the edit will not be published"))
    return out
