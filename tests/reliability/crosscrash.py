"""Crash engine over a cross-posting feed: crash.py's kill -9 and restart loop with
every account on x, mastodon and bluesky (`platform: [x, mastodon, bluesky]`), so
each entry makes three deliveries, each with its own ledger row.

Kill instants (one mode per kill, seeded; hook modes pick a network at random):
  timer    a random instant 0-2.5 s after launch (start-up, recovery, persona corrections)
  request  while that network's fake holds the n-th post it created in this run
           (X tweet, Mastodon status, Bluesky createRecord of a post): the post
           exists, its answer has not left
  answer   0-8 ms after that network answered the n-th post (the ledger's settle)
  switch   while that network holds the n-th profile write (inside a persona switch)
A hook mode that does not fire within `max_life` falls back to a timer kill (a planned
kill, the first `plan` ones, waits four times as long for the first such call).

Checked per delivery (entry, account, network): at most one post created on the
network (Mastodon: statuses created, its idempotency key may let a request in
twice), exactly one settled ledger state of posted, missed or uncertain, a reason
when not posted, a posted row's remote id naming the post created, uncertain only
for deliveries claimed at some kill; and every account wears the scheduled
persona (name, avatar, banner) on every network at the end.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.reliability import feeds
from tests.reliability.common import Figures
from tests.support.ledger import open_ledger
from tests.support.proc import BotProcess as Bot, iso_at, tracebacks
from tests.reliability.crash import CrashConfig, Killer
from tests.reliability.networks import NETWORKS, Call, Networks

MODES = ("timer", "request", "answer", "switch")
FINAL_STATES = ("posted", "missed", "uncertain")
Key = tuple[str, str, str]  # (entry id, account, network)


@dataclass
class CrossConfig(CrashConfig):
    gap: float = 0.4  # slower than crash.py's feed: each restart takes longer, 55 kills must fit
    max_life: float = 3.5  # three networks' clients take longer to start
    timer_max: float = 2.5  # latest instant of a timer kill after launch
    plan: tuple[tuple[str, str], ...] = ()  # (mode, network) of the first kills; the rest are drawn


@dataclass
class CrossKill:
    mode: str  # the mode that fired (a hook mode that did not fire shows as "timer")
    planned: str
    network: str | None  # the network whose call the kill was armed on
    open_posts: int  # post requests held by any fake at the kill
    claimed: list[Key]  # deliveries this kill left claimed in the ledger (in flight)
    claimed_switches: int  # persona switches this kill left claimed
    held: list[Key]  # every delivery claimed or uncertain at the kill: with any an earlier kill left, sent again


@dataclass
class CrossCrashReport:
    config: CrossConfig
    kills: list[CrossKill]
    created: dict[Key, int]  # posts the delivery's network created
    received: dict[Key, int]  # post requests the delivery's network received
    states: dict[Key, str | None]  # final ledger state (None: no row)
    reasons: dict[Key, str | None]
    problems: list[str]
    personas_expected: dict[str, str]
    # (account, network) -> (name, avatar ok, banner ok)
    personas_worn: dict[tuple[str, str], tuple[str | None, bool, bool]]
    tracebacks: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    runs: int = 0

    @property
    def duplicates(self) -> int:
        return sum(1 for n in self.created.values() if n > 1)

    @property
    def uncertain(self) -> int:
        return sum(1 for s in self.states.values() if s == "uncertain")

    def uncertain_on(self, network: str) -> int:
        return sum(1 for k, s in self.states.items() if s == "uncertain" and k[2] == network)

    @property
    def in_flight_hits(self) -> int:
        return sum(len(k.claimed) for k in self.kills)

    @property
    def silent_losses(self) -> int:
        return sum(1 for p in self.problems if p.startswith("silent"))

    def figures(self) -> Figures:
        return Figures("crash (cross-post)", cases=len(self.kills), duplicates=self.duplicates,
                       silent_losses=self.silent_losses, uncertain=self.uncertain,
                       uncertain_by_network={n: self.uncertain_on(n) for n in NETWORKS}, tracebacks=self.tracebacks,
                       peak_rss=self.peak_rss, seconds=self.seconds, notes=self.summary(), problems=list(self.problems))

    def summary(self) -> list[str]:
        modes = Counter(k.mode for k in self.kills)
        hooked = Counter(f"{k.mode} {k.network}" for k in self.kills if k.mode != "timer")
        lines = [f"{len(self.kills)} kills ({', '.join(f'{m} {modes[m]}' for m in MODES)}), {self.runs} runs;"
                 f" hook kills by network: {dict(sorted(hooked.items()))}",
                 f"at the kills: {self.in_flight_hits} deliveries and"
                 f" {sum(k.claimed_switches for k in self.kills)} persona switches in flight"]
        for network in NETWORKS:
            mine = [k for k in self.states if k[2] == network]
            states = Counter(self.states[k] or "none" for k in mine)
            worn = sum(1 for a, n in self.personas_worn if n == network and self._ok(a, n))
            lines.append(
                f"{network}: {len(mine)} deliveries, final states {dict(sorted(states.items()))};"
                f" max posts created per delivery {max((self.created[k] for k in mine), default=0)},"
                f" max post requests received {max((self.received[k] for k in mine), default=0)};"
                f" personas as scheduled {worn}/{len(self.personas_expected)}")
        return lines

    def _ok(self, account: str, network: str) -> bool:
        return not any(p.startswith(f"persona: {account} on {network} ") for p in self.problems)


class _CrossKiller(Killer):
    """Kills on the requests of one network among the three fakes."""

    def __init__(self, nets: Networks, bot: Bot, mode: str, network: str, nth: int, rng: random.Random):
        self.nets, self.network = nets, network
        super().__init__(bot, mode, nth, rng)

    def _is(self, call: Call, kind: str) -> bool:
        return call.network == self.network and call.kind == kind

    def _open_posts(self) -> int:
        return sum(1 for c in self.nets.open_calls() if c.kind == "post")

    def _hook(self, on_request=None, on_answer=None) -> None:
        self.nets.set_hooks(on_request=on_request, on_answer=on_answer)


def ledger_keys(path: Path, state: str | None = None) -> dict[Key, tuple[str, str | None, str | None]]:
    """(state, reason, remote id) of every delivery (or those in `state`), by key.

    Opened read-write so SQLite can replay the WAL of a killed process."""
    conn = open_ledger(path)
    if conn is None:
        return {}
    try:
        rows = conn.execute("SELECT entry_id, account, network, state, reason, remote_id FROM deliveries")
        return {(e, a, n): (s, why, rid) for e, a, n, s, why, rid in rows if state in (None, s)}
    finally:
        conn.close()


def claimed_switches(path: Path) -> set[int]:
    """Ids of the persona switches left claimed (by a killed process)."""
    conn = open_ledger(path)
    if conn is None:
        return set()
    try:
        return {r[0] for r in conn.execute("SELECT id FROM switches WHERE state = 'claimed'")}
    finally:
        conn.close()


def switch_rows(path: Path) -> list[tuple]:
    """(id, account, network, persona, entry id, state) of every persona switch, oldest first."""
    conn = open_ledger(path)
    if conn is None:
        return []
    try:
        return list(conn.execute("SELECT id, account, network, persona, entry_id, state FROM switches ORDER BY id"))
    finally:
        conn.close()


def _settled(ledger: Path, keys: set[Key]) -> bool:
    rows = ledger_keys(ledger)
    return all(k in rows and rows[k][0] != "claimed" for k in keys)


def run_crosscrash(workdir: Path, config: CrossConfig = CrossConfig()) -> CrossCrashReport:
    started = time.monotonic()
    rng = random.Random(config.seed)
    spec = feeds.crash_spec(config.entries, config.seed, config.accounts, config.storms)
    spec.platforms = NETWORKS
    feed = feeds.write(spec, workdir / "feed")
    ledger = workdir / "ledger.sqlite3"
    keys = {(i.id, i.account, n) for i in spec.items for n in NETWORKS}
    kills: list[CrossKill] = []
    bots: list[Bot] = []
    with Networks(spec.accounts, delay=config.delay) as nets:
        env = nets.env(BOT_GRACE=config.grace, BOT_BACKOFF="0.05", BOT_DAILY_LIMIT="100000", X_TIMEOUT="10")
        start_at = datetime.now(UTC) + timedelta(seconds=2.5)
        args = ["run", "--posts", str(feed), "--start-at", iso_at(start_at), "--speed", f"{60 / config.gap:g}",
                "--ledger", str(ledger)]
        earlier: set[Key] = set()
        earlier_switches: set[int] = set()
        while len(kills) < config.kills and not _settled(ledger, keys):
            mode, network = rng.choice(MODES), rng.choice(NETWORKS)
            nth = rng.randint(1, 4) if mode != "switch" else rng.randint(1, 3)
            life = config.max_life
            planned = len(kills) < len(config.plan)
            if planned:  # a planned kill must land where planned, however slow the restart on a busy machine
                mode, network = config.plan[len(kills)]
                nth, life = 1, config.max_life * 4
            bot = Bot(args, env, workdir, name=f"run{len(bots):03d}")
            bots.append(bot)
            killer = _CrossKiller(nets, bot, mode, network, nth, rng)
            limit = rng.uniform(0.05, config.timer_max) if mode == "timer" else life
            if not killer.fired.wait(limit):
                killer.fire("timer")
            killer.disarm()
            if bot.reap() != -9:
                raise AssertionError(f"run {len(bots)} ended on its own ({bot.code}):\n" + "\n".join(bot.lines()[-20:]))
            # a row still claimed from an earlier kill (this run died before recovering it) is not counted again
            rows = ledger_keys(ledger)
            claimed = {key for key, (state, _, _) in rows.items() if state == "claimed"}
            switches = claimed_switches(ledger)
            unsettled = {key for key, (state, _, _) in rows.items() if state in ("claimed", "uncertain")}
            kills.append(CrossKill(killer.mode, mode, network if killer.mode != "timer" else None, killer.open_posts,
                                   sorted(claimed - earlier), len(switches - earlier_switches), sorted(unsettled)))
            earlier, earlier_switches = claimed, switches

        final = Bot(args, env, workdir, name=f"run{len(bots):03d}")
        bots.append(final)
        last_instant = start_at + timedelta(seconds=config.gap * config.entries)
        wait = max(0.0, (last_instant - datetime.now(UTC)).total_seconds()) + 30 + config.entries * 0.2
        final.wait_for(lambda: _settled(ledger, keys) and not nets.open_calls(), wait, "every delivery settled",
                       step=0.2)
        time.sleep(0.5)  # anything still queued (a late persona switch) gets its chance
        code = final.terminate()
        if code != 0:
            raise AssertionError(f"the last run exited {code}:\n" + "\n".join(final.lines()[-20:]))
        report = analyse(spec, nets, ledger, kills, config)
    report.tracebacks = sum(tracebacks(b.stderr(), b.stdout()) for b in bots)
    report.peak_rss = max(b.peak_rss for b in bots)
    report.runs = len(bots)
    report.seconds = time.monotonic() - started
    return report


def analyse(spec: feeds.Spec, nets: Networks, ledger: Path, kills: list[CrossKill],
            config: CrossConfig) -> CrossCrashReport:
    """Compare what each fake network created with the ledger, delivery by delivery."""
    created_ids = nets.created()
    received = nets.received()
    problems = []
    expected_posts = {(i.account, i.text) for i in spec.items if i.text is not None}
    for network in NETWORKS:
        for (account, text), ids in created_ids[network].items():
            if (account, text) not in expected_posts:
                problems.append(f"stray: {network} created {len(ids)} post(s) for {account}: {text!r}")
    rows = ledger_keys(ledger)
    in_flight = {key for k in kills for key in k.claimed}
    created, got, states, reasons = {}, {}, {}, {}
    for item in spec.items:
        for network in NETWORKS:
            key = (item.id, item.account, network)
            ids = created_ids[network].get((item.account, item.text), []) if item.text is not None else []
            created[key], got[key] = len(ids), received[network][(item.account, item.text)]
            name = f"{item.id} on {network}"
            if len(ids) > 1:
                problems.append(f"duplicate: {name} created {len(ids)} posts")
            state, reason, remote_id = rows.get(key, (None, None, None))
            states[key], reasons[key] = state, reason
            if state is None or state == "claimed":
                problems.append(f"silent: {name} has no settled ledger row")
                continue
            if state not in FINAL_STATES:
                problems.append(f"ledger: {name} ended {state}: {reason}")
            if state != "posted" and not reason:
                problems.append(f"silent: {name} is {state} without a reason")
            if state == "posted" and item.text is not None:
                if not ids:
                    problems.append(f"silent: {name} is posted in the ledger but the network created no post")
                elif remote_id not in ids:
                    problems.append(f"ledger: {name} remote id {remote_id} matches no post created")
            if state in ("missed", "failed") and ids:
                problems.append(f"ledger: {name} is {state} but the network created it")
            if state == "uncertain" and key not in in_flight:
                problems.append(f"uncertain: {name} was not in flight at any kill")
    expected = spec.expected_persona()
    worn = {}
    for account, persona in expected.items():
        want_name = spec.personas[persona]
        avatar, banner = feeds.png(persona), feeds.png(persona + "banner", 8)
        for network, (name, got_avatar, got_banner) in nets.worn(account).items():
            same = (lambda got, data: got == hashlib.sha256(data).hexdigest()) if network == "x" else (
                lambda got, data: got == data)
            avatar_ok = same(got_avatar, avatar)
            banner_ok = not persona.startswith("storm") or same(got_banner, banner)
            worn[(account, network)] = (name, avatar_ok, banner_ok)
            if name != want_name or not avatar_ok or not banner_ok:
                problems.append(f"persona: {account} on {network} wears {name!r} (avatar ok {avatar_ok},"
                                f" banner ok {banner_ok}), the schedule says {want_name!r}")
    return CrossCrashReport(config, kills, created, got, states, reasons, problems, expected, worn)
