"""One log line per action, on stderr, with an ISO timestamp; secrets never printed.

    2027-11-06T11:05:00.012Z posted entry=1917-11-06T1405-telegraph account=telegraph
        persona=russian-telegraph platform=x path=posts/1917-11-06.yaml line=12
        remote_id=1001 late_ms=12   (one line)

With BOT_LOG_FORMAT=json, one JSON object per line instead, for log shippers (`JsonFormatter`):

    {"time": "2027-11-06T11:05:00.012Z", "level": "info", "event": "posted",
     "entry": "1917-11-06T1405-telegraph", "account": "telegraph", "platform": "x",
     "path": "posts/1917-11-06.yaml", "line": 12, "remote_id": "1001", "late_ms": 12}
The records also feed notifications and metrics (`bot.ops`): the `bot` logger
passes every action on, whatever the stderr handler's level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping

LOGGER = "bot"
LAST = ("path", "line", "last_path", "last_line")  # where the entry is written: at the end of the line
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASS)$")


def secrets_in(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """Values of the environment that look like credentials (never printed), the password of
    a ledger URL in BOT_LEDGER, and `extra` (e.g. that of a --ledger URL: `url_secrets`)."""
    found = [value for name, value in env.items() if SECRET_NAME.search(name.upper()) and value and len(value) >= 4]
    from urllib.parse import unquote

    for password in (*url_secrets(env.get("BOT_LEDGER") or ""), *extra):
        if password and len(password) >= 4:
            found += [password, unquote(password)]
    return sorted(set(found), key=len, reverse=True)


def url_secrets(url: str | None) -> list[str]:
    """The passwords in a URL, as written: in its authority and in a `password=` parameter."""
    if not url:
        return []
    found = []
    authority = url.partition("://")[2].partition("/")[0]
    userinfo = authority.rpartition("@")[0]
    if ":" in userinfo:
        found.append(userinfo.split(":", 1)[1])
    found += re.findall(r"(?i)[?&]password=([^&#]*)", url)
    return [password for password in found if password]


class Redact(logging.Filter):
    """Replace every known secret value by *** in each record (defence in depth)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.clean(record.getMessage()), None
        record.exc_info = record.exc_text = None  # tracebacks may carry request details
        data = getattr(record, "data", None)
        if isinstance(data, dict):
            record.data = {key: self.clean(value) if isinstance(value, str) else value for key, value in data.items()}
        return True

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


class Formatter(logging.Formatter):
    def formatTime(self, record, datefmt=None):  # noqa: N802 (logging's name)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        # the outcome word (posted, missed, uncertain, ...) says how bad it is
        return f"{self.formatTime(record)} {record.getMessage()}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the fields of the readable line (`event`), numbers and
    booleans as JSON's own. A line that is not an action (a feed diagnostic after a
    reload, a library's warning) has the event "log" and its text as "message".
    Secrets are masked before a formatter sees a record (`Redact`)."""

    RESERVED = ("time", "level", "event")
    stamp = Formatter().formatTime

    def format(self, record: logging.LogRecord) -> str:
        out: dict = {"time": self.stamp(record), "level": record.levelname.lower()}
        name = getattr(record, "event", None)
        data = getattr(record, "data", None)
        if name is not None and isinstance(data, dict):
            out["event"] = name
            for key, value in data.items():
                out[f"{key}_" if key in self.RESERVED else key] = _plain(value)
        else:
            out["event"] = "log"
            if record.name != LOGGER and not record.name.startswith(LOGGER + "."):
                out["logger"] = record.name
            out["message"] = record.getMessage()
        return json.dumps(out, ensure_ascii=False, separators=(", ", ": "))


def _plain(value):
    """JSON's own types as they are, anything else as its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def setup(env: Mapping[str, str], stream=None, level=logging.INFO, fmt: str = "text",
          secrets: Iterable[str] = ()) -> logging.Logger:
    """The stderr handler at `level` (readable lines, or JSON lines with fmt="json"); the
    logger itself passes INFO and up, for the handlers `bot.ops` adds. `secrets`: more
    values to mask (the password of a --ledger URL)."""
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else Formatter())
    handler.addFilter(Redact(secrets_in(env, secrets)))
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(min(level, logging.INFO))
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
    metrics). None values are left out; the entry's file and line (`source`) come last."""
    data = {key: value for key, value in values.items() if value is not None and key not in LAST}
    data.update((key, values[key]) for key in LAST if values.get(key) is not None)
    logging.getLogger(LOGGER).log(level, "%s %s", name, fields(**data), extra={"event": name, "data": data})


def source(delivery) -> dict:
    """The entry's file and line, for the action lines about a delivery (notifications link them)."""
    return {"path": delivery.entry.path, "line": delivery.entry.line}


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
