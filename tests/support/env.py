"""Clean environments and fake credentials for `bot` under test.

Every runner starts from the parent's environment without any `BOT_*`,
`X_*`, `MASTODON_*` or `BLUESKY_*` variable (nor NO_COLOR/FORCE_COLOR), with
the parse cache under a per-session temporary folder (`XDG_CACHE_HOME`), so a
test run never writes into the user's cache.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping

OWN_PREFIXES = ("BOT_", "X_", "MASTODON_", "BLUESKY_")
_CACHE = tempfile.mkdtemp(prefix="bot-test-cache-")
# check, preview and status see the world as on this day (their warnings for entries in the
# past, the default years_later): the suite gives the same answers whenever it runs
NOW = "2026-12-01T00:00:00+00:00"

# Fake credentials: distinctive, long, with characters that URL-encoding changes
# (so a leak is found even when escaped).
APP_SECRETS = {
    "X_API_KEY": "appkey+Kq7/ZZ-LEAKCHECK-1",
    "X_API_SECRET": "appsecret=Vw9/ZZ-LEAKCHECK-2",
}


def env_name(account: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", account.upper())


def token(account: str) -> str:
    return f"tok-{account}-ZZ-LEAKCHECK-T"


def token_secret(account: str) -> str:
    return f"toksecret/{account}+ZZ-LEAKCHECK-S"


def account_secrets(account: str) -> dict[str, str]:
    name = env_name(account)
    return {f"X_{name}_ACCESS_TOKEN": token(account), f"X_{name}_ACCESS_TOKEN_SECRET": token_secret(account)}


def clean_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The parent's environment without any bot setting or credential; `extra` on top
    (a value of None unsets a variable)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(OWN_PREFIXES) and k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["XDG_CACHE_HOME"] = _CACHE
    env["BOT_NOW"] = NOW
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def x_env(base_url: str | None, accounts: Iterable[str], **extra) -> dict[str, str]:
    """A clean environment with fake X credentials for `accounts`, pointed at a fake X server."""
    env = clean_env()
    env.update(APP_SECRETS)
    for account in accounts:
        env.update(account_secrets(account))
    if base_url:
        env["X_API_BASE_URL"] = base_url
    env["X_TIMEOUT"] = "5"
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env
