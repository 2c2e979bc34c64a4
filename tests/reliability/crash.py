"""Crash engine: `bot run` killed with SIGKILL at many seeded instants, restarted each
time, until a rehearsed feed is done; then the fake X server's record and the
SQLite ledger are compared entry by entry.

Kill instants (one mode per kill, seeded):
  timer    a random instant 0-1.2 s after launch (start-up, recovery, persona corrections)
  request  while the fake holds the n-th post request of this run (the call is in flight)
  answer   0-8 ms after the fake answered the n-th post (the ledger's settle and next claim)
  switch   while the fake holds the n-th profile request (inside a persona switch)
A hook mode that does not fire within 2.5 s falls back to a timer kill.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.reliability import feeds
from tests.reliability.common import Figures, HookedX
from tests.support.env import x_env as base_env, token
from tests.support.ledger import claimed_after_crash, ledger_rows
from tests.support.proc import BotProcess as Bot, iso_at, tracebacks

MODES = ("timer", "request", "answer", "switch")
PROFILE = "/1.1/account/update_profile"


@dataclass
class CrashConfig:
    entries: int = 300
    kills: int = 55
    seed: int = 1917
    accounts: int = 4
    storms: int = 6
    delay: float = 0.03  # seconds the fake holds each request
    gap: float = 0.25  # real seconds between consecutive entries
    grace: int = 2  # BOT_GRACE: later than this at restart -> missed
    max_life: float = 2.5  # a run not killed by its hook is killed after this


@dataclass
class Kill:
    mode: str  # the mode that fired (a hook mode that did not fire shows as "timer")
    planned: str
    open_posts: int  # post requests the fake held at the kill
    claimed: list[str]  # deliveries claimed in the ledger at the kill (in flight)
    claimed_switches: int


@dataclass
class CrashReport:
    config: CrashConfig
    kills: list[Kill]
    requests_per_entry: dict[str, int]
    states: dict[str, str | None]  # entry id -> final ledger state (None: no row)
    reasons: dict[str, str | None]
    problems: list[str]  # every breach of the rules, one line each
    personas_expected: dict[str, str]
    personas_worn: dict[str, tuple[str | None, bool, bool]]  # account -> (name, avatar ok, banner ok)
    tracebacks: int
    peak_rss: int
    seconds: float
    runs: int

    @property
    def duplicates(self) -> int:
        return sum(1 for n in self.requests_per_entry.values() if n > 1)

    @property
    def uncertain(self) -> int:
        return sum(1 for s in self.states.values() if s == "uncertain")

    @property
    def in_flight_hits(self) -> int:
        """Deliveries left claimed by a kill; one still claimed at the next kill (that run
        died before recovering it) counts once."""
        return len({e for k in self.kills for e in k.claimed})

    @property
    def silent_losses(self) -> int:
        return sum(1 for p in self.problems if p.startswith("silent"))

    def figures(self) -> Figures:
        return Figures("crash", cases=len(self.kills), duplicates=self.duplicates,
                       silent_losses=self.silent_losses, uncertain=self.uncertain,
                       uncertain_by_network={"x": self.uncertain},
                       tracebacks=self.tracebacks, peak_rss=self.peak_rss, seconds=self.seconds,
                       notes=[self.summary()], problems=list(self.problems))

    def summary(self) -> str:
        modes = Counter(k.mode for k in self.kills)
        states = Counter(s or "none" for s in self.states.values())
        return (f"{len(self.kills)} kills ({', '.join(f'{m} {modes[m]}' for m in MODES)}), "
                f"{self.runs} runs; at the kills: {self.in_flight_hits} posts and "
                f"{sum(k.claimed_switches for k in self.kills)} persona switches in flight; "
                f"final states {dict(sorted(states.items()))}; max requests per entry "
                f"{max(self.requests_per_entry.values(), default=0)}; personas as scheduled "
                f"{sum(1 for a, p in self.personas_expected.items() if not any(x.startswith(f'persona: {a} ') for x in self.problems))}"
                f"/{len(self.personas_expected)}")


class Killer:
    """Arms one kill for one bot process; fires at most once.

    Subclasses say which calls count (`_is(call, kind)`, kind "post" or "profile"),
    how many posts are in flight (`_open_posts`) and how hooks are set (`_hook`).
    """

    def __init__(self, bot: Bot, mode: str, nth: int, rng: random.Random):
        self.bot, self.planned, self.nth = bot, mode, nth
        self.fired = threading.Event()
        self.mode = "timer"
        self.open_posts = 0
        self._seen = 0
        self._lock = threading.Lock()
        self._pause = rng.uniform(0, 0.008)
        if mode in ("request", "switch"):
            self._hook(on_request=self._on_request)
        elif mode == "answer":
            self._hook(on_answer=self._on_answer)

    def _is(self, call, kind: str) -> bool:
        raise NotImplementedError

    def _open_posts(self) -> int:
        raise NotImplementedError

    def _hook(self, on_request=None, on_answer=None) -> None:
        raise NotImplementedError

    def _count(self, call, kind: str) -> bool:
        if not self._is(call, kind):
            return False
        with self._lock:
            self._seen += 1
            return self._seen == self.nth and not self.fired.is_set()

    def _on_request(self, call) -> None:
        if self._count(call, "post" if self.planned == "request" else "profile"):
            self.fire(self.planned)

    def _on_answer(self, call) -> None:
        if self._count(call, "post"):
            time.sleep(self._pause)
            self.fire("answer")

    def fire(self, mode: str) -> None:
        with self._lock:
            if self.fired.is_set():
                return
            self.open_posts = self._open_posts()
            self.bot.kill_now()
            self.mode = mode
            self.fired.set()

    def disarm(self) -> None:
        self._hook()


class _XKiller(Killer):
    """Kills on the fake X server's requests."""

    def __init__(self, fake: HookedX, bot: Bot, mode: str, nth: int, rng: random.Random):
        self.fake = fake
        super().__init__(bot, mode, nth, rng)

    def _is(self, rec, kind: str) -> bool:
        return rec.path == "/2/tweets" if kind == "post" else rec.path.startswith(PROFILE)

    def _open_posts(self) -> int:
        return sum(1 for r in self.fake.open_requests() if r.path == "/2/tweets")

    def _hook(self, on_request=None, on_answer=None) -> None:
        self.fake.on_request, self.fake.on_answer = on_request, on_answer


