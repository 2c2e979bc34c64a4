"""X's client for the `x` publisher: tweepy 4.17 (v2 tweets and media, v1.1 profile).

What is sent, and where X says it may be:

    POST /2/tweets          JSON {text, media.media_ids, reply.in_reply_to_tweet_id}
    POST /2/media/upload    multipart: media (the file, with its MIME type in the
                            part's Content-Type) and media_category=tweet_image;
                            nothing else: the spec's MediaUploadRequest allows only
                            media, media_category and additional_owners
    POST /2/media/metadata  JSON {id, metadata.alt_text.text}
    GET  /2/users/me        user.fields=description,entities,profile_image_url
                            (the profile, and the account's id for the timeline)
    GET  /2/users/{id}/tweets   max_results, start_time, end_time, pagination_token,
                            post.fields=created_at,attachments, expansions=referenced_posts
                            (the account's recent posts, to reconcile an uncertain one)

The two reads are sent by hand through tweepy's signed session: tweepy's get_me and
get_users_tweets name the fields parameter `tweet.fields`, which the spec (2.167) does
not have (it says `post.fields`), and its reply reference is the `referenced_posts`
expansion.

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

Reading the profile (`profile`): the name, the description (its t.co links replaced
by the URLs they stand for, from entities.description.urls, and &amp; &lt; &gt;
unescaped) and `avatar_ref` of profile_image_url. A persona switch returns the
avatar reference from the v1.1 update_profile_image answer (profile_image_url_https),
no extra call: `avatar_ref` makes both forms the same reference (https, no size
suffix). X documents that the image is processed asynchronously, so the answer may
still show the old image: when it shows the same URL the update_profile answer
showed before the upload (or either answer is unreadable), the reference is None
(unknown) rather than a wrong one that would look like drift at the next start.

Reconciling (`reconcile`) an uncertain post: the account's posts from CLOCK_SKEW
before the claim (and, once that is safely past, to the lost call's timeout plus
CLOCK_SKEW after it), at most TIMELINE_PAGES pages of TIMELINE_PAGE. A post matches
when its text is the one sent as X shows it (`same_text`: HTML entities unescaped,
every URL removed on both sides since X shows t.co links and adds one for images,
leading @mentions X puts before a reply allowed, whitespace and Unicode normalised),
and nothing X shows contradicts it: a reply to another post, or a different number
of images. Found: posted (the oldest match). Not found: absent once the lost call's
timeout plus TIMELINE_DELAY has passed since the claim, else unknown (asked again).
An access level that cannot read the timeline (403 code 453, client-not-enrolled,
Unsupported Authentication) and other refusals (401, 4xx): unknown, final. 429, 5xx
and network failures: TransientError (RateLimited), asked again.

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

import io
import json
import logging
import math
import mimetypes
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
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
from bot.publishers.base import AccountSettings, Found, MediaItem, OutgoingPost, Persona, Profile
from bot.publishers.lengths import twitterdata
from bot.publishers.x.publisher import XPublisher

TWEEPY_HOST = "https://api.twitter.com"  # where tweepy.Client sends v2 calls

# Reconciling an uncertain post against the account's timeline.
# Our clock and X's may differ by up to this: the posts read are those X dated from this
# long before the claim to this long after the lost call's timeout ran out.
CLOCK_SKEW = timedelta(seconds=60)
# X shows a new post on its author's timeline within seconds. Once the lost call's
# timeout plus this much has passed since the claim, a post that is not there was not
# created; before that, "not there yet" proves nothing and the lookup is asked again.
TIMELINE_DELAY = timedelta(seconds=60)
TIMELINE_PAGE = 100  # max_results: the spec allows 5 to 100
TIMELINE_PAGES = 3  # pages read at most (each is a rate-limited request)

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


# ---- what X shows (pure functions)

_SIZE_SUFFIX = re.compile(r"_(?:normal|bigger|mini|reasonably_small|\d+x\d+)(?=\.\w+$|$)")


def avatar_ref(url: object) -> str | None:
    """The reference of the avatar a profile image URL shows: https, without the size
    suffix X adds (_normal, _400x400...), so v1.1's profile_image_url_https and v2's
    profile_image_url of the same image give the same reference."""
    if not isinstance(url, str) or not url.strip():
        return None
    parts = urlsplit(url.strip())
    scheme = "https" if parts.scheme in ("http", "https") else parts.scheme
    return urlunsplit((scheme, parts.netloc.lower(), _SIZE_SUFFIX.sub("", parts.path), "", ""))


def unescaped(text: str) -> str:
    """X's text with the entities X puts in it (&amp; &lt; &gt;) turned back."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def profile_of(user: Mapping[str, Any]) -> Profile:
    """A Profile from a v2 User object (description t.co links expanded)."""
    bio = str(user.get("description") or "")
    entities = user.get("entities") if isinstance(user.get("entities"), dict) else {}
    described = entities.get("description") if isinstance(entities.get("description"), dict) else {}
    urls = described.get("urls") if isinstance(described.get("urls"), list) else []
    for entity in urls:
        if isinstance(entity, dict) and isinstance(entity.get("url"), str) and entity["url"] \
                and isinstance(entity.get("expanded_url"), str):
            bio = bio.replace(entity["url"], entity["expanded_url"])
    return Profile(name=unescaped(str(user.get("name") or "")), bio=unescaped(bio),
                   avatar=avatar_ref(user.get("profile_image_url")))


