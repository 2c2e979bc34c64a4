"""X's failures as bot.errors (pure functions; the `x` publisher's client raises them).

Failures become bot.errors, with no retry here (the service owns retry policy):

    429                          RateLimited(retry_after = seconds to x-rate-limit-reset, else None)
    5xx                          TransientError
    403 duplicate content        UncertainError (the same text is already out there)
    403 code 453, profile call   ProfileRefused
    403 access level, read       AccessDenied (a RejectedError): profile() None, reconcile unknown
    401, other 403, other 4xx    RejectedError with the API's message
    could not connect            TransientError
    sent, then no or cut answer  UncertainError, or TransientError when the call cannot create a post

"Sent or not" is decided by exception type, conservatively. Only a failure to
open the connection proves nothing was sent: urllib3's ConnectTimeoutError and
its subclass NewConnectionError (refused, unreachable, DNS), and requests'
ConnectTimeout. Everything later -- ReadTimeout, ProtocolError (reset,
RemoteDisconnected), ChunkedEncodingError, a 2xx whose body is not JSON -- counts
as "sent and maybe acted on": a reset while waiting for the answer cannot tell
whether the server read the request. Such failures make POST /2/tweets
uncertain; for media uploads, alt text and profile updates (nothing public is
created, repeating them is harmless) they are TransientError. Profile calls
ignore their answer body: a 2xx means done.

Secrets: errors are built from scratch (action, HTTP status, API code and
message), raised outside the `except` block so they carry no chained tweepy or
requests exception (those hold the signed request), and scrubbed of the
credential values. The DEBUG loggers of oauthlib and requests_oauthlib, which
print the Authorization header, are set to INFO or higher.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import requests
import urllib3.exceptions

from bot.errors import (
    ProfileRefused,
    PublishError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)


def api_errors(body: bytes) -> tuple[list[int], str]:
    """(error codes, joined messages) of an X error body; ([], "") if it has none."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [], ""
    if not isinstance(data, dict):
        return [], ""
    codes: list[int] = []
    messages: list[str] = []
    errors = data.get("errors")
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, str):
            messages.append(error)
        elif isinstance(error, dict):
            if isinstance(error.get("code"), int):
                codes.append(error["code"])
            message = error.get("message") or error.get("detail")
            if isinstance(message, str):
                messages.append(message)
    if isinstance(data.get("code"), int):  # the v2 spec's `Error` body: {"code", "message"}
        codes.append(data["code"])
        if isinstance(data.get("message"), str) and data["message"]:
            messages.append(data["message"])
    if not messages:
        for key in ("detail", "title", "error"):
            if isinstance(data.get(key), str) and data[key]:
                messages.append(data[key])
                break
    return codes, "; ".join(messages)


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds from `now` (epoch) until x-rate-limit-reset, or None without the header."""
    try:
        reset = float(headers.get("x-rate-limit-reset"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return max(0.0, reset - now) if math.isfinite(reset) else None


def error_for_answer(
    status: int, headers: Mapping[str, str], body: bytes, action: str,
    *, may_create: bool = False, profile: bool = False, read: bool = False, now: float,
) -> PublishError:
    """The error for a non-2xx answer to `action` (e.g. "post", "profile update");
    `read`: a read the access level may forbid (AccessDenied)."""
    codes, message = api_errors(body)
    text = f"X {action} failed: HTTP {status}"
    if codes:
        text += " code " + ",".join(map(str, codes))
    if message:
        text += ": " + (message if len(message) <= 300 else message[:297] + "...")
    if status == 429:
        return RateLimited(text, retry_after(headers, now))
    if status >= 500:
        return TransientError(text)
    if status == 403 and may_create and (187 in codes or "duplicate" in message.lower()):
        return UncertainError(text + " (the post may already exist)")
    if status == 403 and profile and 453 in codes:
        return ProfileRefused(text)
    if status == 403 and read and access_denied(body):
        return AccessDenied(text)
    return RejectedError(text)


class AccessDenied(RejectedError):
    """The app's access level does not allow this read (not the account's fault)."""


_DENIED_TYPES = ("/problems/client-forbidden", "/problems/unsupported-authentication")


def access_denied(body: bytes) -> bool:
    """Whether a 403 answer says the app's access level (or auth kind) forbids the endpoint:
    code 453, or the problems client-forbidden (reason client-not-enrolled) and
    unsupported-authentication."""
    codes, _ = api_errors(body)
    if 453 in codes:
        return True
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    problems = [data] if isinstance(data, dict) else []
    if isinstance(data, dict) and isinstance(data.get("errors"), list):
        problems += [e for e in data["errors"] if isinstance(e, dict)]
    for problem in problems:
        kind, reason, title = (str(problem.get(k) or "") for k in ("type", "reason", "title"))
        if (kind.endswith(_DENIED_TYPES) or reason == "client-not-enrolled"
                or title in ("Client Forbidden", "Unsupported Authentication")):
            return True
    return False


def _chain(exc: BaseException) -> list[BaseException]:
    """exc and every exception reachable through cause, context, args and .reason."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
    return seen


def _os_cause(chain: list[BaseException]) -> str:
    """Name (and errno text) of the socket-level error in the chain, e.g. 'ConnectionResetError'."""
    wrappers = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError)
    for item in reversed(chain):
        if isinstance(item, OSError) and not isinstance(item, wrappers):
            return type(item).__name__ + (f": {item.strerror}" if item.strerror else "")
    return type(chain[-1]).__name__ if chain else "unknown error"


_NOT_SENT = (urllib3.exceptions.ConnectTimeoutError, requests.exceptions.ConnectTimeout)
_READ_TIMEOUT = (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout)
_TRANSPORT = (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError)


def error_for_exception(
    exc: BaseException, action: str, *, may_create: bool = False, timeout: float = 0
) -> PublishError:
    """The error for a call that raised instead of answering (see the module docstring)."""
    chain = _chain(exc)
    maybe_done = UncertainError if may_create else TransientError
    tail = "; the post may exist" if may_create else ""
    if any(isinstance(e, _NOT_SENT) for e in chain):
        return TransientError(f"X {action}: could not connect ({_os_cause(chain)}); nothing was sent")
    if any(isinstance(e, json.JSONDecodeError) for e in chain):
        return maybe_done(f"X {action}: the answer was not valid JSON{tail}")
    if any(isinstance(e, _READ_TIMEOUT) for e in chain):
        return maybe_done(f"X {action}: no answer within {timeout:g} s{tail}")
    if any(isinstance(e, _TRANSPORT) for e in chain):
        return maybe_done(
            f"X {action}: connection lost after the request was sent ({_os_cause(chain)}){tail}"
        )
    return maybe_done(f"X {action}: unexpected {type(exc).__name__}{tail}")


def problems_of(answer: Any) -> str:
    """The problems of a v2 answer without data, briefly."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    details = [str(e.get("detail") or e.get("title") or e.get("message") or "")
               for e in errors or [] if isinstance(e, dict)]
    text = "; ".join(d for d in details if d) or "none given"
    return text if len(text) <= 200 else text[:197] + "..."
