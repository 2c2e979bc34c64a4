"""Which accounts lack the credentials their publishers need (names only, never values)."""

from __future__ import annotations

from collections.abc import Mapping

from bot import publishers
from bot.feed.diagnostics import Diagnostic, error


def missing(config, env: Mapping[str, str]) -> list[Diagnostic]:
    out = []
    for account in config.accounts.values():
        for platform in account.platforms:
            try:
                cls = publishers.load(platform)
            except (LookupError, ImportError) as exc:
                out.append(error(config.path, account.line, str(exc)))
                continue
            names = cls.missing_credentials(account.key, env)
            if names:
                out.append(error(config.path, account.line, f"account {account.key!r} on {platform} lacks credentials: set {', '.join(names)}"))
    return out