def _settled(ledger: Path, ids: set[str]) -> bool:
    rows = ledger_rows(ledger)
    return all(i in rows and rows[i].state != "claimed" for i in ids)


def run_crash(workdir: Path, config: CrashConfig = CrashConfig()) -> CrashReport:
    started = time.monotonic()
    rng = random.Random(config.seed)
    spec = feeds.crash_spec(config.entries, config.seed, config.accounts, config.storms)
    feed = feeds.write(spec, workdir / "feed")
    ledger = workdir / "ledger.sqlite3"
    ids = {i.id for i in spec.items}
    kills: list[Kill] = []
    bots: list[Bot] = []
    with HookedX(delay=config.delay) as fake:
        env = base_env(fake.base_url, spec.accounts, BOT_GRACE=config.grace, BOT_BACKOFF="0.05",
                       BOT_DAILY_LIMIT="100000", X_TIMEOUT="10")
        start_at = datetime.now(UTC) + timedelta(seconds=2.0)
        args = ["run", "--posts", str(feed), "--start-at", iso_at(start_at), "--speed", f"{60 / config.gap:g}",
                "--ledger", str(ledger)]
        while len(kills) < config.kills and not _settled(ledger, ids):
            mode = rng.choice(MODES)
            nth = rng.randint(1, 4) if mode != "switch" else rng.randint(1, 3)
            bot = Bot(args, env, workdir, name=f"run{len(bots):03d}")
            bots.append(bot)
            killer = _XKiller(fake, bot, mode, nth, rng)
            limit = rng.uniform(0.05, 1.2) if mode == "timer" else config.max_life
            if not killer.fired.wait(limit):
                killer.fire("timer")
            killer.disarm()
            if bot.reap() != -9:
                raise AssertionError(f"run {len(bots)} ended on its own ({bot.code}):\n" + "\n".join(bot.lines()[-20:]))
            claimed, switches = claimed_after_crash(ledger)
            kills.append(Kill(killer.mode, mode, killer.open_posts, claimed, switches))

        final = Bot(args, env, workdir, name=f"run{len(bots):03d}")
        bots.append(final)
        last_instant = start_at + timedelta(seconds=config.gap * config.entries)
        wait = max(0.0, (last_instant - datetime.now(UTC)).total_seconds()) + 30 + config.entries * 0.2
        final.wait_for(lambda: _settled(ledger, ids) and not fake.open_requests(), wait, "every entry settled", step=0.2)
        time.sleep(0.5)  # anything still queued (a late persona switch) gets its chance
        code = final.terminate()
        if code != 0:
            raise AssertionError(f"the last run exited {code}:\n" + "\n".join(final.lines()[-20:]))
        report = _analyse(spec, fake, ledger, kills, config)
    report.tracebacks = sum(tracebacks(b.stderr(), b.stdout()) for b in bots)
    report.peak_rss = max(b.peak_rss for b in bots)
    report.runs = len(bots)
    report.seconds = time.monotonic() - started
    return report


