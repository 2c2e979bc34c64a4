"""The password of a PostgreSQL ledger URL never shows: in the stderr lines (text and JSON)
and in what the operations handlers see (notifications, metrics), whether the URL came
from BOT_LEDGER or from --ledger, in the authority or as a `password=` parameter."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.ops import Ops
from bot.run.logs import event, setup, url_secrets
from bot.run.service import Service
from bot.settings import Settings

PASSWORD = "Sw0rdfish-LEAKCHECK"


@pytest.mark.parametrize("url, found", [
    (f"postgresql://bot:{PASSWORD}@db.example:5432/bot", [PASSWORD]),
    (f"postgres://bot@db.example/bot?sslmode=require&password={PASSWORD}", [PASSWORD]),
    ("postgresql://bot@db.example/bot", []),
    (None, []),
])
def test_url_secrets(url, found):
    assert url_secrets(url) == found


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("where", ["--ledger", "BOT_LEDGER"])
def test_a_ledger_url_password_is_masked_in_every_line(fmt, where):
    url = f"postgresql://bot:{PASSWORD}@db.example/bot?password={PASSWORD}x"
    env = {"BOT_LEDGER": url} if where == "BOT_LEDGER" else {}
    settings = Settings.resolve(env, ledger=url if where == "--ledger" else None)
    stream = io.StringIO()
    setup(settings.env, stream=stream, fmt=fmt, secrets=url_secrets(settings.ledger_url))
    event(logging.ERROR, "ledger-unavailable", ledger=url, reason=f"connection to {url} refused")
    out = stream.getvalue()
    assert out and PASSWORD not in out
    if fmt == "json":
        assert json.loads(out)["event"] == "ledger-unavailable"
    ops = Ops(Service(settings), env={})
    assert PASSWORD not in ops.clean(f"the ledger {url} did not answer")
    record = logging.LogRecord("bot", logging.ERROR, __file__, 1, "%s", (url,), None)
    record.data = {"ledger": url}
    ops.redact.filter(record)
    assert PASSWORD not in record.getMessage() and PASSWORD not in record.data["ledger"]
