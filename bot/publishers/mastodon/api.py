"""Mastodon's client for the `mastodon` publisher: one account on one instance, through Mastodon.py 2.x.

Credentials (contract), ACCOUNT = env_name(account key):
    MASTODON_<ACCOUNT>_BASE_URL       e.g. https://mastodon.social
    MASTODON_<ACCOUNT>_ACCESS_TOKEN   a user token with write:statuses, write:media
                                      (and write:accounts for persona switches;
                                      read:accounts and read:statuses to read the
                                      profile and look posts up)
    MASTODON_TIMEOUT                  seconds per HTTP request (default 30)
Account options: `visibility` (public, unlisted, private, direct; default public).

Every status carries an Idempotency-Key derived from (entry id, account,
network). Mastodon keeps such keys for one hour and answers a repeated
request with the status it already created, so re-sending a post whose answer
was lost cannot make a second post within that hour. The publisher still
reports such a loss as UncertainError (it cannot know whether the post exists);
`reconcile` settles it: by re-sending within the hour, and later by looking
for the post among the account's own statuses (see KEY_WINDOW).

Mastodon.py's own rate-limit waiting is off (`ratelimit_method="throw"`):
a 429 becomes RateLimited with the wait the server announced, so the service
can schedule the retry without blocking other accounts.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:
    import requests
    import requests.adapters
    from mastodon import Mastodon
    from mastodon.errors import MastodonError, MastodonVersionError
except ImportError as exc:
    raise ImportError(
        "the mastodon publisher needs Mastodon.py: pip install 'anniversary-bot[mastodon]'"
    ) from exc

from bot.errors import ConfigError, PublishError, RejectedError
from bot.publishers.base import AccountSettings, Found, MediaItem, OutgoingPost, Persona, Profile, deposed_in
from bot.publishers.mastodon.content import same_text, status_text
from bot.publishers.mastodon.failures import Seen, answered_4xx, translate

VISIBILITIES = ("public", "unlisted", "private", "direct")
_T = TypeVar("_T")

# How long the instance keeps an Idempotency-Key. Mastodon's PostStatusService
# (app/services/post_status_service.rb, #with_idempotency), under a Redis lock
# "idempotency:lock:status:<account id>:<key>":
#     return idempotency_duplicate if idempotency_duplicate?   # redis.get(key)
#     yield                                                    # validate, create
#     redis.setex("idempotency:status:<account id>:<key>", 3_600, @status.id)
# So a key is kept per account (another account's equal key is another key)
# for 3,600 s from the moment its status was made. A repeated key answers
# `@account.statuses.find(<stored id>)` before the service reads anything else
# of the request: text and media_ids are neither validated nor used (newly
# uploaded media stay unattached, and the instance removes them later), and a
# status deleted since makes it a 404. Only the controller's before_action
# set_thread (Api::V1::StatusesController) runs first: a parent that is gone
# is a 404 either way. A repeat while the first request still holds the lock
# is Mastodon::RaceConditionError, answered 503 (transient).
IDEMPOTENCY_TTL = timedelta(seconds=3600)
# Re-send with the key only while it is surely still kept: the key's hour
# starts after the claim (the status is made during the call that follows it),
# and the margin covers the re-send's own time on the way.
KEY_WINDOW = IDEMPOTENCY_TTL - timedelta(minutes=10)
# How far the instance's clock (created_at) may be from ours.
CLOCK_SLACK = timedelta(minutes=1)
# The account's statuses are read newest first, PAGE_SIZE at a time (the most
# Api::V1::Accounts::StatusesController gives: twice DEFAULT_STATUSES_LIMIT
# 20), for at most LOOKUP_PAGES pages.
PAGE_SIZE = 40
LOOKUP_PAGES = 5


def derive_idempotency_key(entry_id: str, account: str, network: str) -> str:
    """A key stable for (entry id, account, network), safe to send in a header."""
    digest = hashlib.sha256("\x1f".join((entry_id, account, network)).encode()).hexdigest()
    return f"anniversary-bot-{digest[:40]}"


class _Guarded(requests.adapters.HTTPAdapter):
    """Calls `sending()` before each request goes out."""

    def __init__(self, sending: Callable[[], None]) -> None:
        super().__init__()
        self._sending = sending

    def send(self, request, *args, **kwargs):
        self._sending()
        return super().send(request, *args, **kwargs)


class MastodonClient:
    """One account's calls to its instance (the `mastodon` publisher builds it)."""

    name = "mastodon"

    def __init__(self, account: AccountSettings, env: Mapping[str, str], timeout: float,
                 credentials: Sequence[str], sending: Callable[[], None] = lambda: None) -> None:
        """`credentials`: the names of the instance URL's and the access token's variables;
        `sending()` before each request (Deposed: it does not go out)."""
        self.account = account
        url_var, token_var = credentials
        self._token = env[token_var]
        self.base_url = env[url_var].strip().rstrip("/")
        self.visibility = _visibility(account)
        self.timeout = timeout
        self._lock = threading.Lock()  # one call at a time per account
        self._version_known = False
        self._last_status: int | None = None
        self._last_headers: Mapping[str, str] = {}
        self._account_id: Any = None  # the account's id, once read
        self._session = requests.Session()
        self._session.hooks["response"].append(self._note_response)
        guarded = _Guarded(sending)  # Deposed: the request does not go out
        self._session.mount("https://", guarded)
        self._session.mount("http://", guarded)
        self._api = Mastodon(
            access_token=self._token,
            api_base_url=self.base_url,
            request_timeout=self.timeout,
            ratelimit_method="throw",
            version_check_mode="none",
            session=self._session,
            user_agent="anniversary-bot",
        )

    # -- the interface -------------------------------------------------------

    def publish(self, post: OutgoingPost) -> str:
        return self._send(post, f"posting {post.entry_id}", uncertain_after_send=True)

    def switch_persona(self, persona: Persona) -> Profile:
        fields: dict[str, Any] = {"display_name": persona.name, "note": persona.bio}
        action = f"switching to persona {persona.key}"
        if persona.avatar is not None:
            fields["avatar"], fields["avatar_mime_type"] = self._read_image(persona.avatar, action)
        if persona.banner is not None:
            fields["header"], fields["header_mime_type"] = self._read_image(persona.banner, action)
        # Setting a profile twice is harmless, so a lost answer is only transient.
        account = self._call(action, lambda: self._api.account_update_credentials(**fields), profile=True)
        return _profile_of(account)  # the answer is the CredentialAccount profile() reads later

    def profile(self) -> Profile:
        account = self._call("reading the profile", self._api.account_verify_credentials)
        return _profile_of(account)

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        """Whether `post`, claimed at `claimed_at` and its answer lost, exists now.

        Within KEY_WINDOW of the claim: the same request again, with the same
        Idempotency-Key. The instance answers the status the key names (the
        original), or, when there is none, makes it now: either way that
        status is the post. A post with images is first looked for among the
        account's statuses, because a re-send must upload its images again and
        a key hit would leave those uploads unattached.
        Later, or when `may_send` is False (the post is past its grace: a re-send
        that found nothing would publish it late): the account's statuses since the
        claim, compared by text (and reply, and number of images).
        Raises TransientError (RateLimited) when the instance cannot be asked.
        """
        if may_send and now - claimed_at < KEY_WINDOW:
            if post.media:
                found = self._look_up(post, claimed_at, now)
                if found.state == "posted":
                    return found
            return self._resend(post)
        return self._look_up(post, claimed_at, now)

    def close(self) -> None:
        self._session.close()

    # -- helpers -------------------------------------------------------------

    def _send(self, post: OutgoingPost, action: str, *, uncertain_after_send: bool,
              media_ids: list[str] | None = None) -> str:
        if media_ids is None:
            media_ids = [self._upload(item) for item in post.media]
        key = post.idempotency_key
        if not (key and key.isascii() and key.isprintable()):  # an HTTP header: ASCII only
            key = derive_idempotency_key(post.entry_id, post.account, post.network or self.name)
        status = self._call(
            action,
            lambda: self._api.status_post(
                post.text,
                media_ids=media_ids or None,
                in_reply_to_id=post.reply_to_remote,
                visibility=self.visibility,
                idempotency_key=key,
            ),
            uncertain_after_send=uncertain_after_send,
        )
        return str(status["id"])

    def _resend(self, post: OutgoingPost) -> Found:
        """The same request with the same key: its answer is the post, made once."""
        try:
            media_ids = [self._upload(item) for item in post.media]
        except RejectedError as exc:  # an image gone or refused: the request cannot be made again
            return Found.unknown(f"cannot re-send: {exc}", final=True)
        try:
            # A lost answer, this time, only means the lookup failed: TransientError.
            remote_id = self._send(post, f"re-sending {post.entry_id} with its idempotency key",
                                   uncertain_after_send=False, media_ids=media_ids)
        except RejectedError as exc:
            code = self._last_status  # of this very request (one call at a time per account)
            if code == 422:
                # Validation runs only when the key names no status: nothing stands under it.
                return Found.absent(f"no status under its idempotency key, and the re-send was refused: {exc}")
            if code == 404:  # the key's status was deleted since, or the parent was
                return Found.unknown(f"the re-send found no status to answer with: {exc}", final=True)
            return Found.unknown(f"the re-send was refused: {exc}", final=True)
        return Found.posted(remote_id, "the re-send with the same Idempotency-Key answered it")

    def _look_up(self, post: OutgoingPost, claimed_at: datetime, now: datetime) -> Found:
        """Look for `post` among the account's own statuses made since the claim."""
        since = claimed_at - CLOCK_SLACK
        # Only the call that followed the claim, or a re-send within KEY_WINDOW,
        # can have made it: later statuses with the same text are other posts.
        until = claimed_at + IDEMPOTENCY_TTL + CLOCK_SLACK
        try:
            account_id = self._own_id()
        except RejectedError as exc:
            return Found.unknown(f"cannot read the account: {exc}", final=True)
        seen = 0
        matches: list[tuple[bool, datetime, str]] = []
        max_id: Any = None
        for _ in range(LOOKUP_PAGES):
            try:
                page = self._call(
                    "reading the account's statuses",
                    lambda: self._api.account_statuses(account_id, max_id=max_id, limit=PAGE_SIZE,
                                                       exclude_reblogs=True),
                )
            except RejectedError as exc:
                return Found.unknown(f"cannot read the account's statuses: {exc}", final=True)
            if not page:
                return self._verdict(matches, seen, since, complete=True)
            for status in page:
                created = _moment(status.get("created_at"))
                if created is not None and created < since:
                    return self._verdict(matches, seen, since, complete=True)
                seen += 1
                if created is not None and created > until:
                    continue
                if self._matches(status, post):
                    replied = str(status.get("in_reply_to_id") or "") == str(post.reply_to_remote or "")
                    matches.append((replied, created or now, str(status["id"])))
            max_id = page[-1]["id"]
        return self._verdict(matches, seen, since, complete=False)

    @staticmethod
    def _verdict(matches: list[tuple[bool, datetime, str]], seen: int, since: datetime, *, complete: bool) -> Found:
        if matches:
            # the one replying as the post does, then the oldest: the call after the claim
            replied, created, remote_id = min(matches, key=lambda m: (not m[0], m[1]))
            return Found.posted(remote_id, f"found among the account's statuses, made {created:%Y-%m-%d %H:%M:%S} UTC")
        if complete:
            return Found.absent(f"not among the account's {seen} statuses since {since:%Y-%m-%d %H:%M:%S} UTC")
        return Found.unknown(
            f"the account made more than {seen} statuses since {since:%Y-%m-%d %H:%M:%S} UTC: "
            "too many to look through", final=True)

    @staticmethod
    def _matches(status: Mapping[str, Any], post: OutgoingPost) -> bool:
        if status.get("reblog"):
            return False
        if len(status.get("media_attachments") or ()) != len(post.media):
            return False
        return same_text(status_text(status.get("content")), post.text)

    def _own_id(self) -> Any:
        if self._account_id is None:
            account = self._call("reading the account", self._api.account_verify_credentials)
            self._account_id = account["id"]
        return self._account_id

    def _upload(self, item: MediaItem) -> str:
        action = f"uploading {item.path.name}"
        data, mime = self._read_image(item.path, action)
        self._ensure_version()
        # An upload that is lost leaves at most an unattached file, which the
        # instance deletes later: never uncertain. synchronous=True waits while
        # the instance answers 202 (images are normally processed at once).
        media = self._call(
            action,
            lambda: self._api.media_post(
                data,
                mime_type=mime,
                description=item.alt,
                file_name=item.path.name,
                synchronous=True,
            ),
        )
        return str(media["id"])

    def _ensure_version(self) -> None:
        """Learn the instance version once, failing loudly instead of guessing 1.0.0."""
        if self._version_known:
            return
        self._call("reading the instance version", self._fetch_version)
        self._version_known = True

    def _fetch_version(self) -> None:
        try:
            self._api.retrieve_mastodon_version(fail_hard=True)
        except MastodonVersionError as exc:
            if (deposed := deposed_in(exc)) is not None:
                raise deposed from None
            cause = exc.__cause__
            # A server without /api/v2/instance (< 4.0) is fine: v1 gave the version.
            if isinstance(cause, MastodonError) and not answered_4xx(cause):
                raise cause from None

    def _read_image(self, path: Path, action: str) -> tuple[bytes, str]:
        mime = mimetypes.guess_type(path.name)[0]
        if mime is None:
            raise RejectedError(f"{self._where(action)}: cannot tell the type of {path.name}")
        try:
            return path.read_bytes(), mime
        except OSError as exc:
            raise RejectedError(
                f"{self._where(action)}: cannot read {path.name} ({exc.strerror or 'error'})"
            ) from None

    def _note_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last_status = response.status_code
        self._last_headers = response.headers

    def _call(
        self,
        action: str,
        request: Callable[[], _T],
        *,
        uncertain_after_send: bool = False,
        profile: bool = False,
    ) -> _T:
        with self._lock:
            self._last_status, self._last_headers = None, {}
            try:
                return request()
            except (MastodonError, requests.RequestException) as exc:
                if (deposed := deposed_in(exc)) is not None:  # not sent: this process may no longer act
                    raise deposed from None
                error = self._translate(exc, action, uncertain_after_send, profile)
            # Raised outside the except block: Mastodon.py's exception (which may
            # carry request details) is neither chained nor shown in tracebacks.
            raise error

    def _where(self, action: str) -> str:
        return f"mastodon {self.account.key}: {action}"

    def _translate(self, exc: Exception, action: str, uncertain_after_send: bool, profile: bool) -> PublishError:
        seen = Seen(self._where(action), self._last_status, self._last_headers, self._api.ratelimit_reset,
                    self.timeout, self.base_url, self._token)
        return translate(exc, seen, uncertain_after_send=uncertain_after_send, profile=profile)


def _profile_of(account: Mapping[str, Any]) -> Profile:
    """Profile from a CredentialAccount (verify_credentials, update_credentials)."""
    source = account.get("source") or {}
    note = source.get("note")
    bio = note if isinstance(note, str) else status_text(account.get("note"))
    avatar = account.get("avatar") or None
    if avatar and urlsplit(str(avatar)).path.endswith("/missing.png"):
        avatar = None  # AccountSerializer: avatar.default_url, ".../avatars/original/missing.png"
    return Profile(name=account.get("display_name") or "", bio=bio, avatar=str(avatar) if avatar else None)


def _moment(value: Any) -> datetime | None:
    """An aware datetime from Mastodon.py's created_at (None when unreadable)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _visibility(account: AccountSettings) -> str:
    value = str(account.options.get("visibility", "public")).lower()
    if value not in VISIBILITIES:
        raise ConfigError(
            f"mastodon account {account.key!r}: visibility must be one of "
            f"{', '.join(VISIBILITIES)}, not {value!r}"
        )
    return value
