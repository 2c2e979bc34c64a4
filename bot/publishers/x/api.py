"""X's client for the `x` publisher: tweepy 4.17 (v2 tweets and media, v1.1 profile).

What is sent, and where X says it may be:

    POST /2/tweets          JSON {text, media.media_ids, reply.in_reply_to_tweet_id}
    POST /2/media/upload    multipart: media (the file, with its MIME type in the
                            part's Content-Type) and media_category=tweet_image;
                            nothing else: the spec's MediaUploadRequest allows only
                            media, media_category and additional_owners
    POST /2/media/metadata  JSON {id, metadata.alt_text.text}

These are checked against X API v2's OpenAPI document (a pinned part of it, in
tests/fakes/x_openapi.json, cut from specs/openapi.json of github.com/xdevplatform/xdk
by scripts/pin_x_spec.py): the fake X server refuses any request that breaks it.
Where the spec and tweepy disagree, the spec wins. The v2 error answer the spec
declares for application/json, `{"code": ..., "message": ...}`, is read as well as
v1.1's `{"errors": [...]}` and the problem bodies (`detail`, `title`).

The v1.1 profile calls are not in that document. The parameters X documents for each
(the page is DOCS + the name in brackets, DOCS being
https://developer.x.com/en/docs/x-api/v1/accounts-and-users/manage-account-settings/api-reference/);
the bot sends only those marked *, as tweepy places them (text in the query string,
files as multipart parts):

    POST /1.1/account/update_profile.json          [post-account-update_profile]
        name*, description*, url, location, include_entities, skip_status
    POST /1.1/account/update_profile_image.json    [post-account-update_profile_image]
        image* (required; GIF, JPG or PNG under 700 KB), include_entities, skip_status
    POST /1.1/account/update_profile_banner.json   [post-account-update_profile_banner]
        banner* (required), width, height, offset_left, offset_top

tweepy also offers profile_link_color for update_profile; X no longer documents it and
the bot does not send it. The fake X server refuses any parameter not listed here.

Credentials (env mapping given to the constructor): X_API_KEY, X_API_SECRET and,
per account, X_<ACCOUNT>_ACCESS_TOKEN, X_<ACCOUNT>_ACCESS_TOKEN_SECRET; every call
is signed with OAuth 1.0a user context.

Transport: tweepy hard-codes its hosts (api.twitter.com, upload.twitter.com), so
the sessions it uses get a `requests` adapter that sends every request to
X_API_BASE_URL when set (scheme, host, port, plus any path prefix) and always
applies X_TIMEOUT seconds (default 30) to connect and to each read; tweepy's
Client sets no timeout of its own. The OAuth signature stays the one computed
for the original URL. Every request asks for `Connection: close`, so no call
rides a pooled connection the server may have dropped meanwhile (which would
look like "sent, then lost").

Failures become bot.errors, with no retry here (the service owns retry policy):

    429                          RateLimited(retry_after = seconds to x-rate-limit-reset, else None)
    5xx                          TransientError
    403 duplicate content        UncertainError (the same text is already out there)
    403 code 453, profile call   ProfileRefused
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

import io
import json
import logging
import math
import mimetypes
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
import tweepy
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from tweepy.parsers import RawParser

from bot.errors import (
    ConfigError,
    ProfileRefused,
    PublishError,
    RateLimited,
    RejectedError,
    TransientError,
    UncertainError,
)
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona
from bot.publishers.x.publisher import XPublisher

TWEEPY_HOST = "https://api.twitter.com"  # where tweepy.Client sends v2 calls

for _name in ("oauthlib", "requests_oauthlib"):  # their DEBUG lines carry the access token
    _logger = logging.getLogger(_name)
    _logger.setLevel(max(_logger.getEffectiveLevel(), logging.INFO))

T = TypeVar("T")


class _XTransport(HTTPAdapter):
    """Rewrites each request's origin to `base_url` (if any) and imposes `timeout`."""

    def __init__(self, base_url: SplitResult | None, timeout: float) -> None:
        super().__init__()
        self._base = base_url
        self._timeout = timeout

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        if self._base is not None:
            path = urlsplit(request.url)
            request.url = urlunsplit((self._base.scheme, self._base.netloc,
                                      self._base.path.rstrip("/") + path.path, path.query, ""))
            proxies = get_environ_proxies(request.url)  # as the environment wants for the new host
        # a fresh connection per call: a stale pooled one could fail after "sending"
        request.headers["Connection"] = "close"
        return super().send(request, stream=stream, timeout=self._timeout,
                            verify=verify, cert=cert, proxies=proxies)


def base_url_setting(env: Mapping[str, str]) -> SplitResult | None:
    """X_API_BASE_URL parsed, or None; ConfigError if malformed."""
    raw = env.get("X_API_BASE_URL", "").strip()
    if not raw:
        return None
    base = urlsplit(raw)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ConfigError("X_API_BASE_URL must be an http(s) URL such as http://127.0.0.1:8080")
    return base


