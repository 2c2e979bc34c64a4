"""What is worth telling an operator, and in how many messages. Pure: no threads,
no network; time is passed in (monotonic seconds), so tests drive it by hand.

`Digest.add(name, data)` takes an action (`bot.run.logs.event`: its name and
values) and keeps it if it is a problem or a milestone. Actions arriving close
together form a burst, over once nothing new came for `quiet` seconds or
`longest` seconds after its first action; `due(now)` then gives one message per
kind of action in it: one failed post is a message naming the entry, its file
and line and the reason; 200 missed entries are one message with the count and
the first and last ids. A problem that repeats while it lasts (the ledger
unavailable, a persona switch retried) is told once, then again at most every
`repeat` seconds. A persona switch that succeeds after it had failed is told as
repaired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

SHOWN = 10  # lines of a message before "... and N more"

# event -> (what a message says of one, of several, how bad); None: not worth telling
KINDS: dict[str, tuple[str, str, str]] = {
    "failed": ("post failed", "posts failed", "failure"),
    "uncertain": ("post uncertain: it may or may not be online", "posts uncertain: they may or may not be online", "warning"),
    "missed": ("entry missed", "entries missed", "warning"),
    "not-recorded": ("post not recorded (the ledger was unavailable)", "posts not recorded (the ledger was unavailable)", "failure"),
    "switch-failed": ("persona switch failed", "persona switches failed", "failure"),
    "switch-retry": ("persona switch failing, retried (the account posts nothing meanwhile)",
                     "persona switches failing, retried (those accounts post nothing meanwhile)", "warning"),
    "persona-drift": ("persona drifted on the network: repairing", "personas drifted on the network: repairing", "warning"),
    "repaired": ("persona switch repaired", "persona switches repaired", "success"),
    "reconciled": ("uncertain post reconciled", "uncertain posts reconciled", "info"),
    "reconcile-unknown": ("uncertain post left for `bot resolve`", "uncertain posts left for `bot resolve`", "warning"),
    "ledger-error": ("ledger unavailable", "ledger unavailable", "failure"),
    "tick-failed": ("timer cannot read the ledger", "timer cannot read the ledger", "failure"),
    "internal-error": ("internal error", "internal errors", "failure"),
    "watch-failed": ("feed watcher stopped: edits are not reloaded", "feed watcher stopped", "warning"),
    "not-started": ("service did not start", "service did not start", "failure"),
    "started": ("service started", "service started", "info"),
    "stopped": ("service stopped", "service stopped", "info"),
    "deposed": ("this process lost the lease: another one publishes, it stands by",
                "this process lost the lease: another one publishes, it stands by", "warning"),
    "unhealthy": ("service unhealthy", "service unhealthy", "failure"),
    "healthy": ("service healthy again", "service healthy again", "success"),
}
REPEATING = {"ledger-error", "tick-failed", "internal-error", "switch-retry", "persona-drift"}  # told once per `repeat`
SWITCH_TROUBLE = {"switch-retry", "switch-failed", "persona-drift", "uncertain"}
NOTABLE = set(KINDS) | {"switched"}  # what the notifier's log handler passes on


@dataclass(frozen=True)
class Message:
    kind: str  # the event
    title: str
    body: str
    severity: str  # info, success, warning, failure (Apprise's notify types)


@dataclass
class Burst:
    first: float
    last: float
    actions: list[tuple[str, dict]] = field(default_factory=list)


class Digest:
    def __init__(self, *, title: str = "", quiet: float = 2.0, longest: float = 10.0, repeat: float = 600.0) -> None:
        self.title = title
        self.quiet = quiet
        self.longest = longest
        self.repeat = repeat
        self.burst: Burst | None = None
        self._told: dict[tuple, float] = {}  # (event, lane) -> when last told (REPEATING)
        self._held: dict[tuple, int] = {}  # how many were held back since
        self._trouble: set[tuple[str, str]] = set()  # lanes whose persona switch had trouble

    # -- taking actions ------------------------------------------------------

    def add(self, name: str, data: dict, now: float, level: int = logging.INFO) -> None:
        lane = (str(data.get("account", "")), str(data.get("platform", "")))
        if name == "uncertain" and data.get("kind") == "switch" or name in SWITCH_TROUBLE - {"uncertain"}:
            self._trouble.add(lane)
        if name == "switched":
            if lane not in self._trouble:
                return
            self._trouble.discard(lane)
            self._told.pop(("switch-retry", lane), None)
            name = "repaired"
        if name not in KINDS:
            return
        if name in REPEATING:
            key = (name, lane)
            told = self._told.get(key)
            if told is not None and now - told < self.repeat:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._told[key] = now
            if held := self._held.pop(key, 0):
                data = {**data, "repeated": held}
        if self.burst is None:
            self.burst = Burst(now, now)
        self.burst.last = now
        self.burst.actions.append((name, data))

    # -- giving messages -----------------------------------------------------------

    def next_check(self) -> float | None:
        """When the current burst will be over (None: no burst)."""
        burst = self.burst
        return None if burst is None else min(burst.last + self.quiet, burst.first + self.longest)

    def due(self, now: float, *, flush: bool = False) -> list[Message]:
        """The messages of the burst, once it is over (or at once with `flush`)."""
        end = self.next_check()
        if end is None or (now < end and not flush):
            return []
        actions, self.burst = self.burst.actions, None
        kinds: dict[str, list[dict]] = {}
        for name, data in actions:
            kinds.setdefault(name, []).append(data)
        return [self.message(name, group) for name, group in kinds.items()]

    def message(self, name: str, group: list[dict]) -> Message:
        one, many, severity = KINDS[name]
        if name == "missed":
            return self._missed(group, one, many, severity)
        count = len(group)
        if count == 1:
            subject = group[0].get("entry") or group[0].get("persona") or group[0].get("account")
            title = f"{one}: {subject}" if subject and name not in ("started", "stopped") else one
        else:
            title = f"{count} {many}"
        lines = [describe(name, data) for data in group[:SHOWN]]
        if count > SHOWN:
            lines.append(f"... and {count - SHOWN} more (bot status lists them)")
        return Message(name, self._title(title), "\n".join(lines), severity)

    def _missed(self, group: list[dict], one: str, many: str, severity: str) -> Message:
        count = sum(int(data.get("count", 1)) for data in group)
        first, last = group[0], group[-1]
        first_id, first_at = first.get("first", first.get("entry")), where(first)
        last_id = last.get("last", last.get("entry"))
        last_at = where({"path": last.get("last_path", last.get("path")), "line": last.get("last_line", last.get("line"))})
        if count == 1:
            return Message("missed", self._title(f"{one}: {first_id}"), describe("missed", first), severity)
        lanes = sorted({f"{d.get('account')} on {d.get('platform')}" for d in group if d.get("account")})
        body = [f"{count} {many}, first {first_id}{at(first_at)}, last {last_id}{at(last_at)}"]
        if lanes:
            body.append("accounts: " + ", ".join(lanes))
        reasons = sorted({str(d["reason"]) for d in group if d.get("reason")})
        body += [f"reason: {r}" for r in reasons[:3]]
        return Message("missed", self._title(f"{count} {many}"), "\n".join(body), severity)

    def _title(self, text: str) -> str:
        return f"{self.title}: {text}" if self.title else text


def where(data: dict) -> str:
    path, line = data.get("path"), data.get("line")
    return f"{path}:{line}" if path and line else (str(path) if path else "")


def at(source: str) -> str:
    return f" ({source})" if source else ""


def describe(name: str, data: dict) -> str:
    """One line about one action: what, where in the feed, why."""
    if name == "started":
        text = f"feed {data.get('feed')}: {data.get('entries')} entries, {data.get('deliveries')} deliveries"
        return text + "".join(f"; {k.replace('_', ' ')}: {data[k]}" for k in ("rehearsal", "dry_run") if data.get(k))
    if name in ("stopped", "not-started", "unhealthy", "healthy"):
        return str(data.get("reason") or KINDS[name][0])
    subject = data.get("entry") or (f"switch to {data['persona']}" if data.get("persona") else "")
    lane = f"{data['account']} on {data['platform']}" if data.get("account") and data.get("platform") else ""
    parts = [p for p in (subject, f"({lane})" if lane else "") if p]
    if name in ("switch-failed", "switch-retry", "persona-drift", "repaired") and data.get("persona") and data.get("entry"):
        parts.append(f"persona {data['persona']}")
    text = " ".join(parts) or KINDS[name][0]
    if src := where(data):
        text += f" at {src}"
    for key in ("outcome", "reason", "remote_id", "note"):
        if data.get(key) not in (None, ""):
            text += f"; {key.replace('_', ' ')}: {data[key]}"
    if data.get("repeated"):
        text += f" (and {data['repeated']} more times since the last message)"
    return text
