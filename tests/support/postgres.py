"""A throwaway PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries
(`initdb`, `pg_ctl`), a temporary folder, a Unix socket there and a loopback port.

    with Cluster() as pg:                  # initdb + start (as user nobody when run as root)
        url = pg.create_database("feed")   # postgresql://bot@127.0.0.1:PORT/feed
        pg.restart()                       # what a server restart does to the bots
    # stopped and removed

`unavailable()` says in one line why PostgreSQL cannot be had here (no binaries, no
psycopg), or None. The fixtures (`pg_cluster`, one server per test process, and
`pg_url`, a fresh schema of it per test) skip with that line; with CI=true they fail
instead, since CI must run them.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

NOBODY = 65534
SUPERUSER = "bot"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else Debian's /usr/lib/postgresql/N/bin (newest)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def unavailable() -> str | None:
    """Why the PostgreSQL tests cannot run here, in one line (None: they can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'anniversary-bot[postgres]')"
    if bin_dir() is None:
        return "PostgreSQL's initdb is not installed (apt-get install postgresql)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One PostgreSQL server in a temporary folder. `durable=False` (tests) turns fsync off."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError(unavailable())
        self.root = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.durable = durable
        self.port = 0
        self._as_nobody = os.geteuid() == 0
        if self._as_nobody:  # the server refuses to run as root
            os.chown(self.root, NOBODY, NOBODY)
        self.root.chmod(0o700)
        self._names = itertools.count(1)

    # -- lifecycle ------------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        extra = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if self._as_nobody else {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root, env=env, **extra)

    def start(self) -> Cluster:
        if not self.data.exists():
            done = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                             "--no-locale", "--no-sync")
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()[-500:]}")
        for attempt in range(3):
            self.port = self.port or free_port()
            if self._pg_ctl("start"):
                return self
            self.port = 0  # the port was taken meanwhile: another one
        raise RuntimeError(f"PostgreSQL did not start: {self.log.read_text(errors='replace')[-800:]}")

    def _pg_ctl(self, action: str) -> bool:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30",
                         "-m", "fast", action)
        return done.returncode == 0

    def stop(self) -> None:
        if self.port:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again on the same port."""
        if not self._pg_ctl("restart"):
            raise RuntimeError(f"PostgreSQL did not restart: {self.log.read_text(errors='replace')[-800:]}")

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases ------------------------------------------------------------

    def url(self, database: str = "postgres", *, schema: str | None = None, socket_dir: bool = False) -> str:
        host = f"@/{database}?host={quote(str(self.root), safe='')}&port={self.port}" if socket_dir \
            else f"@127.0.0.1:{self.port}/{database}"
        url = f"postgresql://{SUPERUSER}{host}"
        if schema:
            url += ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={schema}", safe="")
        return url

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        for attempt in range(50):  # right after a restart the server may still refuse
            try:
                with psycopg.connect(self.url(database), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql)
                return
            except psycopg.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_schema(self, prefix: str = "t") -> str:
        """A fresh schema of the `postgres` database: a ledger of its own, cheaper than a database."""
        name = f"{prefix}_{next(self._names)}"
        self.admin(f"CREATE SCHEMA {name}")
        return self.url(schema=name)


def _skip_or_fail(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL unavailable on CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway server per test process (skipped, or failed on CI, when it cannot be had)."""
    reason = unavailable()
    if reason:
        _skip_or_fail(reason)
    try:
        cluster = Cluster().start()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        _skip_or_fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL of an empty ledger: a fresh schema of the session's server."""
    return pg_cluster.create_schema()
