"""The ledger: claim-once, recovery, problems, switches, threads -- against both backends,
a SQLite file and a throwaway PostgreSQL server (`led`, `target`); then what is SQLite's
own: migrations of the file, the process lock across real processes, kill -9, and
failures of the disk under it (PostgreSQL's own: tests/test_ledger_postgres.py)."""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.run.ledger import schema as ledger_module
from bot.errors import LedgerError, LedgerLocked
from bot.run.ledger import MIGRATIONS, NOT_POSTED_REASON, STOPPED_REASON, Ledger, open_ledger

UTC = timezone.utc
T0 = datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
SCHED = datetime(2026, 11, 26, 13, 59, 30, tzinfo=UTC)
KEY = ("1917-03-08-a", "petrograd", "x")


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, path):
    """Where a ledger lives: a SQLite file, or a fresh schema of the throwaway PostgreSQL server."""
    return path if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def led(target):
    with open_ledger(target, now=T0) as handle:
        yield handle


@pytest.fixture
def sqlite_led(path):
    with Ledger.open(path, now=T0) as handle:
        yield handle


def claim(led, key=KEY, *, at=T0, text_hash="h1"):
    return led.claim(*key, scheduled=SCHED, now=at, text_hash=text_hash)


def user_version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


# -- deliveries ------------------------------------------------------------------

def test_open_creates_folders_and_a_wal_file(path, sqlite_led):
    led = sqlite_led
    assert path.is_file()
    assert led._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert led._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert user_version(path) == len(MIGRATIONS)


def test_claim_once_per_key(led):
    assert claim(led, text_hash="first") is True
    assert claim(led, at=T0 + timedelta(minutes=5), text_hash="second") is False
    row = led.state_of(*KEY)
    assert (row.state, row.claimed_at, row.text_hash, row.attempts) == ("claimed", T0, "first", 1)
    led.settle(*KEY, "posted", now=T0 + timedelta(seconds=1), remote_id="1900")
    assert claim(led) is False
    assert led.record_missed(*KEY, scheduled=SCHED, now=T0, reason="late") is False
    assert led.state_of(*KEY).state == "posted"
    # another network of the same entry is another delivery
    assert claim(led, (KEY[0], KEY[1], "mastodon")) is True


def test_claim_is_committed_for_other_connections(target, led):
    claim(led)
    with open_ledger(target, readonly=True) as other:
        assert other.state_of(*KEY).state == "claimed"


def test_settle_round_trips_every_field(target, led):
    claim(led)
    led.settle(*KEY, "posted", now=T0 + timedelta(seconds=2), remote_id="1851", attempts=3)
    led.close()
    with open_ledger(target, readonly=True) as again:
        row = again.state_of(*KEY)
        assert row.kind == "delivery" and row.key == KEY
        assert (row.state, row.remote_id, row.attempts, row.text_hash) == ("posted", "1851", 3, "h1")
        assert row.scheduled == SCHED and row.scheduled.tzinfo is not None
        assert row.settled_at == T0 + timedelta(seconds=2)
        assert again.remote_id(*KEY) == "1851"
        assert again.remote_id("nope", "petrograd", "x") is None


def test_settle_needs_a_claimed_row(led):
    with pytest.raises(LedgerError, match="it has no row, not claimed"):
        led.settle(*KEY, "posted", now=T0)
    claim(led)
    led.settle(*KEY, "failed", now=T0, reason="401 Unauthorized")
    led.settle(*KEY, "failed", now=T0, reason="401 Unauthorized")  # again: a commit whose answer was lost
    with pytest.raises(LedgerError) as err:
        led.settle(*KEY, "posted", now=T0)
    assert str(led.path) in str(err.value) and "it is failed" in str(err.value)
    assert led.state_of(*KEY).reason == "401 Unauthorized"
    with pytest.raises(ValueError):
        led.settle(*KEY, "missed", now=T0)