def _urls_removed(text: str) -> str:
    """`text` without the URLs twitter-text finds in it (X links exactly those)."""
    if "." not in text:
        return text
    twitterdata.load_library()
    from twitter_text.extract_urls import extract_urls_with_indices

    kept, pos = [], 0
    for url in extract_urls_with_indices(text, True):
        start, end = url["indices"]
        kept.append(text[pos:start] + " ")
        pos = end
    return "".join(kept) + text[pos:]


def comparable(text: str) -> str:
    """`text` as `same_text` compares it: NFC, no URLs, whitespace runs made one space."""
    text = unicodedata.normalize("NFC", text)
    return " ".join(_urls_removed(text).split())


_LEADING_MENTION = re.compile(r"@\w{1,15}\s+")


def same_text(sent: str, shown: str, *, reply: bool = False) -> bool:
    """Whether X's `shown` text is the post of text `sent` (see the module docstring).
    `reply`: X may put the parent's author's @username (and others) before the text."""
    want = comparable(sent)
    shown = unicodedata.normalize("NFC", unescaped(shown)).lstrip()
    while True:
        if comparable(shown) == want:
            return True
        mention = _LEADING_MENTION.match(shown) if reply else None
        if mention is None:
            return False
        shown = shown[mention.end():]


def post_matches(post: OutgoingPost, item: Mapping[str, Any]) -> bool:
    """Whether a post of the timeline (v2 Post object) is `post`: the same text, and no
    sign of being something else (a reply elsewhere, another number of images)."""
    if not isinstance(item.get("text"), str):
        return False
    refs = item.get("referenced_posts")
    replied = [r.get("id") for r in refs if isinstance(r, dict) and r.get("type") == "replied_to"] \
        if isinstance(refs, list) else []
    if replied and (post.reply_to_remote is None or str(post.reply_to_remote) not in map(str, replied)):
        return False
    attachments = item.get("attachments")
    keys = attachments.get("media_keys") if isinstance(attachments, dict) else None
    if isinstance(keys, list) and len(keys) != len(post.media):  # no attachments: not shown, no sign
        return False
    return same_text(post.text, item["text"], reply=post.reply_to_remote is not None)


