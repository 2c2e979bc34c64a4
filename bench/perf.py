"""Benchmark `bot` at the scale of a six-year feed; prints one table per feed.

    .venv/bin/python bench/perf.py [--entries 100000] [--runs 3] [--idle 60]
                                   [--lateness 200] [--pepys ../shared/corpora/pepys/posts]
                                   [--only lateness]

Every command runs as a subprocess. Wall time and peak RSS of one-shot
commands come from a fresh wrapper process (its RUSAGE_CHILDREN ru_maxrss is
the largest RSS of any process it waited for, pool workers included); the
service is sampled with psutil. Each figure is the median of `--runs` runs
with [min-max]. Caches live in the temporary folder: "cold" runs get an empty
cache folder, "warm" runs reuse one where nothing changed.

Also checked on every run: cached and uncached runs print the same check
output and the same preview JSON (exit status 1 when they do not).

Lateness is measured twice: with the SQLite ledger and with a PostgreSQL ledger
over loopback TCP (a throwaway server made with Debian's initdb, fsync on, one
fresh database per run; one process, which takes the lease before the first
entry). Where PostgreSQL cannot be had, its rows say why.

The package's bytecode is compiled first (`compileall`), as `pip install`
does: with PYTHONDONTWRITEBYTECODE set and an editable install, every
command would otherwise compile bot's modules again on start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the checkout, and `bench` as a package

from bench.synth import ACCOUNTS, generate  # noqa: E402

PY = sys.executable
LEDGER_ROWS = 1_000_000
LATE_SPEED = 1200  # entries one minute apart -> 50 ms apart
TIMEOUT = 900

# Runs a command, prints {"wall": s, "rss_kb": peak, "rc": code}; stdout and stderr to files.
WRAPPER = r"""
import json, resource, subprocess, sys, time
out, err, *cmd = sys.argv[1:]
with open(out, "wb") as o, open(err, "wb") as e:
    t = time.perf_counter()
    rc = subprocess.run(cmd, stdout=o, stderr=e).returncode
    wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "rc": rc}))
"""

FLOOR = r"""
import os, sys, yaml
for folder, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = [d for d in dirs if not d.startswith(".")]
    for name in files:
        if name.endswith((".yaml", ".yml")) and not name.startswith("."):
            with open(os.path.join(folder, name), "rb") as handle:
                yaml.load(handle.read(), Loader=yaml.CSafeLoader)
