"""What a failed Mastodon call means: Mastodon.py's and requests' exceptions, with the
HTTP status and headers of the last answer, turned into the bot's errors (`bot.errors`):
retry (TransientError, RateLimited with the instance's wait), give up (RejectedError,
ProfileRefused), or a post that may exist (UncertainError). Pure: the client passes in
what it saw."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonIOError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonVersionError,
)
from urllib3.exceptions import ConnectTimeoutError

from bot.errors import ProfileRefused, PublishError, RateLimited, RejectedError, TransientError, UncertainError


@dataclass(frozen=True, slots=True)
class Seen:
    """What the client knows when a call fails."""

    where: str  # "mastodon ACCOUNT: ACTION"
    status: int | None  # the last answer's HTTP status, if one came
    headers: Mapping[str, str]
    reset: float | None  # Mastodon.py's ratelimit_reset (epoch seconds), if it read one
    timeout: float
    base_url: str
    token: str  # masked out of the server's messages


def translate(exc: Exception, seen: Seen, *, uncertain_after_send: bool, profile: bool) -> PublishError:
    where, status = seen.where, seen.status
    if isinstance(exc, MastodonVersionError) and isinstance(exc.__cause__, MastodonError):
        exc = exc.__cause__

    def lost(reason: str) -> PublishError:
        if uncertain_after_send:
            return UncertainError(
                f"{where}: {reason}; the post may exist (a re-send with the same "
                "idempotency key within an hour would not duplicate it)"
            )
        return TransientError(f"{where}: {reason}")

    if isinstance(exc, MastodonRatelimitError):
        if status in (None, 429):
            return rate_limited(seen)
        return lost(f"unreadable rate-limit headers in the answer (HTTP {status})")
    if isinstance(exc, (MastodonNetworkError, requests.RequestException)):
        cause = exc if isinstance(exc, requests.RequestException) else exc.__context__
        if isinstance(cause, ValueError):  # requests' InvalidURL, MissingSchema, ...
            return RejectedError(f"{where}: the base URL is not usable")
        if failed_before_sending(cause):
            return TransientError(f"{where}: could not connect to {host(seen.base_url)}")
        if isinstance(cause, requests.Timeout):
            return lost(f"no answer within {seen.timeout:g} s")
        return lost("the connection broke before the answer arrived")
    if isinstance(exc, MastodonAPIError):
        code = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else status
        if code is None or 200 <= code < 300:
            return lost("the answer could not be read")
        detail = server_message(exc, seen.token)
        if code == 429:
            return rate_limited(seen)
        if code >= 500 or code == 408:
            return TransientError(f"{where}: server error HTTP {code}{detail}")
        if code == 403 and profile:
            return ProfileRefused(f"{where}: profile change refused (HTTP 403){detail}")
        return RejectedError(f"{where}: refused with HTTP {code}{detail}")
    if isinstance(exc, (MastodonIOError, MastodonIllegalArgumentError)):
        return RejectedError(f"{where}: invalid request ({type(exc).__name__})")
    return lost(f"unexpected {type(exc).__name__}")


def rate_limited(seen: Seen) -> RateLimited:
    wait = retry_after(seen)
    hint = f", retry in {wait:.0f} s" if wait is not None else ""
    return RateLimited(f"{seen.where}: rate limited by the instance{hint}", retry_after=wait)


def retry_after(seen: Seen) -> float | None:
    """Seconds until the server's rate-limit window resets, if it said so: Retry-After, else
    X-RateLimit-Reset as Mastodon.py parsed it (ISO 8601 or epoch, corrected by the Date header)."""
    header = seen.headers.get("Retry-After", "")
    if header.strip().isdigit():
        return float(header)
    if seen.reset is None:
        return None
    return max(0.0, seen.reset - time.time())


def server_message(exc: MastodonAPIError, token: str) -> str:
    text = exc.args[3] if len(exc.args) > 3 and isinstance(exc.args[3], str) else ""
    text = " ".join(text.split())[:300]
    if token:
        text = text.replace(token, "***")
    return f": {text}" if text else ""


def host(base_url: str) -> str:
    parts = urlsplit(base_url if "://" in base_url else "https://" + base_url)
    name = parts.hostname or "the instance"
    return f"{name}:{parts.port}" if parts.port else name


def failed_before_sending(cause: BaseException | None) -> bool:
    """True when the request never reached the server (refused, DNS, connect timeout)."""
    if isinstance(cause, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    if isinstance(cause, requests.ConnectionError) and cause.args:
        reason = getattr(cause.args[0], "reason", cause.args[0])  # urllib3 MaxRetryError
        return isinstance(reason, ConnectTimeoutError)  # includes NewConnectionError
    return False


def answered_4xx(exc: MastodonError) -> bool:
    code = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
    return code is not None and 400 <= code < 500 and code not in (408, 429)