def test_times_must_be_aware(led):
    with pytest.raises(ValueError, match="aware"):
        led.claim(*KEY, scheduled=SCHED, now=datetime(2026, 11, 26, 14, 0), text_hash=None)
    assert led.state_of(*KEY) is None
    # any zone is accepted and stored as UTC
    plus3 = timezone(timedelta(hours=3))
    claim(led, at=datetime(2026, 11, 26, 17, 0, tzinfo=plus3))
    assert led.state_of(*KEY).claimed_at == T0


def test_record_missed_once(led):
    assert led.record_missed(*KEY, scheduled=SCHED, now=T0, reason="1200 s late") is True
    assert led.record_missed(*KEY, scheduled=SCHED, now=T0, reason="again") is False
    row = led.state_of(*KEY)
    assert (row.state, row.reason, row.claimed_at, row.attempts) == ("missed", "1200 s late", None, 0)
    assert claim(led) is False


def test_recover_makes_claimed_rows_uncertain(target):
    with open_ledger(target) as led:
        claim(led, ("a", "acc", "x"))
        claim(led, ("b", "acc", "x"))
        led.settle("b", "acc", "x", "posted", now=T0, remote_id="9")
        switch = led.claim_switch("acc", "x", "telegraph", "a", now=T0)
    later = T0 + timedelta(hours=1)
    with open_ledger(target) as led:
        found = led.recover(later)
        assert [(r.kind, r.entry_id, r.state, r.reason) for r in found] == [
            ("delivery", "a", "uncertain", STOPPED_REASON),
            ("switch", "a", "uncertain", STOPPED_REASON),
        ]
        assert found[1].switch_id == switch and found[1].persona == "telegraph"
        assert led.state_of("a", "acc", "x").state == "uncertain"
        assert led.state_of("a", "acc", "x").settled_at == later
        assert led.state_of("b", "acc", "x").state == "posted"
        assert led.switch(switch).state == "uncertain"
        assert led.recover(later) == []
        assert claim(led, ("a", "acc", "x")) is False  # never re-posted automatically


def test_states_for_batches_many_keys(led):
    rng = random.Random(7)
    states = ["posted", "failed", "missed", "uncertain", "claimed"]
    rows = [(f"e{i:05d}", f"acc{i % 3}", "x" if i % 2 else "bluesky", states[i % 5])
            for i in range(5000)]
    with led._writing("insert test rows") as conn:  # the backend's own transaction, its dialect of `?`
        conn.executemany(
            "INSERT INTO deliveries (entry_id, account, network, state, scheduled) VALUES (?, ?, ?, ?, 's')",
            rows)
    keys = [r[:3] for r in rows]
    asked = rng.sample(keys, 3000) + [("missing", "acc0", "x"), ("e00001", "acc1", "mastodon")]
    asked += asked[:10]  # duplicates are harmless
    got = led.states_for(asked)
    wanted = set(asked)
    expected = {r[:3]: r[3] for r in rows if r[:3] in wanted}
    assert got == expected and len(got) == 3000
    assert led.states_for([]) == {}
    assert led.states_for(iter([keys[4]])) == {keys[4]: "claimed"}


def test_counts_problems_and_last_posted(led):
    assert led.counts() == dict(posted=0, claimed=0, failed=0, missed=0, uncertain=0)
    assert led.last_posted() is None and led.problems() == []
    for i, state in enumerate(["posted", "posted", "failed", "uncertain"]):
        key = (f"e{i}", "acc", "x")
        led.claim(*key, scheduled=SCHED + timedelta(minutes=i), now=T0, text_hash=None)
        led.settle(*key, state, now=T0 + timedelta(minutes=i), remote_id=f"r{i}")
    led.claim("e9", "acc", "x", scheduled=SCHED, now=T0, text_hash=None)
    led.record_missed("e5", "acc", "x", scheduled=SCHED + timedelta(minutes=5), now=T0, reason="late")
    switch = led.claim_switch("acc", "x", "telegraph", None, now=T0 + timedelta(minutes=4, seconds=30))
    led.settle_switch(switch, "failed", now=T0, reason="403 code 453")
    posted_switch = led.claim_switch("acc", "mastodon", "herald", None, now=T0)  # another network: no help
    led.settle_switch(posted_switch, "posted", now=T0)

    assert led.counts() == dict(posted=2, claimed=1, failed=1, missed=1, uncertain=1)
    assert led.last_posted().entry_id == "e1"
    problems = led.problems()
    assert [(p.kind, p.entry_id or p.persona, p.state) for p in problems] == [
        ("delivery", "e5", "missed"),
        ("switch", "telegraph", "failed"),
        ("delivery", "e3", "uncertain"),
        ("delivery", "e2", "failed"),
    ]
    assert [p.entry_id for p in led.problems(limit=2)] == ["e5", None]