def _analyse(spec: feeds.Spec, fake: HookedX, ledger: Path, kills: list[Kill], config: CrashConfig) -> CrashReport:
    by_text = spec.by_text()
    per_entry = {i.id: 0 for i in spec.items}
    created: dict[str, list[str]] = {}
    problems = []
    for rec in fake.tweets():
        item = by_text.get((rec.json or {}).get("text"))
        if item is None:
            problems.append(f"stray post request {rec.json!r}")
            continue
        per_entry[item.id] += 1
        created.setdefault(item.id, []).append(rec.created_id)
        if rec.token != token(item.account):
            problems.append(f"wrong account: {item.id} posted with {rec.token}")
    rows = ledger_rows(ledger)
    in_flight = {e for k in kills for e in k.claimed}
    states, reasons = {}, {}
    for item in spec.items:
        row = rows.get(item.id)
        states[item.id] = row.state if row else None
        reasons[item.id] = row.reason if row else None
        sent = per_entry[item.id]
        if row is None or row.state == "claimed":
            problems.append(f"silent: {item.id} has no settled ledger row")
            continue
        if row.state != "posted" and not row.reason:
            problems.append(f"silent: {item.id} is {row.state} without a reason")
        if row.state == "posted" and item.text is not None:
            if sent == 0:
                problems.append(f"silent: {item.id} is posted in the ledger but X never received it")
            elif row.remote_id not in created.get(item.id, []):
                problems.append(f"ledger: {item.id} remote id {row.remote_id} matches no post at X")
        if row.state in ("missed", "failed") and sent:
            problems.append(f"ledger: {item.id} is {row.state} but X received it")
        if row.state == "uncertain" and item.id not in in_flight:
            problems.append(f"uncertain: {item.id} was not in flight at any kill")
    wearing = _worn(spec, fake)
    expected = spec.expected_persona()
    for account, persona in expected.items():
        name, avatar_ok, banner_ok = wearing[account]
        if name != spec.personas[persona] or not avatar_ok or not banner_ok:
            problems.append(f"persona: {account} wears {name!r} (avatar ok {avatar_ok}, banner ok {banner_ok}),"
                            f" the schedule says {spec.personas[persona]!r}")
    return CrashReport(config, kills, per_entry, states, reasons, problems, expected, wearing, 0, 0, 0.0, 0)


def _worn(spec: feeds.Spec, fake: HookedX) -> dict[str, tuple[str | None, bool, bool]]:
    """Per account: the name of its last profile update, and whether its last avatar
    (and banner, for personas that have one) are those of the expected persona."""
    expected = spec.expected_persona()
    out = {}
    for account, persona in expected.items():
        mine = fake.requests(token=token(account))
        names = [r.params.get("name") for r in mine if r.path == PROFILE + ".json"]
        images = [r.files.get("image", {}).get("sha256") for r in mine if r.path == PROFILE + "_image.json"]
        banners = [r.files.get("banner", {}).get("sha256") for r in mine if r.path == PROFILE + "_banner.json"]
        avatar_ok = bool(images) and images[-1] == hashlib.sha256(feeds.png(persona)).hexdigest()
        banner_ok = (not persona.startswith("storm")) or (
            bool(banners) and banners[-1] == hashlib.sha256(feeds.png(persona + "banner", 8)).hexdigest())
        out[account] = (names[-1] if names else None, avatar_ok, banner_ok)
    return out