# ---- failures -> bot.errors (pure functions)

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
    *, may_create: bool = False, profile: bool = False, now: float,
) -> PublishError:
    """The error for a non-2xx answer to `action` (e.g. "post", "profile update")."""
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
    return RejectedError(text)


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


class _BadStatus(Exception):
    """A non-2xx answer to one of our own (non-tweepy) requests."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# ---- the publisher

class XClient:
    """One account's calls to X (the `x` publisher builds it; credentials already checked)."""

    def __init__(self, account: AccountSettings, env: Mapping[str, str], timeout: float) -> None:
        self.account = account
        names = XPublisher.required_credentials(account.key)
        key, secret, token, token_secret = (env[n] for n in names)
        self._secrets = tuple(s for s in (secret, token, token_secret, key) if len(s) >= 4)
        base_url = base_url_setting(env)
        self._timeout = timeout
        self._auth = tweepy.OAuth1UserHandler(key, secret, token, token_secret)
        self._client = tweepy.Client(consumer_key=key, consumer_secret=secret,
                                     access_token=token, access_token_secret=token_secret)
        self._api = tweepy.API(self._auth, timeout=self._timeout, parser=RawParser())
        for session in (self._client.session, self._api.session):
            transport = _XTransport(base_url, self._timeout)
            session.mount("https://", transport)
            session.mount("http://", transport)

    def __repr__(self) -> str:
        return f"<XClient account={self.account.key!r}>"

    def publish(self, post: OutgoingPost) -> str:
        media_ids = [self._upload(item) for item in post.media]
        answer = self._call("post", lambda: self._client.create_tweet(
            text=post.text, media_ids=media_ids or None,
            in_reply_to_tweet_id=post.reply_to_remote, user_auth=True,
        ), may_create=True)
        data = answer.data if isinstance(answer, tweepy.Response) else None
        tweet_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(tweet_id, (str, int)) or tweet_id == "":
            raise UncertainError("X post: the answer had no tweet id; the post may exist")
        return str(tweet_id)

    def switch_persona(self, persona: Persona) -> None:
        avatar = self._read(persona.avatar, "profile image") if persona.avatar else None
        banner = self._read(persona.banner, "profile banner") if persona.banner else None
        self._call("profile update", lambda: self._api.update_profile(
            name=persona.name, description=persona.bio), profile=True)
        if avatar is not None:
            self._call("profile image", lambda: self._api.update_profile_image(
                persona.avatar.name, file=io.BytesIO(avatar)), profile=True)
        if banner is not None:
            self._call("profile banner", lambda: self._api.update_profile_banner(
                persona.banner.name, file=io.BytesIO(banner)), profile=True)

    def close(self) -> None:
        self._client.session.close()
        self._api.session.close()

    # ---- helpers
    def _upload(self, item: MediaItem) -> str:
        """POST /2/media/upload (one-shot multipart), then the alt text; returns the media id."""
        content = self._read(item.path, "media upload")
        mime = mimetypes.guess_type(item.path.name)[0] or "application/octet-stream"
        answer = self._call("media upload", lambda: self._post_v2(
            "/2/media/upload",
            files={"media": (item.path.name, content, mime)},
            data={"media_category": "tweet_image"},  # the spec allows no media_type field
        ))
        data = answer.get("data") if isinstance(answer, dict) else None
        media_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(media_id, (str, int)) or media_id == "":
            raise TransientError("X media upload: the answer had no media id")
        media_id = str(media_id)
        if item.alt:
            self._call("alt text", lambda: self._post_v2(
                "/2/media/metadata",
                json={"id": media_id, "metadata": {"alt_text": {"text": item.alt}}},
            ))
        return media_id

    def _post_v2(self, route: str, **kwargs) -> Any:
        response = self._client.session.post(
            TWEEPY_HOST + route, auth=self._auth.apply_auth(),
            headers={"User-Agent": self._client.user_agent}, **kwargs,
        )
        if not 200 <= response.status_code < 300:
            raise _BadStatus(response)
        return response.json()

    def _read(self, path: Path, action: str) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            error = RejectedError(f"X {action}: cannot read {path.name}: "
                                  f"{exc.strerror or type(exc).__name__}")
        raise error  # outside `except`: no chained exception

    def _call(self, action: str, call: Callable[[], T], *,
              may_create: bool = False, profile: bool = False) -> T:
        try:
            return call()
        except (tweepy.HTTPException, _BadStatus) as exc:
            response = exc.response
            error = error_for_answer(
                response.status_code, response.headers, response.content or b"", action,
                may_create=may_create, profile=profile, now=time.time(),
            )
        except Exception as exc:  # transport failures, malformed answers, surprises
            error = error_for_exception(exc, action, may_create=may_create, timeout=self._timeout)
        text = str(error)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        error.args = (text,)
        raise error  # outside `except`: the tweepy/requests exception is not chained