def test_a_switch_problem_is_over_once_a_later_switch_of_that_slot_succeeds(led):
    failed = led.claim_switch("acc", "x", "telegraph", "storm", now=T0)
    led.settle_switch(failed, "failed", now=T0, reason="gave up: 503")
    stuck = led.claim_switch("acc", "bluesky", "telegraph", "storm", now=T0)
    led.recover(T0)  # the bluesky one was in flight: uncertain
    assert [(p.network, p.state) for p in led.problems()] == [("bluesky", "uncertain"), ("x", "failed")]
    again = led.claim_switch("acc", "x", "telegraph", None, now=T0 + timedelta(minutes=1), avatar_digest="d1")
    led.settle_switch(again, "posted", now=T0 + timedelta(minutes=1), avatar_ref="ref-1")
    assert [(p.network, p.state) for p in led.problems()] == [("bluesky", "uncertain")]
    good = led.last_good_switch("acc", "x")
    assert (good.persona, good.avatar_digest, good.avatar_ref, good.permanent) == ("telegraph", "d1", "ref-1", False)
    assert led.worn() == {("acc", "x"): "telegraph"}
    assert led.switch(stuck).state == "uncertain"


def test_resolve_by_hand(led):
    for net in ("x", "mastodon"):
        led.claim("e1", "acc", net, scheduled=SCHED, now=T0, text_hash=None)
    led.recover(T0)
    with pytest.raises(LedgerError, match="several networks"):
        led.resolve("e1", posted=True, remote_id="77", now=T0)
    done = led.resolve("e1", posted=True, remote_id="77", now=T0, network="x")
    assert [(r.network, r.state, r.remote_id) for r in done] == [("x", "posted", "77")]
    assert led.state_of("e1", "acc", "x").remote_id == "77"
    done = led.resolve("e1", posted=False, now=T0 + timedelta(minutes=1))
    assert [(r.network, r.state, r.reason) for r in done] == [("mastodon", "failed", NOT_POSTED_REASON)]
    assert led.state_of("e1", "acc", "mastodon").state == "failed"
    with pytest.raises(LedgerError) as err:
        led.resolve("e1", posted=True, now=T0)
    assert "has no uncertain delivery" in str(err.value) and str(led.path) in str(err.value)
    with pytest.raises(LedgerError, match="no uncertain"):
        led.resolve("never-seen", posted=False, now=T0)


def test_persona_switches(led):
    assert led.current_persona("acc", "x") is None
    first = led.claim_switch("acc", "x", "herald", None, now=T0)
    led.settle_switch(first, "posted", now=T0)
    second = led.claim_switch("acc", "x", "telegraph", "1917-03-08-a", now=T0 + timedelta(hours=1))
    assert led.current_persona("acc", "x") == "herald"  # still claimed
    led.settle_switch(second, "posted", now=T0 + timedelta(hours=1))
    third = led.claim_switch("acc", "x", "pravda", "1917-03-09-a", now=T0 + timedelta(hours=2))
    led.settle_switch(third, "failed", now=T0 + timedelta(hours=2), reason="403 code 453")
    assert led.current_persona("acc", "x") == "telegraph"  # a failed switch changes nothing
    assert led.current_persona("acc", "mastodon") is None
    row = led.switch(second)
    assert (row.kind, row.entry_id, row.persona, row.state, row.claimed_at) == (
        "switch", "1917-03-08-a", "telegraph", "posted", T0 + timedelta(hours=1))
    with pytest.raises(LedgerError, match="not claimed"):
        led.settle_switch(third, "posted", now=T0)
    led.settle_switch(third, "failed", now=T0)  # again, as it is: harmless
    assert led.switch(third).state == "failed"


