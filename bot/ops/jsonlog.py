"""BOT_LOG_FORMAT=json: one JSON object per line, for log shippers.

    {"time": "2027-11-06T11:05:00.012Z", "level": "info", "event": "posted",
     "entry": "1917-11-06T1405-telegraph", "account": "telegraph", "platform": "x",
     "path": "posts/1917-11-06.yaml", "line": 12, "remote_id": "1001", "late_ms": 12}

The fields are those of the readable line (`bot.run.logs.event`), numbers and
booleans as JSON's own. A line that is not an action (a feed diagnostic after a
reload, a library's warning) has the event "log" and its text as "message".
Secrets are masked before this formatter sees a record (`bot.run.logs.Redact`).
"""

from __future__ import annotations

import json
import logging

from bot.run.logs import Formatter

RESERVED = ("time", "level", "event")


class JsonFormatter(logging.Formatter):
    stamp = Formatter().formatTime

    def format(self, record: logging.LogRecord) -> str:
        out: dict = {"time": self.stamp(record), "level": record.levelname.lower()}
        name = getattr(record, "event", None)
        data = getattr(record, "data", None)
        if name is not None and isinstance(data, dict):
            out["event"] = name
            for key, value in data.items():
                out[f"{key}_" if key in RESERVED else key] = plain(value)
        else:
            out["event"] = "log"
            if record.name != "bot" and not record.name.startswith("bot."):
                out["logger"] = record.name
            out["message"] = record.getMessage()
        return json.dumps(out, ensure_ascii=False, separators=(", ", ": "))


def plain(value):
    """JSON's own types as they are, anything else as its text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