"""


# -- measuring -------------------------------------------------------------------


@dataclass
class Row:
    name: str
    target: str = ""
    wall: list[float] = field(default_factory=list)  # seconds
    rss: list[float] = field(default_factory=list)  # MB
    other: list[float] = field(default_factory=list)
    unit: str = ""  # of `other`
    text: str = ""  # a row that is only text


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def wrapped(cmd: list[str], out: Path, err: Path, env: dict, cwd: Path) -> dict:
    done = subprocess.run([PY, "-c", WRAPPER, str(out), str(err), *cmd], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT, check=True)
    return json.loads(done.stdout)


def bot(*args: str) -> list[str]:
    return [PY, "-m", "bot", *args]


def base_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "BOT_", "MASTODON_", "BLUESKY_"))}
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def log_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []


def outcome(line: str) -> str:
    parts = line.split(" ", 2)
    return parts[1] if len(parts) > 1 else ""


def wait_for(predicate, proc: subprocess.Popen, log: Path, timeout: float, what: str, sample=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sample:
            sample()
        found = predicate()
        if found:
            return found
        if proc.poll() is not None:
            raise SystemExit(f"bot run exited ({proc.returncode}) waiting for {what}:\n" + "\n".join(log_lines(log)[-20:]))
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}:\n" + "\n".join(log_lines(log)[-20:]))


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the feed's facts ------------------------------------------------------------


@dataclass
class FeedFacts:
    accounts: list[str]
    calendar: str
    last_written: date  # last historical date, as written
    years_later: int
    files: int
    megabytes: float
    entries: int


def bench_load(folder: Path, years_later: int | None = None):
    """The feed as `bot check` sees it, loaded here (with a cache of the benchmark's own)."""
    from bot.load import load
    from bot.settings import Settings
    from bot.speed import ParseCache

    settings = Settings(posts=folder, display=str(folder), env={}, years_later=years_later)
    return load(settings, now=datetime.now(UTC), cache=ParseCache(folder.parent / ".bench-cache", progress=False))


def facts(folder: Path) -> FeedFacts:
    loaded = bench_load(folder)
    feed = loaded.feed
    last = max(date.fromisoformat(e.written[:10]) for e in feed.entries)
    years = loaded.timeline.years_later
    size = sum(f.stat().st_size for f in folder.rglob("*.y*ml"))
    return FeedFacts(sorted(feed.config.accounts), feed.config.calendar, last, years,
                     feed.files, size / 1e6, len(feed.entries))


# -- the ledger --------------------------------------------------------------------


def build_ledger(path: Path, folder: Path, years_later: int, rows: int = LEDGER_ROWS) -> int:
    """A ledger as after years of running: every past delivery of the dry run (network
    console) posted, plus rows of other networks and older feeds up to `rows`."""
    import sqlite3

    from bot.run.ledger import Ledger

    Ledger.open(path, lock=False).close()  # creates the schema
    now = datetime.now(UTC)
    loaded = bench_load(folder, years_later)
    past = [e for e in loaded.timeline.events if e.instant <= now]
    stamp = "2025-01-01T00:00:00.000000Z"

    def fill():
        for e in past:
            when = e.instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            yield (e.id, e.account, "console", "posted", None, "1", when, when, when, None, 1)
            yield (e.id, e.account, "x", "posted", None, "2", when, when, when, None, 1)
        n = 0
        while 2 * len(past) + n < rows:
            yield (f"old-feed-{n}", "desk00", "x", "posted", None, str(n), stamp, stamp, stamp, None, 1)
            n += 1

    conn = sqlite3.connect(path)
    conn.executemany(
        "INSERT INTO deliveries (entry_id, account, network, state, reason, remote_id, scheduled,"
        " claimed_at, settled_at, text_hash, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?)", fill())
    conn.commit()
    count = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    conn.close()
    return count


# -- the measurements ------------------------------------------------------------------


def one_shot(rows: dict[str, Row], folder: Path, work: Path, runs: int, same: dict) -> None:
    env_cold = lambda n: base_env(BOT_CACHE=str(work / f"cache-cold-{n}"))  # noqa: E731
    warm_env = base_env(BOT_CACHE=str(work / "cache-warm"))
    outputs: dict[str, set] = {"check": set(), "preview": set()}

    def run(row: str, cmd: list[str], env: dict, keep: str | None, n: int) -> None:
        out, err = work / f"{row}-{n}.out", work / f"{row}-{n}.err"
        got = wrapped(cmd, out, err, env, work)
        if row != "floor" and got["rc"] not in (0, 1):
            raise SystemExit(f"{' '.join(cmd[2:])} failed ({got['rc']}):\n{err.read_text()[-2000:]}")
        rows[row].wall.append(got["wall"])
        rows[row].rss.append(got["rss_kb"] / 1024)
        if keep:
            outputs[keep].add(out.read_bytes())

    check = bot("check", str(folder))
    preview = bot("preview", "--posts", str(folder), "--format", "json")
    for n in range(runs):
        shutil.rmtree(work / f"cache-cold-{n}", ignore_errors=True)
        run("check-cold", check, env_cold(n), "check", n)
    # reference preview without a cache, then prime the warm cache
    wrapped(preview, work / "preview-uncached.out", work / "preview-uncached.err", base_env(BOT_CACHE=str(work / "cache-preview-cold")), work)
    outputs["preview"].add((work / "preview-uncached.out").read_bytes())
    wrapped(check, work / "prime.out", work / "prime.err", warm_env, work)
    wrapped(preview, work / "prime-preview.out", work / "prime-preview.err", warm_env, work)  # its JSON lines too
    for n in range(runs):
        run("check-warm", check, warm_env, "check", n)
        run("preview-warm", preview, warm_env, "preview", n)
        run("floor", [PY, "-c", FLOOR, str(folder)], warm_env, None, n)
    same["check"] = len(outputs["check"]) == 1
    same["preview"] = len(outputs["preview"]) == 1


def edit_one_file(folder: Path, day: date) -> tuple[Path, bytes]:
    """Change one text in the post file of `day` (same length); returns (path, original)."""
    path = next(p for p in folder.rglob(f"*{day:%Y-%m-%d}*.yaml"))
    original = path.read_bytes()
    text = original.decode()
    found = re.search(r'text: "[A-Za-z ]{7}', text)
    if found is None:
        raise SystemExit(f"no text to edit in {path}")
    at = found.start() + len('text: "')
    path.write_bytes((text[:at] + "EDITED " + text[at + 7:]).encode())
    return path, original


def service(rows: dict[str, Row], folder: Path, work: Path, ledger: Path, info: FeedFacts, runs: int, idle: float) -> None:
    env = base_env(BOT_CACHE=str(work / "cache-warm"))
    now = datetime.now(UTC)
    loaded = bench_load(folder, info.years_later)
    future = [e for e in loaded.timeline.events if e.instant > now + timedelta(hours=1)]
    edit_day = date.fromisoformat(future[len(future) // 2].entry.written[:10]) if future else None
    for n in range(runs):
        log = work / f"service-{n}.log"
        log.unlink(missing_ok=True)
        with open(log, "wb") as handle:
            started = time.perf_counter()
            proc = subprocess.Popen(bot("run", "--dry-run", "--verbose", "--posts", str(folder), "--ledger", str(ledger),
                                        "--years-later", str(info.years_later)),
                                    env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=handle)
        ps = psutil.Process(proc.pid)
        peak = [0]

        def sample():
            try:
                peak[0] = max(peak[0], ps.memory_info().rss)
            except psutil.Error:
                pass

        try:
            wait_for(lambda: any(outcome(x) == "armed" for x in log_lines(log)), proc, log, TIMEOUT, "armed", sample)
            rows["start"].wall.append(time.perf_counter() - started)
            rows["start"].rss.append(peak[0] / 2**20)
            time.sleep(1.0)
            rows["service-rss"].rss.append(ps.memory_info().rss / 2**20)
            cpu0, t0 = ps.cpu_times(), time.perf_counter()
            time.sleep(idle)
            cpu1, t1 = ps.cpu_times(), time.perf_counter()
            busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            rows["idle-cpu"].other.append(100 * busy / (t1 - t0))
            if edit_day is not None:
                before = len(log_lines(log))
                path, original = edit_one_file(folder, edit_day)
                edited = time.perf_counter()
                try:
                    def rearmed():
                        fresh = [outcome(x) for x in log_lines(log)[before:]]
                        return "reloaded" in fresh and "armed" in fresh[fresh.index("reloaded"):]

                    wait_for(rearmed, proc, log, 60, "reload")
                    rows["reload"].wall.append(time.perf_counter() - edited)
                finally:
                    path.write_bytes(original)
        finally:
            stop(proc)


def lateness(rows: dict[str, Row], folder: Path, work: Path, info: FeedFacts, runs: int, count: int, lead: float,
             ledger=None, prefix: str = "late") -> None:
    """`count` entries one minute apart after the feed's last day, replayed 50 ms apart to the fake X server.
    `ledger(n)`: the ledger of run n (default: a SQLite file); the figures go to rows PREFIX-p50, -p99, -max."""
    ledger = ledger or (lambda n: str(work / f"late-ledger-{n}.sqlite3"))
    late_feed = work / "feed-lateness"
    shutil.rmtree(late_feed, ignore_errors=True)
    shutil.copytree(folder, late_feed)
    day = info.last_written + timedelta(days=2)
    lines = [f"date: {day:%Y-%m-%d}", "posts:"]
    for i in range(count):
        lines += [f'  - time: "{i // 60:02d}:{i % 60:02d}"', f"    account: {info.accounts[i % len(info.accounts)]}",
                  f'    id: lateness-{i:04d}', f'    text: "Lateness probe number {i} of {count}."']
    (late_feed / "zz-lateness.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from bot.feed.dates import to_gregorian

    replay_day = to_gregorian(day.year, day.month, day.day, info.calendar)
    replay_day = replay_day.replace(year=replay_day.year + info.years_later)

    server_log, port_file = work / "x-requests.jsonl", work / "x-port"
    port_file.unlink(missing_ok=True)
    server = subprocess.Popen([PY, "-m", "tests.fakes.x_server", "--port-file", str(port_file), "--log", str(server_log)],
                              cwd=ROOT, env=base_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the fake X server did not start")
            time.sleep(0.05)
        env = base_env(BOT_CACHE=str(work / "cache-late"), X_API_BASE_URL=f"http://127.0.0.1:{port_file.read_text().strip()}",
                       X_API_KEY="bench-app-key", X_API_SECRET="bench-app-secret", X_TIMEOUT="5")
        for account in info.accounts:
            name = re.sub(r"[^A-Z0-9]", "_", account.upper())
            env[f"X_{name}_ACCESS_TOKEN"] = f"token-{account}"
            env[f"X_{name}_ACCESS_TOKEN_SECRET"] = f"secret-{account}"
        # the cache of the copied feed is filled first, as a running service's would be
        wrapped(bot("check", str(late_feed)), work / "late-prime.out", work / "late-prime.err", env, work)
        for n in range(runs):
            log = work / f"lateness-{n}.log"
            log.unlink(missing_ok=True)
            start_at = (datetime.now(UTC) + timedelta(seconds=lead)).isoformat()
            with open(log, "wb") as handle:
                proc = subprocess.Popen(bot("run", "--posts", str(late_feed), "--ledger", ledger(n),
                                            "--years-later", str(info.years_later), "--from", replay_day.isoformat(),
                                            "--start-at", start_at, "--speed", str(LATE_SPEED)),
                                        env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=handle)
            try:
                done = lambda: sum(1 for x in log_lines(log) if outcome(x) in ("posted", "failed", "uncertain", "missed")) >= count  # noqa: E731
                wait_for(done, proc, log, lead + count * 0.05 + 120, f"{count} posts")
            finally:
                stop(proc)
            late = [int(m.group(1)) for x in log_lines(log) if outcome(x) == "posted" and (m := re.search(r"late_ms=(-?\d+)", x))]
            if len(late) < count:
                raise SystemExit(f"only {len(late)} of {count} lateness probes were posted; see {log}")
            late.sort()
            rows[f"{prefix}-p50"].other.append(late[len(late) // 2])
            rows[f"{prefix}-p99"].other.append(late[min(len(late) - 1, int(len(late) * 0.99))])
            rows[f"{prefix}-max"].other.append(late[-1])
    finally:
        stop(server)


def pg_lateness(rows: dict[str, Row], folder: Path, work: Path, info: FeedFacts, runs: int, count: int, lead: float) -> None:
    """The same probe on a PostgreSQL ledger over loopback TCP (a throwaway server, fsync on)."""
    from tests.support.postgres import Cluster, unavailable

    why = unavailable()
    if why is None:
        try:
            cluster = Cluster(durable=True).start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if why is not None:
        for key in ("pg-late-p50", "pg-late-p99", "pg-late-max"):
            rows[key].text = f"skipped: {why}"
        print(f"PostgreSQL lateness skipped: {why}", file=sys.stderr)
        return
    try:
        lateness(rows, folder, work, info, runs, count, lead, ledger=lambda n: cluster.create_database("late"),
                 prefix="pg-late")
    finally:
        cluster.stop()


# -- the table ---------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = psutil.virtual_memory().total / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {ram:.1f} GiB RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def new_rows(count: int) -> dict[str, Row]:
    rows = [
        Row("check-cold", "<= 1.5x floor"), Row("check-warm", "<= 1.0 s"), Row("preview-warm", "<= 1.0 s"),
        Row("start", "<= 1.0 s"), Row("service-rss", "<= 300 MB"), Row("idle-cpu", "<= 1 %", unit="%"),
        Row("reload", "<= 1 s"),
        Row("late-p50", "", unit="ms"), Row("late-p99", "<= 10 ms", unit="ms"), Row("late-max", "<= 50 ms", unit="ms"),
        Row("pg-late-p50", "", unit="ms"), Row("pg-late-p99", "<= 10 ms", unit="ms"),
        Row("pg-late-max", "<= 50 ms", unit="ms"),
        Row("floor"), Row("ratio", "<= 1.5", unit="x"),
    ]
    return {r.name: r for r in rows}


LABELS = {
    "check-cold": "`bot check`, cold (no cache)",
    "check-warm": "`bot check`, warm (nothing changed)",
    "preview-warm": "`bot preview --format json`, warm",
    "start": "`bot run --dry-run`: launch to first entry armed ({ledger} ledger rows)",
    "service-rss": "service RSS, running",
    "idle-cpu": "service CPU, idle {idle:g} s",
    "reload": "reload: edit one file to new schedule armed",
    "late-p50": "posting lateness p50 ({count} posts 50 ms apart, fake X)",
    "late-p99": "posting lateness p99",
    "late-max": "posting lateness max",
    "pg-late-p50": "posting lateness p50, PostgreSQL ledger over loopback",
    "pg-late-p99": "posting lateness p99, PostgreSQL ledger",
    "pg-late-max": "posting lateness max, PostgreSQL ledger",
    "floor": "floor: `yaml.load(CSafeLoader)` of the same files",
    "ratio": "cold check / floor",
}


def table(title: str, rows: dict[str, Row], notes: dict) -> str:
    out = [f"### {title}", "", f"Machine: {machine()}", "",
           f"Feed: {notes['entries']} entries, {notes['files']} files, {notes['mb']:.1f} MB of YAML; "
           f"{notes['runs']} runs each, median [min-max].", "",
           "| measurement | wall time (s) | peak RSS (MB) | other | target |",
           "| --- | --- | --- | --- | --- |"]
    for key, row in rows.items():
        if notes.get("only") and not (row.wall or row.rss or row.other or row.text):
            continue  # not measured in this run (--only)
        label = LABELS[key].format(**notes)
        other = row.text or spread(row.other, ".1f" if row.unit in ("%", "x") else ".0f") + (f" {row.unit}" if row.other else "")
        out.append(f"| {label} | {spread(row.wall, '.2f')} | {spread(row.rss, '.0f')} | {other} | {row.target} |")
    if notes["same"]:
        out += ["", f"Cached and uncached runs: check output identical: {'yes' if notes['same']['check'] else 'NO'}; "
                    f"preview JSON identical: {'yes' if notes['same']['preview'] else 'NO'}."]
    return "\n".join(out)


def bench_feed(title: str, folder: Path, work: Path, args) -> tuple[str, bool]:
    info = facts(folder)
    rows = new_rows(args.lateness)
    same: dict = {}
    count, lead = 0, 8.0
    if args.only != "lateness":
        print(f"[{title}] one-shot commands ...", file=sys.stderr)
        one_shot(rows, folder, work, args.runs, same)
        cold = statistics.median(rows["check-cold"].wall)
        rows["ratio"].other = [cold / statistics.median(rows["floor"].wall)]
        print(f"[{title}] ledger of {args.ledger_rows} rows ...", file=sys.stderr)
        ledger = work / "ledger.sqlite3"
        ledger.unlink(missing_ok=True)
        count = build_ledger(ledger, folder, info.years_later, args.ledger_rows)
        print(f"[{title}] service ...", file=sys.stderr)
        service(rows, folder, work, ledger, info, args.runs, args.idle)
        lead = max(5.0, 3 * statistics.median(rows["start"].wall) + 3)
    print(f"[{title}] lateness ...", file=sys.stderr)
    lateness(rows, folder, work, info, args.runs, args.lateness, lead)
    print(f"[{title}] lateness, PostgreSQL ledger ...", file=sys.stderr)
    pg_lateness(rows, folder, work, info, args.runs, args.lateness, lead + 2)
    notes = {"entries": info.entries, "files": info.files, "mb": info.megabytes, "runs": args.runs,
             "same": same, "ledger": f"{count:,}", "idle": args.idle, "count": args.lateness, "only": args.only}
    return table(title, rows, notes), not same or (same["check"] and same["preview"])


def import_pepys(source: Path, out: Path) -> str | None:
    """The Pepys feed via `bot import lines`, or why it cannot be made."""
    done = subprocess.run(bot("import", "lines", str(source), "--out", str(out), "--account", "pepys",
                              "--calendar", "julian", "--timezone", "Europe/London"),
                          capture_output=True, text=True, env=base_env(), cwd=out.parent)
    if done.returncode != 0:
        if "No such command" in done.stderr:
            return "`bot import` is not available yet"
        return "bot import failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    parser.add_argument("--lateness", type=int, default=200, help="entries of the lateness probe")
    parser.add_argument("--ledger-rows", type=int, default=LEDGER_ROWS, help="rows in the ledger of the start-up run")
    parser.add_argument("--pepys", type=Path, help="also bench the feed imported from this Pepys corpus folder")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--only", choices=["lateness"], help="measure only this (both ledgers)")
    args = parser.parse_args(argv)

    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "bot")], check=False, stdout=subprocess.DEVNULL)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bot-perf-"))
    work.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        feed = work / "synthetic" / "feed"
        shutil.rmtree(feed, ignore_errors=True)
        print(f"generating {args.entries} entries in {feed} ...", file=sys.stderr)
        generate(feed, args.entries)
        text, same = bench_feed(f"Synthetic feed, {args.entries} entries, {ACCOUNTS} accounts", feed, work / "synthetic", args)
        ok &= same
        print(text, flush=True)
        if args.pepys:
            pepys_work = work / "pepys"
            shutil.rmtree(pepys_work, ignore_errors=True)
            pepys_work.mkdir()
            why = import_pepys(args.pepys.resolve(), pepys_work / "feed")
            print()
            if why:
                print(f"### Pepys diary\n\nskipped: {why}.", flush=True)
            else:
                text, same = bench_feed("Pepys diary (bot import lines)", pepys_work / "feed", pepys_work, args)
                ok &= same
                print(text, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
