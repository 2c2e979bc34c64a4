"""Bluesky's failures as bot.errors (pure functions; the client raises what they return).

    rate limited (429)                     RateLimited(seconds to ratelimit-reset, else retry-after)
    could not connect / pool timeout       TransientError: nothing was sent
    sent, then timeout or connection lost  UncertainError for a write, TransientError for a read
    5xx                                    TransientError
    other 4xx, refused session             RejectedError
    anything else                          UncertainError for a write, RejectedError for a read

Messages go through the caller's `scrub`, which masks the password and session tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from atproto_client import exceptions as at_errors
from atproto_server.exceptions import InvalidTokenError

from bot.errors import (
    PublishError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)

_AUTH_ERRORS = {"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired"}


def map_error(exc: BaseException, where: str, writes: bool, scrub: Callable[[str], str]) -> PublishError:
    """The PublishError for a failed call; `writes`: the call creates or changes something."""
    if isinstance(exc, PublishError):
        return exc
    if isinstance(exc, at_errors.RateLimitExceededError):
        return RateLimited(f"{where}: rate limited ({scrub(str(exc))[:300]})", retry_after(exc))
    transport = exc.__cause__ if isinstance(exc, at_errors.NetworkError) and exc.response is None else exc
    if isinstance(transport, httpx.TransportError):
        before_sending = isinstance(transport, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        kind = "timed out" if isinstance(transport, httpx.TimeoutException) else "connection failed"
        message = f"{where}: {kind} ({type(transport).__name__})"
        if writes and not before_sending:
            return UncertainError(message + "; it may have been acted on")
        return TransientError(message)
    if isinstance(exc, at_errors.RequestErrorBase) and exc.response is not None:
        status = exc.response.status_code
        message = f"{where}: {scrub(str(exc))[:300]}"
        if status >= 500:
            return TransientError(message)
        return RejectedError(message)
    if isinstance(exc, (InvalidTokenError, at_errors.LoginRequiredError)):
        return RejectedError(f"{where}: the session was refused")
    message = f"{where}: unexpected {type(exc).__name__}: {scrub(str(exc))}"
    return UncertainError(message) if writes else RejectedError(message)


def maybe_taken(exc: BaseException) -> bool:
    """Whether a create's error answer may mean "this key is taken": the reference
    PDS says HTTP 500 InternalServerError; others may name it."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return (status is not None and status >= 500) or error_name(exc) == "RecordAlreadyExists"


def error_name(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    return getattr(content, "error", None)


def is_auth_failure(exc: BaseException) -> bool:
    """The session itself was refused (not the request): a fresh login may help."""
    if isinstance(exc, (InvalidTokenError, at_errors.LoginRequiredError)):
        return True
    if isinstance(exc, at_errors.UnauthorizedError) and exc.response is not None:
        return exc.response.status_code == 401
    if isinstance(exc, at_errors.BadRequestError):
        return error_name(exc) in _AUTH_ERRORS
    return False


def retry_after(exc: at_errors.RateLimitExceededError) -> float | None:
    """Seconds until `ratelimit-reset` (epoch seconds), else `retry-after`, else None."""
    reset = exc.reset_at
    if reset is not None:
        return max(0.0, reset.timestamp() - time.time())
    return exc.retry_after


# -- answers the client looks into itself ---------------------------------------

class ClientSignal(Exception):
    """An answer the caller of `_call` looks into itself (not mapped to a PublishError)."""


class SwapFailed(ClientSignal):
    """The profile record changed between read and write."""


class KeyTaken(ClientSignal):
    """A create was refused in the way a taken record key is (`exc`: the answer)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc
