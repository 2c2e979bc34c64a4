"""Fault engine: one `bot run` per scenario against the fake X server, each fault
scoped to one account's token, a healthy `steady` account posting alongside.

Scenarios:
  token faults  one run, one account per fault kind (FAULTS), faults queued at the
                fake before start; BOT_RETRIES=3, BOT_BACKOFF=0.05, X_TIMEOUT=1
  refused       nothing listens at X_API_BASE_URL (the start-up switch is retried), then the fake starts there
  disk-full     the ledger on a small tmpfs that is filled up mid-run, then emptied
  read-only     the ledger on a tmpfs remounted read-only (a busy one cannot be, so
                before the start): run refuses with one line, status still reads it
The last two need root and `mount -t tmpfs`; without them they are reported skipped.

Each fault account has a first entry (hit by the fault) at 0.5 s and a second one
at 6 s (must be posted: the bot did not fall over).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.x_server import FakeXServer, unused_port
from tests.reliability import feeds
from tests.reliability.common import Figures, HookedX
from tests.support.env import x_env as base_env, token
from tests.support.ledger import ledger_rows, ledger_switches
from tests.support.proc import BotProcess as Bot, actions, tracebacks

RETRIES = 3
TIMEOUT = 1.0
STEADY = "steady"
ON_TIME_MS = 1000  # the steady account's posts: at most this late while others back off


@dataclass(frozen=True)
class Fault:
    name: str  # also the account key
    kind: str  # FakeXServer fault kind
    count: int
    state: str  # expected final state of the first entry
    requests: int  # post requests the fake must record for the first entry
    outcome: str  # log outcome expected for the first entry
    reason: str  # text expected in that log line's reason
    path: str = "/2/tweets"
    extra: dict = field(default_factory=dict)


FAULTS = (
    Fault("rate-reset", "429", 1, "posted", 2, "retry", "HTTP 429", extra={"reset_in": 3}),
    Fault("rate-noreset", "429_no_reset", 2, "posted", 3, "retry", "HTTP 429"),
    Fault("err500", "500", 2, "posted", 3, "retry", "HTTP 500"),
    Fault("err503", "503", RETRIES + 1, "failed", RETRIES + 1, "failed", "HTTP 503"),
    Fault("reset-before", "reset_before_read", 1, "uncertain", 1, "uncertain", "connection lost"),
    Fault("reset-after", "reset_after_read", 1, "uncertain", 1, "uncertain", "connection lost"),
    Fault("hung", "hang", 1, "uncertain", 1, "uncertain", "no answer within 1 s", extra={"hang_seconds": 4}),
    Fault("unauth", "401", 1, "failed", 1, "failed", "HTTP 401"),
    Fault("duplicate", "403_duplicate", 1, "uncertain", 1, "uncertain", "may already exist"),
    # the post was made and its answer broken: uncertain, then found on the timeline (reconciled)
    Fault("malformed", "malformed_json", 1, "posted", 1, "uncertain", "not valid JSON"),
    Fault("refused453", "403_453", 99, "posted", 1, "switch-failed", "code 453",
          path="/1.1/account/update_profile.json"),
)


@dataclass
class Outcome:
    """What one scenario showed; `problems` lists every expectation it broke."""

    name: str
    problems: list[str] = field(default_factory=list)
    requests: int = 0  # requests the fault account made for its first entry
    uncertain: int = 0
    duplicates: int = 0
    silent: int = 0
    tracebacks: int = 0
    peak_rss: int = 0
    skipped: str | None = None
    log: list[str] = field(default_factory=list)


@dataclass
class FaultReport:
    outcomes: list[Outcome]
    seconds: float = 0.0

    def figures(self) -> Figures:
        ran = [o for o in self.outcomes if not o.skipped]
        notes = [f"{o.name}: skipped ({o.skipped})" for o in self.outcomes if o.skipped]
        notes.append("ran: " + ", ".join(o.name for o in ran))
        return Figures("fault", cases=len(ran), duplicates=sum(o.duplicates for o in ran),
                       silent_losses=sum(o.silent for o in ran), uncertain=sum(o.uncertain for o in ran),
                       uncertain_by_network={"x": sum(o.uncertain for o in ran)},  # the fault suite runs on X
                       tracebacks=sum(o.tracebacks for o in ran), peak_rss=max((o.peak_rss for o in ran), default=0),
                       seconds=self.seconds, notes=notes, problems=[p for o in ran for p in o.problems])


def _spec(accounts: list[str], *, first: float = 0.5, second: float = 6.0, steady_until: float = 7.0,
          storm_for: str | None = None) -> feeds.Spec:
    """Minutes are real seconds at --speed 60."""
    personas = {f"p-{a}": f"Paper {a}" for a in accounts + [STEADY]}
    personas["stormy"] = "Stormy Paper"
    items = []
    for a in accounts:
        items.append(feeds.Item(f"{a}-1", a, first, f"{a}: first post", storm="stormy" if a == storm_for else None))
        items.append(feeds.Item(f"{a}-2", a, second, f"{a}: second post"))
    t, n = 0.0, 0
    while t <= steady_until:
        items.append(feeds.Item(f"{STEADY}-{n:02d}", STEADY, t, f"{STEADY}: post {n}"))
        t, n = t + 0.4, n + 1
    items.sort(key=lambda i: i.minute)
    return feeds.Spec({a: f"p-{a}" for a in accounts + [STEADY]}, personas, items, avatars=False)


def _launch(workdir: Path, name: str, spec: feeds.Spec, base_url: str, ledger: Path, lead: float = 2.5, **env_extra) -> tuple[Bot, dict]:
    feed = feeds.write(spec, workdir / f"{name}-feed")
    env = base_env(base_url, spec.accounts, BOT_RETRIES=RETRIES, BOT_BACKOFF="0.05", X_TIMEOUT=f"{TIMEOUT:g}",
                   BOT_DAILY_LIMIT="100000", **env_extra)
    # an offset, not an instant computed here: a start slower than `lead` on a busy machine is not refused as past
    args = ["run", "--posts", str(feed), "--start-at", f"+{lead:g}s", "--speed", "60", "--ledger", str(ledger)]
    return Bot(args, env, workdir, name=name), env


def _settled(ledger: Path, spec: feeds.Spec) -> bool:
    rows = ledger_rows(ledger)
    return all(i.id in rows and rows[i.id].state != "claimed" for i in spec.items)


def _finish(bot: Bot, ledger: Path, spec: feeds.Spec, out: Outcome, timeout: float = 30, done=None) -> dict:
    try:
        bot.wait_for(done or (lambda: _settled(ledger, spec)), timeout, "every entry settled", step=0.1)
        time.sleep(0.3)
    except AssertionError as exc:
        out.problems.append(f"{out.name}: {exc}".splitlines()[0])
    if not bot.alive() and bot.reap() != 0:  # a rehearsal ends by itself (0) once everything settled
        out.problems.append(f"{out.name}: bot run ended ({bot.code}) instead of running on")
    code = bot.terminate()
    if code != 0:
        out.problems.append(f"{out.name}: exit code {code} after SIGTERM")
    out.log = bot.lines()
    out.tracebacks = tracebacks(bot.stderr(), bot.stdout())
    out.peak_rss = bot.peak_rss
    return ledger_rows(ledger)


def _check_steady(out: Outcome, lines: list[str], spec: feeds.Spec) -> None:
    steady = [a for a in actions(lines, "posted") if a.get("account") == STEADY]
    expected = sum(1 for i in spec.items if i.account == STEADY)
    if len(steady) != expected:
        out.problems.append(f"{out.name}: the steady account posted {len(steady)} of {expected}")
    late = [int(a.get("late_ms", 0)) for a in steady]
    if late and max(late) > ON_TIME_MS:
        out.problems.append(f"{out.name}: the steady account was {max(late)} ms late while another backed off")


def _check_entries(out: Outcome, fake: FakeXServer, rows: dict, spec: feeds.Spec) -> None:
    """Duplicates, silent losses and uncertainty over every entry of the run.

    A request counts as sent when it may have created a post: answered 2xx, or
    not answered at all (hung, reset after reading); 429/4xx/5xx answers create nothing."""
    texts = [(r.json or {}).get("text") for r in fake.tweets() if r.status is None or 200 <= r.status < 300]
    for item in spec.items:
        sent = texts.count(item.text)
        row = rows.get(item.id)
        if sent > 1:
            out.duplicates += 1
            out.problems.append(f"{out.name}: {item.id} was sent {sent} times")
        if row is None or row.state == "claimed" or (row.state != "posted" and not row.reason):
            out.silent += 1
            out.problems.append(f"{out.name}: {item.id} has no settled row with a reason ({row})")
        elif row.state == "posted" and sent == 0:
            out.silent += 1
            out.problems.append(f"{out.name}: {item.id} posted in the ledger, never received")
        if row is not None and row.state == "uncertain":
            out.uncertain += 1


def token_faults(workdir: Path, faults=FAULTS) -> list[Outcome]:
    """All token-scoped faults in one run; one Outcome per fault (problems of the
    shared run, like the steady account's lateness, go to every outcome)."""
    accounts = [f.name for f in faults]
    storm_for = next((f.name for f in faults if f.kind == "403_453"), None)
    spec = _spec(accounts, storm_for=storm_for)
    ledger = workdir / "faults.sqlite3"
    outcomes = [Outcome(f.name) for f in faults]
    with HookedX() as fake:
        for f in faults:
            fake.fail(f.kind, f.count, path=f.path, token=token(f.name), **f.extra)
        bot, _ = _launch(workdir, "faults", spec, fake.base_url, ledger)
        shared = Outcome("token-faults")
        rows = _finish(bot, ledger, spec, shared)
        _check_steady(shared, shared.log, spec)
        _check_entries(shared, fake, rows, spec)
        switches = ledger_switches(ledger)
        resets = fake.resets_before_read
        for f, out in zip(faults, outcomes):
            out.log, out.tracebacks, out.peak_rss = shared.log, shared.tracebacks, shared.peak_rss
            out.problems += shared.problems if f is faults[0] else []
            mine = [r for r in fake.requests(token=token(f.name))]
            first = f"{f.name}: first post"
            out.requests = sum(1 for r in mine if r.path == "/2/tweets" and (r.json or {}).get("text") == first)
            if f.kind == "reset_before_read":
                out.requests += resets  # dropped unread, so not in requests(): counted apart
            if f.kind == "403_453":
                out.requests = sum(1 for r in mine if r.path == f.path)
            _expect(out, f, rows, switches)
        outcomes[0].duplicates, outcomes[0].silent = shared.duplicates, shared.silent
        for out, f in zip(outcomes, faults):
            out.uncertain = 1 if rows.get(f"{f.name}-1") and rows[f"{f.name}-1"].state == "uncertain" else 0
    return outcomes


def _expect(out: Outcome, f: Fault, rows: dict, switches: list[tuple]) -> None:
    first, second = rows.get(f"{f.name}-1"), rows.get(f"{f.name}-2")
    if first is None or first.state != f.state:
        out.problems.append(f"{f.name}: first entry is {first and first.state}, expected {f.state}")
    if second is None or second.state != "posted":
        out.problems.append(f"{f.name}: the later entry is {second and second.state}, expected posted")
    wanted = 2 if f.kind == "403_453" else f.requests  # 453: the start-up correction and the storm, once each
    if out.requests != wanted:
        out.problems.append(f"{f.name}: {out.requests} requests, expected {wanted}")
    lines = [a for a in actions(out.log, f.outcome)
             if a.get("account") == f.name and f.reason in a.get("reason", "")]
    if not lines:
        out.problems.append(f"{f.name}: no '{f.outcome}' log line with {f.reason!r}")
    if first is not None and f.state != "posted" and f.reason not in (first.reason or "") and f.outcome != "retry":
        out.problems.append(f"{f.name}: ledger reason {first.reason!r} lacks {f.reason!r}")
    if f.kind == "403_453":
        mine = [s for s in switches if s[1] == f.name]
        if not mine or any(s[4] != "failed" or "453" not in (s[5] or "") for s in mine):
            out.problems.append(f"{f.name}: switches {mine}, expected each failed with code 453")


def refused(workdir: Path) -> Outcome:
    """Nothing listens at first: every call fails before sending ("could not connect").
    The persona switch at start is retried (nothing is posted under a persona not yet
    worn); once the fake starts on that port, the switch goes through and every entry
    goes out, late but within the grace: nothing twice, nothing lost."""
    out = Outcome("refused")
    port = unused_port()
    spec = _spec(["alpha"], first=0.3, second=3.0, steady_until=4.0)
    ledger = workdir / "refused.sqlite3"
    bot, _ = _launch(workdir, "refused", spec, f"http://127.0.0.1:{port}", ledger)

    def retried():
        return [a for a in actions(bot.lines(), "switch-retry") if "could not connect" in a.get("reason", "")]

    try:
        bot.wait_for(lambda: len(retried()) >= 4, 15, "the switch to be retried")
    except AssertionError as exc:
        out.problems.append(f"refused: {exc}".splitlines()[0])
    with FakeXServer(port=port) as fake:
        rows = _finish(bot, ledger, spec, out)
        _check_entries(out, fake, rows, spec)
    out.requests = len(retried())
    for item in spec.items:
        row = rows.get(item.id)
        if row is None or row.state != "posted":
            out.problems.append(f"refused: {item.id} is {row}, expected posted once X was up")
    return out


# ---- the ledger's disk -------------------------------------------------------------

def _mount(target: Path, size: str) -> str | None:
    """Mount a tmpfs at target; None on success, else why not."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else f"mount failed: {done.stderr.strip()}"


def _umount(target: Path) -> None:
    subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def disk_full(workdir: Path) -> Outcome:
    """Fill the ledger's filesystem mid-run. Entries due meanwhile: not sent (nothing
    can be claimed), a ledger-error line each; the bot keeps running and posts the
    later entries once space is back."""
    out = Outcome("disk-full")
    mount = workdir / "disk-full"
    why = _mount(mount, "8m")
    if why:
        out.skipped = why
        return out
    try:
        spec = _spec(["alpha"], first=3.0, second=9.0, steady_until=10.0)
        ledger = mount / "ledger.sqlite3"
        with HookedX() as fake:
            bot, _ = _launch(workdir, "disk-full", spec, fake.base_url, ledger)
            bot.wait_for(lambda: len(fake.tweets()) >= 2, 15, "two posts")
            filler = _fill(mount)
            broken_at = len(fake.tweets())
            time.sleep(3.5)  # alpha-1 (at 3 s) and several steady posts fall due
            errors = actions(bot.lines(), "ledger-error")
            sent_while_broken = len(fake.tweets()) - broken_at
            filler.unlink()
            last = [i.text for i in spec.items][-1]
            rows = _finish(bot, ledger, spec, out, timeout=20,
                           done=lambda: {"alpha: second post", last} <= {(r.json or {}).get("text") for r in fake.tweets()})
            texts = [(r.json or {}).get("text") for r in fake.tweets()]
        dups = [t for t in set(texts) if texts.count(t) > 1]
        out.duplicates = len(dups)
        if not errors:
            out.problems.append(f"{out.name}: no ledger-error line while the disk was full")
        if sent_while_broken > 1:  # at most the call that was already in flight
            out.problems.append(f"{out.name}: {sent_while_broken} posts sent while nothing could be recorded")
        first = rows.get("alpha-1")
        if first is None or first.state != "posted" or not any(a.get("entry") == "alpha-1" for a in errors):
            out.problems.append(f"{out.name}: alpha-1 (due while full) is {first}, expected a ledger-error line, then posted")
        if "alpha: second post" not in texts:
            out.problems.append(f"{out.name}: the later entry was not posted after the disk came back")
        for item in spec.items:
            row = rows.get(item.id)
            if item.text in texts and (row is None or row.state not in ("posted", "uncertain", "claimed")):
                out.silent += 1
                out.problems.append(f"{out.name}: {item.id} went out but the ledger says {row}")
            if row is None and not any(a.get("entry") == item.id for a in errors):
                out.silent += 1
                out.problems.append(f"{out.name}: {item.id} has no ledger row and no ledger-error line")
        out.requests = len(texts)
    finally:
        _umount(mount)
    return out


def read_only(workdir: Path) -> Outcome:
    """A ledger on a read-only filesystem (a busy tmpfs cannot be remounted read-only,
    so it is read-only from the start): `bot run` refuses to start with one line
    naming the ledger, sends nothing; `bot status` still reads it."""
    out = Outcome("read-only")
    mount = workdir / "disk-readonly"
    why = _mount(mount, "8m")
    if why:
        out.skipped = why
        return out
    try:
        spec = _spec(["alpha"], first=0.5, second=1.0, steady_until=1.0)
        ledger = mount / "ledger.sqlite3"
        with HookedX() as fake:
            bot, env = _launch(workdir, "readonly-seed", spec, fake.base_url, ledger, lead=1.0)
            rows = _finish(bot, ledger, spec, out)
            seeded = len(fake.tweets())
            ro = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
            if ro.returncode != 0:
                out.skipped = f"remount read-only failed: {ro.stderr.strip()}"
                return out
            bot, env = _launch(workdir, "readonly", spec, fake.base_url, ledger)
            code = bot.reap(20)
            err = bot.stderr()
            out.tracebacks += tracebacks(err, bot.stdout())
            out.peak_rss = max(out.peak_rss, bot.peak_rss)
            status = Bot(["status", "--posts", str(workdir / "readonly-feed"), "--ledger", str(ledger), "--format", "json"],
                         env, workdir, name="readonly-status")
            status_code = status.reap(20)
            out.tracebacks += tracebacks(status.stderr(), status.stdout())
            sent = len(fake.tweets()) - seeded
        lines = [a for a in actions(err.splitlines(), "not-started") if str(ledger) in a.get("reason", "")]
        if code != 1 or not lines or "Read-only file system" not in lines[0]["reason"]:
            out.problems.append(f"read-only: exit {code}, expected 1 with a not-started line naming the ledger: {err.strip()[-300:]}")
        if sent:
            out.problems.append(f"read-only: {sent} posts sent with a ledger that cannot record them")
        if status_code != 0 or f'"posted": {len(rows)}' not in status.stdout():
            out.problems.append(f"read-only: bot status exit {status_code}: {(status.stdout() + status.stderr()).strip()[-300:]}")
        out.requests = sent
    finally:
        _umount(mount)
    return out


def run_faults(workdir: Path, *, disks: bool = True) -> FaultReport:
    started = time.monotonic()
    outcomes = token_faults(workdir)
    outcomes.append(refused(workdir))
    if disks:
        outcomes.append(disk_full(workdir))
        outcomes.append(read_only(workdir))
    return FaultReport(outcomes, time.monotonic() - started)
