"""The exception tree of the bot, in one place. Every error the bot raises on
purpose is one of these; a message never contains a credential.

    BotError
    ├── SourceProblem        a feed file cannot be read as YAML (.line, .message)
    ├── FeedInvalid          the feed cannot run at all; carries the diagnostics
    ├── ConfigError          a setting (option, environment variable) is wrong
    ├── ImportFailed         `bot import` stopped before writing anything
    ├── LockHeld             another process holds a lock file (.holder says who)
    ├── LedgerError          the ledger cannot be opened or written
    │   ├── LedgerLocked     another process holds the ledger (.holder)
    │   └── Deposed          not (or no longer) the active process: nothing may be claimed,
    │                        recorded or published (a PostgreSQL ledger's lease; .final)
    └── PublishError         a publisher call did not succeed
        ├── TransientError   nothing was created remotely: safe to retry
        │   └── RateLimited  wait .retry_after seconds (None: back off) then retry
        ├── UncertainError   the request may have been acted on: never retried blindly
        └── RejectedError    the network refused it for good (401, 403, 4xx)
            └── ProfileRefused   a persona switch the access level forbids

Publishers raise only PublishError subclasses; the service decides what each
means for the ledger (see `bot.run.lanes`).
"""

from __future__ import annotations


class BotError(Exception):
    """Base class of every error the bot raises on purpose."""


class SourceProblem(BotError):
    """A feed file is unreadable as YAML: too big, not UTF-8, a syntax error, a bomb."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


class FeedInvalid(BotError):
    """The feed cannot run at all (feed.yaml unusable); `.diagnostics` say why."""

    def __init__(self, diagnostics, message: str | None = None):
        self.diagnostics = list(diagnostics)
        super().__init__(message or f"the feed has {len(self.diagnostics)} problem(s)")


class ConfigError(BotError):
    """A setting is wrong or missing (message says which, never its value if secret)."""


class ImportFailed(BotError):
    """An import stopped before writing anything; the message says why."""


class LockHeld(BotError):
    """Another open file description holds the lock; `.holder` says whose it is."""

    def __init__(self, holder: str):
        self.holder = holder
        super().__init__(holder)


class LedgerError(BotError):
    """The ledger cannot be opened, migrated or written."""


class LedgerLocked(LedgerError):
    def __init__(self, path, holder: str):
        self.path = path
        self.holder = holder
        super().__init__(f"ledger {path} is held by {holder}")


class Deposed(LedgerError):
    """This process does not hold the lease: another one is (or may become) active.

    `final`: the database refused a write because the epoch moved on (another process
    took over); otherwise the lease merely lapsed locally (not renewed in time) and may
    still be renewed.
    """

    def __init__(self, message: str, *, final: bool = True):
        self.final = final
        super().__init__(message)


class PublishError(BotError):
    """A publisher call did not succeed."""


class TransientError(PublishError):
    """Nothing was created remotely (5xx, connection refused): safe to retry."""


class RateLimited(TransientError):
    def __init__(self, message: str, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(message)


class UncertainError(PublishError):
    """The request may have been acted on (timeout after sending, duplicate)."""


class RejectedError(PublishError):
    """A permanent refusal (401, most 403s, other 4xx)."""


class ProfileRefused(RejectedError):
    """The access level does not allow profile changes (X: 403 code 453)."""