def x_time(moment: datetime) -> str:
    """X's start_time/end_time form (UTC, whole seconds): 2024-05-01T12:00:00Z."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive one is taken as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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


def _v1_avatar(answer: Any) -> str | None:
    """`avatar_ref` of profile_image_url_https in a v1.1 user answer (raw text), if any."""
    try:
        user = json.loads(answer) if isinstance(answer, (str, bytes)) else None
    except (ValueError, UnicodeDecodeError):
        return None
    return avatar_ref(user.get("profile_image_url_https")) if isinstance(user, dict) else None


def _problems(answer: Any) -> str:
    """The problems of a v2 answer without data, briefly."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    details = [str(e.get("detail") or e.get("title") or e.get("message") or "")
               for e in errors or [] if isinstance(e, dict)]
    text = "; ".join(d for d in details if d) or "none given"
    return text if len(text) <= 200 else text[:197] + "..."


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
        self._user_id: str | None = None  # the account's id, once users/me was read
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

    def switch_persona(self, persona: Persona) -> Profile:
        """The three v1.1 profile calls; the profile as it now stands, with the avatar
        reference from update_profile_image's answer (None when it cannot be told)."""
        avatar = self._read(persona.avatar, "profile image") if persona.avatar else None
        banner = self._read(persona.banner, "profile banner") if persona.banner else None
        answer = self._call("profile update", lambda: self._api.update_profile(
            name=persona.name, description=persona.bio), profile=True)
        ref = before = _v1_avatar(answer)
        if avatar is not None:
            answer = self._call("profile image", lambda: self._api.update_profile_image(
                persona.avatar.name, file=io.BytesIO(avatar)), profile=True)
            after = _v1_avatar(answer)
            # the same URL as before the upload: X has not processed the new image yet
            ref = after if before is not None and after not in (None, before) else None
        if banner is not None:
            self._call("profile banner", lambda: self._api.update_profile_banner(
                persona.banner.name, file=io.BytesIO(banner)), profile=True)
        return Profile(persona.name, persona.bio, ref)

    def profile(self) -> Profile | None:
        """GET /2/users/me: the profile as X shows it; None when the access level forbids it."""
        try:
            user = self._me(("description", "entities", "profile_image_url"))
        except AccessDenied:
            return None
        return profile_of(user)

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        """Whether `post`, claimed at `claimed_at`, is on the account's timeline (see the
        module docstring). TransientError (RateLimited) when X cannot be asked now."""
        try:
            return self._reconcile(post, utc(claimed_at), utc(now))
        except AccessDenied:
            return Found.unknown("X's access level does not allow reading the timeline", final=True)
        except TransientError:
            raise
        except RejectedError as exc:  # 401, other 4xx: asking again will not help
            return Found.unknown(str(exc), final=True)

    def close(self) -> None:
        self._client.session.close()
        self._api.session.close()

    # ---- helpers
    def _reconcile(self, post: OutgoingPost, claimed: datetime, now: datetime) -> Found:
        user_id = self._user_id or self._me(())["id"]
        timeout = timedelta(seconds=self._timeout)
        start, end = claimed - CLOCK_SKEW, claimed + timeout + CLOCK_SKEW
        bounded = end + CLOCK_SKEW <= now  # the end is past by X's clock too
        params: dict[str, Any] = {
            "max_results": TIMELINE_PAGE, "start_time": x_time(start),
            "post.fields": "created_at,attachments", "expansions": "referenced_posts",
        }
        if bounded:
            params["end_time"] = x_time(end)
        window = f"from {params['start_time']}" + (f" to {params['end_time']}" if bounded else "")
        seen = 0
        for _ in range(TIMELINE_PAGES):
            answer = self._call("timeline read", lambda: self._get_v2(
                f"/2/users/{user_id}/tweets", dict(params)), read=True)
            data = answer.get("data") if isinstance(answer, dict) else None
            meta = answer.get("meta") if isinstance(answer, dict) else None
            if not isinstance(meta, dict) or not isinstance(data, (list, type(None))):
                self._user_id = None  # e.g. "Could not find user": read users/me again next time
                return Found.unknown(f"X's timeline answer had no posts: {_problems(answer)}")
            items = [d for d in data or [] if isinstance(d, dict)]
            seen += len(items)
            found = [d for d in items if post_matches(post, d) and d.get("id")]
            if found:
                oldest = min(found, key=lambda d: (len(str(d["id"])), str(d["id"])))
                when = f" of {oldest['created_at']}" if oldest.get("created_at") else ""
                return Found.posted(str(oldest["id"]), f"post {oldest['id']}{when} on the account's timeline")
            token = meta.get("next_token")
            if not isinstance(token, str) or not token:
                break
            params["pagination_token"] = token
        else:  # more posts than we read: cannot tell (a later, bounded lookup may)
            return Found.unknown(f"more than {seen} posts on the account's timeline {window}",
                                 final=bounded)
        waited = now - claimed
        if waited >= timeout + TIMELINE_DELAY:
            return Found.absent(f"not among the account's {seen} post(s) {window}")
        return Found.unknown(f"not on the account's timeline {waited.total_seconds():.0f} s after "
                             "the claim; X may not show it yet")

    def _me(self, fields: tuple[str, ...]) -> dict[str, Any]:
        """GET /2/users/me (user.fields `fields`): the User object; caches the account's id."""
        params = {"user.fields": ",".join(fields)} if fields else {}
        answer = self._call("profile read", lambda: self._get_v2("/2/users/me", params), read=True)
        user = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
            raise TransientError(f"X profile read: the answer had no user: {_problems(answer)}")
        self._user_id = user["id"]
        return user

    def _get_v2(self, route: str, params: Mapping[str, Any]) -> Any:
        response = self._client.session.get(
            TWEEPY_HOST + route, params=params, auth=self._auth.apply_auth(),
            headers={"User-Agent": self._client.user_agent},
        )
        if not 200 <= response.status_code < 300:
            raise _BadStatus(response)
        return response.json()

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
              may_create: bool = False, profile: bool = False, read: bool = False) -> T:
        try:
            return call()
        except (tweepy.HTTPException, _BadStatus) as exc:
            response = exc.response
            error = error_for_answer(
                response.status_code, response.headers, response.content or b"", action,
                may_create=may_create, profile=profile, read=read, now=time.time(),
            )
        except Exception as exc:  # transport failures, malformed answers, surprises
            error = error_for_exception(exc, action, may_create=may_create, timeout=self._timeout)
        text = str(error)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        error.args = (text,)
        raise error  # outside `except`: the tweepy/requests exception is not chained
