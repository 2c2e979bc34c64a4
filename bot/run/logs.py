"""One log line per action, on stderr, with an ISO timestamp; secrets never printed.

    2027-11-06T11:05:00.012Z posted entry=1917-11-06T1405-telegraph account=telegraph
        persona=russian-telegraph platform=x remote_id=1001 late_ms=12   (one line)
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping

LOGGER = "bot"
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASS)$")


def secrets_in(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """Values of the environment that look like credentials (never printed), the password of
    a ledger URL in BOT_LEDGER, and `extra` (e.g. that of a --ledger URL)."""
    found = [value for name, value in env.items() if SECRET_NAME.search(name.upper()) and value and len(value) >= 4]
    from urllib.parse import unquote

    for password in (url_password(env.get("BOT_LEDGER") or ""), *extra):
        if password and len(password) >= 4:
            found += [password, unquote(password)]
    return sorted(set(found), key=len, reverse=True)


def url_password(url: str) -> str | None:
    """The password in a URL's authority, as written, or None."""
    authority = url.partition("://")[2].partition("/")[0]
    userinfo = authority.rpartition("@")[0]
    if ":" not in userinfo:
        return None
    password = userinfo.split(":", 1)[1]
    return password or None


class Redact(logging.Filter):
    """Replace every known secret value by *** in each record (defence in depth)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for secret in self.secrets:
            if secret in message:
                message = message.replace(secret, "***")
        record.msg, record.args = message, None
        record.exc_info = record.exc_text = None  # tracebacks may carry request details
        return True


class Formatter(logging.Formatter):
    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        # the outcome word (posted, missed, uncertain, ...) says how bad it is
        return f"{self.formatTime(record)} {record.getMessage()}"


def setup(env: Mapping[str, str], stream=None, level=logging.INFO, secrets: Iterable[str] = ()) -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(Formatter())
    handler.addFilter(Redact(secrets_in(env, secrets)))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    # APScheduler's own warnings go through the same handler (no tracebacks, secrets masked)
    scheduler = logging.getLogger("apscheduler")
    scheduler.handlers[:] = [handler]
    scheduler.setLevel(logging.WARNING)
    scheduler.propagate = False
    return logger


def event(level: int, name: str, **values) -> None:
    """Log one action: the line `NAME key=value ...`, and on the record `event` (the name)
    and `data` (the values), for what else reads the log (JSON lines, notifications,
    metrics). None values are left out."""
    data = {key: value for key, value in values.items() if value is not None}
    logging.getLogger(LOGGER).log(level, "%s %s", name, fields(**data), extra={"event": name, "data": data})


def fields(**values) -> str:
    """key=value pairs; values with spaces are quoted; None values left out."""
    parts = []
    for key, value in values.items():
        if value is None:
            continue
        text = str(value)
        if not text or any(c.isspace() for c in text) or '"' in text:
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
