"""The retry policy, in one place: how late is too late, how often to try again, how long to wait.

- A delivery more than `grace` seconds late, before anything was sent, is missed.
- A post that fails without creating anything (TransientError) is tried again
  after `backoff` seconds, doubled each time up to `max_backoff`, at most
  `retries` times and never past the grace period; a RateLimited waits for the
  server's reset instead.
- A persona switch that fails transiently is tried again on the same backoff,
  with no limit: the persona converges once the network is back (and again
  at every start); a refusal (RejectedError) is final.
- A post whose fate is uncertain is looked up on the network (`reconcile`) on
  the same backoff; after `lookups` answers of "cannot tell" it is left
  uncertain for `bot resolve`.
- A reply whose parent is still uncertain looks at the ledger every
  `resolve_poll` seconds (for a `bot resolve` from another process), until its
  own grace ends; then it goes out on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import PublishError, RateLimited
from bot.units import duration

DAY = 24 * 3600.0


@dataclass(frozen=True)
class Policy:
    grace: float = 900.0
    retries: int = 5
    backoff: float = 1.0
    max_backoff: float = 300.0
    lookups: int = 5
    resolve_poll: float = 5.0

    @classmethod
    def of(cls, settings) -> Policy:
        return cls(grace=settings.grace, retries=settings.retries, backoff=settings.backoff)

    def wait(self, attempt: int, error: PublishError | None = None) -> float:
        """Seconds before try number `attempt + 1` (attempt counts from 0)."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, min(error.retry_after, DAY))
        return min(self.backoff * (2 ** min(attempt, 32)), self.max_backoff)


def late_reason(late: float, grace: float) -> str:
    """Why a delivery is missed: `1 d 19 h late, over the grace of 15 min`."""
    return f"{duration(late)} late, over the grace of {duration(grace)}"