def test_release_and_missed_in_bulk_and_last_switch(led):
    claim(led)
    led.release(*KEY)  # a retryable error: the delivery is pending again
    assert led.state_of(*KEY) is None
    assert claim(led) is True
    led.settle(*KEY, "posted", now=T0, remote_id="5")
    led.release(*KEY)  # only a claimed row can be released
    assert led.state_of(*KEY).state == "posted"

    rows = [((f"m{i}", "acc", "x"), SCHED, f"{i} s late") for i in range(3)] + [(KEY, SCHED, "late")]
    assert led.record_missed_many(rows, now=T0) == 3
    assert led.record_missed_many(rows, now=T0) == 0
    assert led.state_of("m2", "acc", "x").reason == "2 s late"
    assert led.state_of(*KEY).state == "posted"

    assert led.last_switch("acc", "x") is None
    first = led.claim_switch("acc", "x", "herald", None, now=T0)
    led.settle_switch(first, "posted", now=T0)
    second = led.claim_switch("acc", "x", "telegraph", "e1", now=T0)
    assert (led.last_switch("acc", "x").switch_id, led.last_switch("acc", "x").state) == (second, "claimed")


def test_threads_sharing_a_ledger_claim_each_key_once(target):
    keys = [(f"e{i}", "acc", "x") for i in range(100)]
    wins = []
    with open_ledger(target) as shared, open_ledger(target, lock=False) as other:
        def worker(led):
            for key in keys:
                if claim(led, key):
                    wins.append(key)
        threads = [threading.Thread(target=worker, args=(led,)) for led in (shared, shared, other, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(wins) == sorted(keys)
        assert shared.counts()["claimed"] == 100


def test_closed_ledger_refuses_calls(target):
    led = open_ledger(target)
    led.close()
    led.close()  # idempotent
    with pytest.raises(LedgerError, match="closed"):
        led.counts()


# -- migrations ------------------------------------------------------------------

def test_an_empty_older_file_is_migrated(path):
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE unrelated (x)")  # a version-0 file with content
    conn.commit()
    conn.close()
    assert user_version(path) == 0
    with Ledger.open(path) as led:
        assert claim(led) is True
    assert user_version(path) == len(MIGRATIONS)


def test_a_new_step_applies_to_an_existing_ledger(path, monkeypatch):
    with Ledger.open(path) as led:
        claim(led)
    steps = MIGRATIONS + [("ALTER TABLE deliveries ADD COLUMN note TEXT",
                           "UPDATE deliveries SET note = 'migrated'")]
    monkeypatch.setattr(ledger_module, "MIGRATIONS", steps)
    with Ledger.open(path) as led:
        assert led.state_of(*KEY).state == "claimed"
        assert led._conn.execute("SELECT note FROM deliveries").fetchall() == [("migrated",)]
    assert user_version(path) == len(steps)
    with Ledger.open(path) as led:  # applied once only
        assert led._conn.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1


def test_a_failing_step_changes_nothing(path, monkeypatch):
    with Ledger.open(path) as led:
        claim(led)
    steps = MIGRATIONS + [("ALTER TABLE deliveries ADD COLUMN note TEXT", "THIS IS NOT SQL")]
    monkeypatch.setattr(ledger_module, "MIGRATIONS", steps)
    with pytest.raises(LedgerError) as err:
        Ledger.open(path)
    assert str(err.value) == (f"ledger {path}: cannot migrate to schema version"
                              f" {len(steps)}: near \"THIS\": syntax error")
    assert user_version(path) == len(MIGRATIONS)
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(deliveries)")]
    conn.close()
    assert "note" not in columns
    monkeypatch.undo()
    with Ledger.open(path) as led:  # the failed open let go of the lock
        assert led.state_of(*KEY).state == "claimed"


def test_a_newer_file_is_refused(path):
    with Ledger.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    for readonly in (False, True):
        with pytest.raises(LedgerError) as err:
            Ledger.open(path, readonly=readonly)
        message = str(err.value)
        assert "newer than this bot knows" in message and str(path) in message
    assert user_version(path) == len(MIGRATIONS) + 1


def test_readonly_open_needs_a_migrated_file(path):
    with pytest.raises(LedgerError, match="no such file"):
        Ledger.open(path, readonly=True)
    assert not path.parent.exists()  # read-only opens create nothing
    path.parent.mkdir()
    path.write_bytes(b"")  # what a reader can see while a starting bot creates the file
    with pytest.raises(LedgerError, match="empty, nothing recorded yet"):
        Ledger.open(path, readonly=True)
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LedgerError, match="older than"):
        Ledger.open(path, readonly=True)
    assert user_version(path) == 0


def test_readonly_ledger_refuses_writes(target):
    with open_ledger(target) as led:
        claim(led)
    with open_ledger(target, readonly=True) as ro:
        assert ro.state_of(*KEY).state == "claimed"
        with pytest.raises(LedgerError, match="read-only"):
            ro.recover(T0)
        with pytest.raises(LedgerError, match="read-only"):
            ro.claim("x", "y", "z", scheduled=SCHED, now=T0, text_hash=None)
    with open_ledger(target, readonly=True) as ro:
        assert ro.state_of(*KEY).state == "claimed"


# -- the process lock --------------------------------------------------------------

def test_second_writer_in_the_same_process_is_refused(path):
    since = datetime(2026, 11, 26, 14, 0, 0, 123456, tzinfo=UTC)
    first = Ledger.open(path, now=since)
    with pytest.raises(LedgerLocked) as err:
        Ledger.open(path)
    expected = f"pid {os.getpid()} on {socket.gethostname()}, since 2026-11-26T14:00:00Z"
    assert err.value.holder == expected
    assert str(err.value) == f"ledger {path} is held by {expected}"
    with Ledger.open(path, readonly=True) as ro:  # readers take no lock
        assert ro.counts()["posted"] == 0
    with Ledger.open(path, lock=False) as unlocked:
        assert unlocked.counts()["posted"] == 0
    first.close()
    Ledger.open(path).close()


HOLD = """
import sys, time
from bot.run.ledger import Ledger
led = Ledger.open(sys.argv[1])
print("ready", flush=True)
time.sleep(120)
"""


def spawn(code: str, *args) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        pytest.fail(f"child failed: {proc.stderr.read()}")
    return proc, line


def test_lock_names_the_holding_process_and_dies_with_it(path):
    proc, line = spawn(HOLD, path)
    try:
        assert line == "ready"
        with pytest.raises(LedgerLocked) as err:
            Ledger.open(path)
        assert f"pid {proc.pid} on {socket.gethostname()}, since " in str(err.value)
        assert str(path) in str(err.value)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with Ledger.open(path) as led:  # the kernel let go of the lock
        assert led.recover(T0) == []


CLAIM_AND_WAIT = """
import sys, time
from datetime import datetime, timezone
from bot.run.ledger import Ledger
led = Ledger.open(sys.argv[1])
now = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)
assert led.claim("e1", "acc", "x", scheduled=now, now=now, text_hash="h")
print("claimed", flush=True)
time.sleep(120)  # "inside the network call"
"""


def test_claim_survives_kill_9_and_is_recovered(path):
    proc, line = spawn(CLAIM_AND_WAIT, path)
    assert line == "claimed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with Ledger.open(path) as led:
        found = led.recover(T0 + timedelta(minutes=1))
        assert [(r.key, r.state, r.reason, r.text_hash) for r in found] == [
            (("e1", "acc", "x"), "uncertain", STOPPED_REASON, "h")]
        assert claim(led, ("e1", "acc", "x")) is False


# -- the disk under the ledger -------------------------------------------------------

@pytest.fixture
def open_dir():
    """A folder anyone may enter (pytest's tmp_path sits in root's 0700 folder),
    for children that give up root."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-test-"))
    folder.chmod(0o755)
    yield folder
    for sub in [folder, *folder.rglob("*")]:
        if sub.is_dir():
            sub.chmod(0o755)
    shutil.rmtree(folder)


def in_child(action, *, unprivileged: bool = True) -> str:
    """Run `action()` in a forked child, as user nobody when we are root and
    `unprivileged` (root ignores file permissions). Returns its result or "Type: message"."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read_end)
            if unprivileged and os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            result = action()
        except BaseException as exc:
            result = f"{type(exc).__name__}: {exc}"
        os.write(write_end, result.encode())
        os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def open_for_writing(path: Path, lock: bool = True, unwritable: Path | None = None):
    """An action: open `path` for writing and claim, after checking that this user
    really cannot write `unwritable` (default: the file if it exists, else its folder)."""
    def action():
        check = unwritable or (path if path.exists() else path.parent)
        try:
            if check.is_dir():
                tempfile.TemporaryFile(dir=check).close()
            else:
                open(check, "ab").close()
            return f"SKIP: this user can write {check} anyway"
        except OSError:
            pass
        with Ledger.open(path, lock=lock) as led:
            led.claim("e", "a", "x", scheduled=T0, now=T0, text_hash=None)
        return "opened"
    return action


def expect_ledger_error(result: str, path: Path) -> str:
    if result.startswith("SKIP"):
        pytest.skip(result)
    assert result.startswith(f"LedgerError: ledger {path}: "), result
    assert "\n" not in result
    return result


def test_read_only_file(open_dir):
    path = open_dir / "l.sqlite3"
    with Ledger.open(path) as led:
        claim(led)
    open_dir.chmod(0o777)  # the folder stays writable: only the file is read-only
    path.chmod(0o444)
    result = in_child(open_for_writing(path, lock=False))
    assert "attempt to write a readonly database" in expect_ledger_error(result, path)
    Path(f"{path}.lock").chmod(0o666)
    result = in_child(open_for_writing(path))
    assert "attempt to write a readonly database" in expect_ledger_error(result, path)
    with Ledger.open(path, readonly=True) as ro:  # still readable
        assert ro.state_of(*KEY).state == "claimed"


def test_read_only_folder(open_dir):
    folder = open_dir / "ro"
    folder.mkdir()
    with Ledger.open(folder / "old.sqlite3") as led:
        claim(led)
    (folder / "old.sqlite3").chmod(0o666)
    (folder / "old.sqlite3.lock").chmod(0o666)
    folder.chmod(0o555)
    new = folder / "new.sqlite3"
    result = in_child(open_for_writing(new))
    assert "cannot take the lock" in expect_ledger_error(result, new)
    result = in_child(open_for_writing(new, lock=False))
    assert "unable to open database file" in expect_ledger_error(result, new)
    old = folder / "old.sqlite3"
    # the file and its lock are writable but there is no room for the -wal and -shm files
    result = in_child(open_for_writing(old, unwritable=folder))
    assert "readonly" in expect_ledger_error(result, old)
    deeper = folder / "sub" / "new.sqlite3"
    result = in_child(open_for_writing(deeper))
    assert "cannot create its folder" in expect_ledger_error(result, deeper)


def test_full_database(path, sqlite_led):
    led = sqlite_led
    pages = led._conn.execute("PRAGMA page_count").fetchone()[0]
    led._conn.execute(f"PRAGMA max_page_count = {pages + 3}")
    stored = 0
    with pytest.raises(LedgerError) as err:
        for i in range(1000):
            led.claim(f"e{i}", "acc", "x", scheduled=SCHED, now=T0, text_hash="h" * 2000)
            stored += 1
    assert "full" in str(err.value) and str(path) in str(err.value)
    assert 0 < stored < 1000
    assert led.state_of(f"e{stored}", "acc", "x") is None  # the failed claim left nothing
    assert led.counts()["claimed"] == stored
    led._conn.execute("PRAGMA max_page_count = 1073741823")
    assert led.claim(f"e{stored}", "acc", "x", scheduled=SCHED, now=T0, text_hash=None)


def test_file_size_limit_hit_mid_run(tmp_path):
    """An OS-level write failure (RLIMIT_FSIZE, which binds root too) while claiming."""
    path = tmp_path / "l.sqlite3"
    def action():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        led = Ledger.open(path, lock=False)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
        try:
            for i in range(10_000):
                led.claim(f"e{i}", "acc", "x", scheduled=T0, now=T0, text_hash="h" * 500)
        except LedgerError as exc:
            return f"LedgerError: {exc} after {i}"
        return "no error"
    result = in_child(action, unprivileged=False)
    assert result.startswith(f"LedgerError: ledger {path}: cannot claim e"), result
    stored = int(result.rsplit(" ", 1)[1])
    with Ledger.open(path) as led:
        assert led.counts()["claimed"] == stored > 0


def test_corrupt_file(path):
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is a feed, not a database\n" * 300)
    for readonly in (False, True):
        with pytest.raises(LedgerError) as err:
            Ledger.open(path, readonly=readonly)
        assert str(err.value) == f"ledger {path}: cannot open: file is not a database"
    with pytest.raises(LedgerError, match="not a database"):  # not LedgerLocked:
        Ledger.open(path)  # the failed opens let go of the lock


# -- scale -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_million_rows_open_fast(tmp_path, capsys):
    """Builds 1,000,000 deliveries and reports (does not assert) the start-up costs."""
    path = tmp_path / "big.sqlite3"
    Ledger.open(path).close()
    base = datetime(2020, 1, 1, tzinfo=UTC)
    n, claimed_every = 1_000_000, 50_000

    def rows():
        for i in range(n):
            stamp = (base + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            state = "claimed" if i % claimed_every == 7 else ("failed" if i % 1000 == 3 else "posted")
            yield (f"e{i:07d}", f"acc{i % 12}", "x", state, str(10**18 + i), stamp, stamp,
                   stamp, f"{i:064x}", 1)

    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO deliveries (entry_id, account, network, state, remote_id, scheduled,"
        " claimed_at, settled_at, text_hash, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    conn.execute("COMMIT")
    conn.close()
    build = time.perf_counter() - started
    keys = [(f"e{i:07d}", f"acc{i % 12}", "x") for i in random.Random(3).sample(range(n + n // 10), 100_000)]

    timings = {}

    def timed(name, call):
        began = time.perf_counter()
        result = call()
        timings[name] = (time.perf_counter() - began) * 1000
        return result

    led = timed("open", lambda: Ledger.open(path))
    recovered = timed("recover", lambda: led.recover(T0))
    states = timed("states_for(100k keys)", lambda: led.states_for(keys))
    counts = timed("counts", led.counts)
    timed("problems(limit=50)", lambda: led.problems(limit=50))
    timed("last_posted", led.last_posted)
    timed("claim", lambda: led.claim("new", "acc0", "x", scheduled=T0, now=T0, text_hash=None))
    led.close()
    with capsys.disabled():
        print(f"\n1,000,000-row ledger ({path.stat().st_size / 1e6:.0f} MB, built in {build:.1f} s):")
        for name, ms in timings.items():
            print(f"  {name:24s} {ms:8.1f} ms")
        start = timings["open"] + timings["recover"] + timings["states_for(100k keys)"]
        print(f"  open + recover + states_for: {start:.0f} ms")

    assert len(recovered) == n // claimed_every
    assert counts["uncertain"] == n // claimed_every and counts["posted"] + counts["failed"] + 20 == n
    in_range = [k for k in keys if int(k[0][1:]) < n]
    assert len(states) == len(in_range)
