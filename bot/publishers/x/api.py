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

Failures become bot.errors by the rules of bot/publishers/x/failures.py; what X
shows is read by bot/publishers/x/shown.py.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from tweepy.parsers import RawParser

from bot.errors import (
    ConfigError,
    RejectedError,
    TransientError,
    UncertainError,
)
from bot.publishers.base import (
    AccountSettings,
    Found,
    MediaItem,
    OutgoingPost,
    Persona,
    Profile,
    deposed_in,
)
from bot.publishers.x.failures import (
    AccessDenied,
    error_for_answer,
    error_for_exception,
    problems_of,
)
from bot.publishers.x.shown import post_matches, profile_of, utc, v1_avatar, x_time

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
    """Rewrites each request's origin to `base_url` (if any) and imposes `timeout`;
    `sending()` first (Deposed: the request does not go out)."""

    def __init__(self, base_url: SplitResult | None, timeout: float, sending: Callable[[], None]) -> None:
        super().__init__()
        self._base = base_url
        self._timeout = timeout
        self._sending = sending

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        self._sending()
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


class _BadStatus(Exception):
    """A non-2xx answer to one of our own (non-tweepy) requests."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


# ---- the publisher

class XClient:
    """One account's calls to X (the `x` publisher builds it; credentials already checked)."""

    def __init__(self, account: AccountSettings, env: Mapping[str, str], timeout: float,
                 credentials: Sequence[str], sending: Callable[[], None] = lambda: None) -> None:
        """`credentials`: the names of the API key, its secret, the access token and its secret;
        `sending()` before each request (Deposed: it does not go out)."""
        self.account = account
        key, secret, token, token_secret = (env[n] for n in credentials)
        self._secrets = tuple(s for s in (secret, token, token_secret, key) if len(s) >= 4)
        base_url = base_url_setting(env)
        self._timeout = timeout
        self._auth = tweepy.OAuth1UserHandler(key, secret, token, token_secret)
        self._client = tweepy.Client(consumer_key=key, consumer_secret=secret,
                                     access_token=token, access_token_secret=token_secret)
        self._api = tweepy.API(self._auth, timeout=self._timeout, parser=RawParser())
        self._user_id: str | None = None  # the account's id, once users/me was read
        for session in (self._client.session, self._api.session):
            transport = _XTransport(base_url, self._timeout, sending)
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
        ref = before = v1_avatar(answer)
        if avatar is not None:
            answer = self._call("profile image", lambda: self._api.update_profile_image(
                persona.avatar.name, file=io.BytesIO(avatar)), profile=True)
            after = v1_avatar(answer)
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
                return Found.unknown(f"X's timeline answer had no posts: {problems_of(answer)}")
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
            raise TransientError(f"X profile read: the answer had no user: {problems_of(answer)}")
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
            if (deposed := deposed_in(exc)) is not None:  # not sent: this process may no longer act
                raise deposed from None
            error = error_for_exception(exc, action, may_create=may_create, timeout=self._timeout)
        text = str(error)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        error.args = (text,)
        raise error  # outside `except`: the tweepy/requests exception is not chained
