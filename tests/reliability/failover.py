"""Failover engine: two or three `bot run` on one feed and one PostgreSQL ledger (a
throwaway server), against the fake X server. The active process is killed with SIGKILL
again and again (a fresh process replaces it, so two or more are always there), or
stopped with SIGSTOP for longer than its lease and woken with SIGCONT; the PostgreSQL
server is restarted once mid-run. Then the fake's record and the ledger are compared
entry by entry.

Instants (seeded), one per action:
  timer    a random moment 0.1-2.5 s after the victim was found active (start-up,
           recovery, reconciliation of what the last victim left, posting)
  request  inside the fake's handling of a post request of the victim (the post exists,
           its answer is on its way); falls back to timer when none comes within 2.5 s

Each bot reaches the fake through a port of its own, so every request says which
process sent it. A woken process must start no call: a POST it sends after SIGCONT is
a problem unless it is the post it had claimed before it was stopped, or a media request
within a second of the wake (in both, a request whose guard passed before the SIGSTOP and
whose bytes left after the SIGCONT; the post is guarded again, the successor reconciles).

Figures: takeover time (the signal to the successor's `active` line, which comes after
its recovery), duplicates (entries created more than once at the fake), entries lost
(no settled ledger row, or a row the fake contradicts: each must be posted, missed by
the grace rule, or uncertain and then reconciled), uncertain left, reconciled, the
server restart's outage (restart to the next post), tracebacks.
Importable from the tests and from bench/reliability.py.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.x_server import _Server
from tests.reliability import feeds
from tests.reliability.common import Figures, HookedX, _HookedHandler
from tests.reliability.crash import PROFILE
from tests.support.env import token, x_env
from tests.support.postgres import Cluster
from tests.support.proc import BotProcess, actions, iso_at, tracebacks

_via = threading.local()  # the port the request being handled came in on


class _PortHandler(_HookedHandler):
    def handle(self) -> None:
        _via.port = self.server.server_address[1]
        super().handle()


class PortedX(HookedX):
    """The hooked fake X server, listening on one more port per bot (`add_port`); every
    request records the port it came through (`rec.via`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._httpd.RequestHandlerClass = _PortHandler
        self._ports: list[tuple[_Server, threading.Thread]] = []

    def add_port(self) -> tuple[int, str]:
        server = _Server(("127.0.0.1", 0), _PortHandler)
        server.fake = self
        server.handle_error = lambda request, address: None  # a killed client's broken pipe
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._ports.append((server, thread))
        port = server.server_address[1]
        return port, f"http://127.0.0.1:{port}"

    def _record(self, rec) -> None:
        rec.via = getattr(_via, "port", None)
        super()._record(rec)

    def stop(self) -> None:
        for server, thread in self._ports:
            server.shutdown()
            thread.join(5)
            server.server_close()
        super().stop()


@dataclass
class FailoverConfig:
    kills: int = 30
    stops: int = 5
    restart_db: bool = True
    bots: int = 3  # processes on the feed at any time
    failover: float = 2.0  # BOT_FAILOVER
    grace: int = 20  # BOT_GRACE
    gap: float = 0.25  # real seconds between entries
    delay: float = 0.03  # seconds the fake holds each request
    backoff: float = 0.05  # BOT_BACKOFF: lookups of uncertain posts follow it
    lead: float = 3.0  # seconds from launch to the first entry
    longest: float = 2.5  # a timer instant falls 0.1 s to this long after the victim was found active
    settle: float = 5.0  # after the plan: seconds for the last backlog and lookups before the stop
    seed: int = 1917

    @property
    def entries(self) -> int:
        """Enough to post through the whole plan on a slow machine (twice what one takes
        here). The suite stops the processes once the plan is done; the rest never plays."""
        seconds = self.kills * (self.longest / 2 + self.failover) + self.stops * (2.5 * self.failover + 3)
        seconds = 2 * (self.lead + seconds + 10 * self.restart_db + self.settle + 10)
        return int(seconds / self.gap)


# the default run's subset: two processes, 3 kills and 1 pause, no server restart
FAST = FailoverConfig(kills=3, stops=1, restart_db=False, bots=2, longest=1.0, settle=2.0, seed=7)


@dataclass
class Takeover:
    action: str  # "kill" or "stop"
    mode: str  # the instant that fired: "timer" or "request"
    seconds: float  # signal to the successor's `active` line
    in_flight: bool  # the fake was handling a post request of the victim at the signal
    epochs: tuple[int, int]  # the victim's and the successor's


@dataclass
class FailoverReport:
    config: FailoverConfig
    takeovers: list[Takeover]
    created_per_entry: dict[str, int]  # posts the fake created, by entry
    states: dict[str, str | None]  # entry id -> final ledger state (None: no row)
    reconciled: int  # rows settled by a lookup after a process died or was deposed with them in flight
    unsent: int  # uncertain rows X never received (claimed, then killed before the request left)
    reasons: dict[str, str]  # entry id -> state and reason, for every due entry not posted
    problems: list[str]  # every broken promise, one line each
    woken_posts: int  # calls started by a process after it was woken
    woken_in_flight: int  # posts claimed before the pause whose bytes reached the fake after it
    restart_outage: float | None  # the server's restart to the next post created (None: no restart)
    tracebacks: int = 0
    peak_rss: int = 0
    seconds: float = 0.0
    runs: int = 0
    exits: dict[str, int] = field(default_factory=dict)

    @property
    def kills(self) -> int:
        return sum(1 for t in self.takeovers if t.action == "kill")

    @property
    def stops(self) -> int:
        return sum(1 for t in self.takeovers if t.action == "stop")

    @property
    def duplicates(self) -> int:
        return sum(1 for n in self.created_per_entry.values() if n > 1)

    @property
    def lost(self) -> int:
        return sum(1 for p in self.problems if p.startswith("lost"))

    @property
    def uncertain(self) -> int:
        return sum(1 for s in self.states.values() if s == "uncertain")

    def takeover(self, quantile: str) -> float:
        times = sorted(t.seconds for t in self.takeovers)
        if not times:
            return 0.0
        return times[-1] if quantile == "max" else statistics.median(times)

    def figures(self) -> Figures:
        return Figures("failover", cases=len(self.takeovers), duplicates=self.duplicates, silent_losses=self.lost,
                       uncertain=self.uncertain, uncertain_by_network={"x": self.uncertain},
                       tracebacks=self.tracebacks, peak_rss=self.peak_rss, seconds=self.seconds,
                       notes=[self.summary()], problems=list(self.problems))

    def summary(self) -> str:
        states = Counter(s or "none" for s in self.states.values())
        modes = Counter(f"{t.action} {t.mode}" for t in self.takeovers)
        outage = f"{self.restart_outage:.1f} s" if self.restart_outage is not None else "-"
        return (f"{self.kills} kills and {self.stops} pauses of the active process ({dict(sorted(modes.items()))};"
                f" {sum(t.in_flight for t in self.takeovers)} with a post in flight), {self.runs} processes;"
                f" server restart: posting again after {outage}; takeover p50 {self.takeover('p50'):.2f} s,"
                f" max {self.takeover('max'):.2f} s (BOT_FAILOVER {self.config.failover:g});"
                f" duplicates {self.duplicates}, lost {self.lost}, uncertain left {self.uncertain}"
                f" ({self.unsent} of them never sent),"
                f" reconciled {self.reconciled}; calls by woken processes {self.woken_posts}"
                f" (in-flight posts completed after the wake: {self.woken_in_flight});"
                f" final states {dict(sorted(states.items()))}"
                + "".join(f"; {entry}: {why}" for entry, why in sorted(self.reasons.items())))


_WATCHED = ("standby", "active", "deposed", "stopped")


class Member:
    """One `bot run` process, the port it reaches the fake by, and what its log says."""

    def __init__(self, bot: BotProcess, port: int, name: str) -> None:
        self.bot = bot
        self.port = port
        self.name = name
        self.ready = False  # it said `standby` (or `active`): it loaded the feed and can take over
        self.epoch: int | None = None  # the epoch of its current tenure, by its log
        self.active_at: float | None = None  # wall time of that `active` line
        self.tenures: list[float] = []  # wall times of all its `active` lines
        self.deposed_at: float | None = None
        self.paused = False
        self._offset = 0
        self._tail = b""

    def read(self) -> None:
        """Take in the log lines written since the last read."""
        try:
            with open(self.bot.err_path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return
        self._offset += len(data)
        data = self._tail + data
        complete, _, self._tail = data.rpartition(b"\n")
        for line in complete.decode("utf-8", "replace").splitlines():
            parts = line.split(" ", 2)
            if len(parts) < 2 or parts[1] not in _WATCHED:
                continue
            values = actions([line])
            stamp = _stamp(parts[0])
            if not values or stamp is None:
                continue
            outcome = parts[1]
            if outcome in ("standby", "active"):
                self.ready = True
            if outcome == "active":
                self.epoch = int(values[0].get("epoch", 0))
                self.active_at = stamp
                self.tenures.append(stamp)
            elif outcome in ("deposed", "stopped"):
                self.epoch = self.active_at = None
                self.deposed_at = stamp

    @property
    def active(self) -> bool:
        return self.epoch is not None and not self.paused and self.bot.alive()


def _stamp(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def run_failover(workdir: Path, config: FailoverConfig = FailoverConfig(), cluster: Cluster | None = None) -> FailoverReport:
    """The whole suite in `workdir`; `cluster`: a started PostgreSQL server to use (one is
    made and removed otherwise). Raises AssertionError when the processes do not behave
    well enough to go on (no active process, a feed that ran dry)."""
    own = cluster is None
    pg = Cluster().start() if own else cluster
    try:
        return _run(workdir, config, pg)
    finally:
        if own:
            pg.stop()


def _run(workdir: Path, config: FailoverConfig, pg: Cluster) -> FailoverReport:
    started = time.monotonic()
    rng = random.Random(config.seed)
    spec = feeds.crash_spec(config.entries, config.seed, accounts=4, storms=8)
    feed = feeds.write(spec, workdir / "feed")
    members: list[Member] = []
    takeovers: list[Takeover] = []
    woken: list[tuple[Member, float, set[str]]] = []  # (the process, SIGCONT time, entries claimed at the pause)
    restart_began: float | None = None
    url = pg.create_database("failover")
    with PortedX(delay=config.delay) as fake:
        start_at = datetime.now(UTC) + timedelta(seconds=config.lead)
        last_due = start_at + timedelta(seconds=config.gap * (config.entries - 1))
        args = ["run", "--posts", str(feed), "--start-at", iso_at(start_at), "--speed", f"{60 / config.gap:g}",
                "--ledger", url]

        def launch() -> Member:
            port, base = fake.add_port()
            name = f"bot{len(members):02d}"
            env = x_env(base, spec.accounts, BOT_GRACE=config.grace, BOT_BACKOFF=config.backoff,
                        BOT_DAILY_LIMIT="100000", X_TIMEOUT="5", BOT_FAILOVER=config.failover,
                        BOT_STATE=str(workdir / f"{name}-state"))
            member = Member(BotProcess(args, env, workdir, name=name), port, name)
            members.append(member)
            return member

        try:
            for _ in range(config.bots):
                launch()
            plan = ["kill"] * config.kills + ["stop"] * config.stops
            rng.shuffle(plan)
            restart_at = len(plan) // 2 if config.restart_db else -1
            time.sleep(max(0.0, (start_at - datetime.now(UTC)).total_seconds() + 0.5))  # posting has begun
            for number, action in enumerate(plan):
                _ready(members, config, last_due)
                if number == restart_at:
                    restart_began = time.time()
                    pg.restart()  # every connection is cut; the active one keeps its lease or loses it
                victim = _active(members, 30, f"an active process before {action} {number}", last_due)
                takeovers.append(_strike(fake, members, victim, action, rng, config, url, woken, launch, last_due))
            # every entry due by now settled, and the lookups done: then all stop (the rest never plays)
            cutoff = datetime.now(UTC)
            due = {i.id for i in spec.items if start_at + timedelta(seconds=config.gap * i.minute) <= cutoff}
            time.sleep(config.settle)
            _wait_settled(url, due, 60, members)
        finally:
            fake.on_request = None
            for member in members:
                if member.paused:
                    os.kill(member.bot.pid, signal.SIGCONT)
            for member in sorted(members, key=lambda m: m.active):  # standbys first: nobody takes over
                member.bot.terminate()
        report = _analyse(spec, due, fake, url, config, takeovers, woken, restart_began)
    report.exits = {m.name: m.bot.code for m in members}
    for m in members:
        if m.bot.code not in (0, -9):
            report.problems.append(f"end: {m.name} exited {m.bot.code}")
    report.tracebacks = sum(tracebacks(m.bot.stderr(), m.bot.stdout()) for m in members)
    report.peak_rss = max(m.bot.peak_rss for m in members)
    report.runs = len(members)
    report.seconds = time.monotonic() - started
    return report


def _wait_settled(url: str, due: set[str], timeout: float, members: list[Member]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows(url)
        if all(i in rows and rows[i][0] != "claimed" for i in due):
            return
        time.sleep(0.2)
    rows = _rows(url)
    left = sorted(i for i in due if i not in rows or rows[i][0] == "claimed")
    raise AssertionError(f"timed out waiting for {len(left)} due entries to settle ({left[:5]}):\n" + _tails(members))


def _strike(fake, members, victim, action, rng, config, url, woken, launch, last_due) -> Takeover:
    """SIGKILL or SIGSTOP the active process at a seeded instant; wait for its successor."""
    sig = signal.SIGKILL if action == "kill" else signal.SIGSTOP
    mode = rng.choice(("timer", "request"))
    pause = rng.uniform(0.1, config.longest)
    fired = threading.Event()
    lock = threading.Lock()
    at = {}

    def fire(how: str) -> None:
        with lock:
            if fired.is_set():
                return
            at["in_flight"] = any(getattr(r, "via", None) == victim.port and r.path == "/2/tweets"
                                  for r in fake.open_requests())
            at["time"] = time.time()
            if sig == signal.SIGSTOP:
                victim.paused = True
            os.kill(victim.bot.pid, sig)
            at["mode"] = how
            fired.set()

    if mode == "request":
        fake.on_request = lambda rec: fire("request") if (
            rec.path == "/2/tweets" and getattr(rec, "via", None) == victim.port) else None
        if not fired.wait(2.5):
            fire("timer")
        fake.on_request = None
    else:
        time.sleep(pause)
        fire("timer")
    signalled = at["time"]
    epoch = victim.epoch or 0
    claimed = _claimed(url) if action == "stop" else set()  # the victim's calls in flight, frozen with it
    if action == "kill":
        victim.bot.reap()
        launch()
    successor = _active(members, config.failover + config.grace + 10, f"a successor after {action}", last_due,
                        but=victim)
    took = Takeover(action, at["mode"], successor.active_at - signalled, at["in_flight"], (epoch, successor.epoch))
    if action == "stop":
        time.sleep(max(0.0, signalled + config.failover + 1.0 - time.time()))  # longer than the lease
        woke = time.time()
        woken.append((victim, woke, claimed))
        victim.paused = False
        os.kill(victim.bot.pid, signal.SIGCONT)
        _wait(lambda: victim.read() or (victim.deposed_at or 0) >= woke - 0.05, 15,
              "the woken process to stand by", victim)
    return took


def _ready(members: list[Member], config: FailoverConfig, last_due: datetime) -> None:
    """Every process up (feed loaded, on standby or active), so a takeover finds one warm."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = [m for m in members if m.bot.alive()]
        for m in live:
            m.read()
        if sum(m.ready for m in live) >= config.bots:
            return
        _check_feed(last_due)
        time.sleep(0.02)
    raise AssertionError("timed out waiting for the processes to start:\n" + _tails(members))


def _active(members: list[Member], timeout: float, what: str, last_due: datetime, but: Member | None = None) -> Member:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for member in members:
            member.read()
        found = [m for m in members if m is not but and m.active]
        if len(found) == 1 and (but is None or found[0].epoch != but.epoch):
            return found[0]
        _check_feed(last_due)
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}:\n" + _tails(members))


def _check_feed(last_due: datetime) -> None:
    if datetime.now(UTC) > last_due:
        raise AssertionError("the rehearsed feed ran dry before the plan was done: raise FailoverConfig.per_kill")


def _tails(members: list[Member]) -> str:
    return "\n".join(f"--- {m.name} (code {m.bot.code})\n" + "\n".join(m.bot.lines()[-8:]) for m in members)


def _wait(predicate, timeout: float, what: str, member: Member) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n" + "\n".join(member.bot.lines()[-20:]))


def _connect(url: str):
    import psycopg

    for attempt in range(100):  # the server may be restarting
        try:
            return psycopg.connect(url, connect_timeout=5)
        except psycopg.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.1)


def _claimed(url: str) -> set[str]:
    with _connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT entry_id FROM deliveries WHERE state = 'claimed'")}


def _rows(url: str) -> dict[str, tuple]:
    with _connect(url) as conn:
        return {r[0]: r[1:] for r in conn.execute(
            "SELECT entry_id, state, reason, remote_id FROM deliveries WHERE network = 'x'")}


IN_FLIGHT_AFTER_WAKE = 1.0  # s after SIGCONT: a request then may be one whose guard passed before the stop


def _analyse(spec, due, fake, url, config, takeovers, woken, restart_began) -> FailoverReport:
    """`due`: the entries due by the end of the plan, each of which must be settled; the
    ones after it are checked only against the fake (no duplicate, no contradiction)."""
    created_per_entry = {i.id: 0 for i in spec.items}
    created: dict[str, list[str]] = {}
    problems: list[str] = []
    by_text = spec.by_text()
    for rec in fake.tweets():
        item = by_text.get((rec.json or {}).get("text"))
        if item is None:
            problems.append(f"stray post request {rec.json!r}")
            continue
        if rec.created_id is None:
            continue  # refused (not created)
        created_per_entry[item.id] += 1
        created.setdefault(item.id, []).append(rec.created_id)
        if rec.token != token(item.account):
            problems.append(f"wrong account: {item.id} posted with {rec.token}")
    woken_posts = woken_in_flight = 0
    for rec in fake.requests():
        for member, woke, claimed in woken:
            # from the wake to its next tenure (a standby again, it may well be active later)
            until = min((t for t in member.tenures if t > woke), default=float("inf"))
            if getattr(rec, "via", None) != member.port or not woke <= rec.time < until or rec.method != "POST":
                continue
            item = by_text.get((rec.json or {}).get("text")) if rec.path == "/2/tweets" else None
            if item is not None and item.id in claimed:
                woken_in_flight += 1  # claimed before the pause: its bytes left after it
            elif item is None and rec.time < woke + IN_FLIGHT_AFTER_WAKE:
                # a media request of a call under way at the pause: its guard passed before the
                # SIGSTOP, its bytes left after the SIGCONT; the post it serves is guarded again
                woken_in_flight += 1
            else:
                woken_posts += 1
                what = item.id if item else rec.path
                problems.append(f"woken: a process sent {what} after it was woken")
    rows = _rows(url)
    states = {}
    reconciled = unsent = 0
    reasons: dict[str, str] = {}
    for item in spec.items:
        state, reason, remote = rows.get(item.id, (None, None, None))
        sent = created_per_entry[item.id]
        if item.id not in due:
            if state == "posted" and item.text is not None and remote not in created.get(item.id, []):
                problems.append(f"ledger: {item.id} remote id {remote} matches no post at X")
            elif state in ("missed", "failed") and sent:
                problems.append(f"ledger: {item.id} is {state} but X received it")
            continue
        states[item.id] = state
        reconciled += bool(reason and reason.startswith("reconciled"))
        unsent += state == "uncertain" and sent == 0
        if state != "posted":
            reasons[item.id] = f"{state} ({reason})"
        if state is None or state == "claimed":
            problems.append(f"lost: {item.id} has no settled ledger row ({state})")
        elif state != "posted" and not reason:
            problems.append(f"lost: {item.id} is {state} without a reason")
        elif state == "posted" and item.text is not None and sent == 0:
            problems.append(f"lost: {item.id} is posted in the ledger but X never received it")
        elif state == "posted" and item.text is not None and remote not in created.get(item.id, []):
            problems.append(f"ledger: {item.id} remote id {remote} matches no post at X")
        elif state in ("missed", "failed") and sent:
            problems.append(f"ledger: {item.id} is {state} but X received it")
    for t in takeovers:
        if t.seconds > config.failover + config.grace:
            problems.append(f"slow: a takeover after {t.action} took {t.seconds:.1f} s"
                            f" (BOT_FAILOVER {config.failover:g} + grace {config.grace})")
        if t.epochs[1] <= t.epochs[0]:
            problems.append(f"epoch: the successor's epoch {t.epochs[1]} is not past the victim's {t.epochs[0]}")
    for problem in _personas(spec, fake, rows):
        problems.append(problem)
    outage = None
    if restart_began is not None:
        after = [r.time for r in fake.tweets() if r.created_id is not None and r.time >= restart_began]
        outage = min(after) - restart_began if after else None
    return FailoverReport(config, takeovers, created_per_entry, states, reconciled, unsent, reasons, problems,
                          woken_posts, woken_in_flight, outage)


def _personas(spec, fake, rows) -> list[str]:
    """Each account wears the persona of its last storm entry with a ledger row, or of its
    next one (switched, then stopped before the post was claimed), avatar and banner too."""
    import hashlib

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    problems = []
    for account, initial in spec.accounts.items():
        storms = [i for i in sorted(spec.items, key=lambda i: i.minute) if i.account == account and i.storm]
        done = [i for i in storms if i.id in rows]
        rest = [i for i in storms if i.id not in rows]
        allowed = [done[-1].storm if done else initial] + ([rest[0].storm] if rest else [])
        mine = fake.requests(token=token(account))
        names = [r.params.get("name") for r in mine if r.path == PROFILE + ".json"]
        images = [r.files.get("image", {}).get("sha256") for r in mine if r.path == PROFILE + "_image.json"]
        banners = [r.files.get("banner", {}).get("sha256") for r in mine if r.path == PROFILE + "_banner.json"]
        name = names[-1] if names else None
        fits = [p for p in allowed if name == spec.personas[p]
                and images and images[-1] == digest(feeds.png(p))
                and (not p.startswith("storm") or (banners and banners[-1] == digest(feeds.png(p + "banner", 8))))]
        if not fits:
            problems.append(f"persona: {account} wears {name!r}, the schedule says one of"
                            f" {[spec.personas[p] for p in allowed]}")
    return problems
