"""The service in process with its operations (bot.ops) around it, on scripted networks.

    service = scripted_service(feed, tmp_path / "ledger.sqlite3", {"x": net}, env, mode)
    with running(service) as ops:      # Ops.starting, Service.start, Ops.ready ... stop, close
        get(ops, "/healthz")
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.errors import ConfigError
from bot.ops import Ops
from bot.run.engine import RunMode
from bot.run.logs import LOGGER
from bot.run.service import Service
from bot.settings import Settings
from tests.support.engine import ScriptedNetwork, ScriptedPublisher, credentials


def scripted_service(root: Path, ledger: Path, networks: dict[str, ScriptedNetwork], env: dict | None = None,
                     mode: RunMode | None = None) -> Service:
    env = {"BOT_CACHE": str(Path(ledger).parent / "cache"), **credentials(root), **(env or {})}
    settings = Settings.resolve(env, posts=str(root), ledger=str(ledger))

    def factory(cls, account, settings, feed_dir, state_dir):
        if cls.name not in networks:
            raise ConfigError(f"no scripted network for {cls.name}")
        return ScriptedPublisher(account, env=settings.env, feed_dir=feed_dir, state_dir=state_dir, network=networks[cls.name])

    return Service(settings, mode or RunMode(watch=False), make_publisher=factory)


def rehearsal(in_seconds: float = 0.5, speed: float = 60.0) -> RunMode:
    return RunMode(start_at=datetime.now(UTC) + timedelta(seconds=in_seconds), speed=speed, watch=False)


@contextmanager
def running(service: Service, env: dict | None = None):
    """`env`: what systemd would pass (NOTIFY_SOCKET, WATCHDOG_USEC); none by default."""
    logger = logging.getLogger(LOGGER)
    level = logger.level
    ops = Ops(service, env=env or {})
    try:
        ops.starting()
        service.start()
        ops.ready()
        yield ops
    finally:
        if getattr(service, "engine", None) is not None and getattr(service, "scheduler", None) is not None:
            ops.stopping()
            service.stop()
        ops.close()
        logger.setLevel(level)


def wait_until(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def get(ops_or_url, path: str = "/", accept: str | None = None) -> tuple[int, dict, bytes]:
    """(status, headers, body) of GET on the ops server (or a base URL)."""
    base = ops_or_url.http.url if hasattr(ops_or_url, "http") else ops_or_url
    request = urllib.request.Request(base.rstrip("/") + path, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def health(ops) -> tuple[int, dict]:
    status, _, body = get(ops, "/healthz")
    return status, json.loads(body)


def finished(service: Service) -> bool:
    return service.finished()
