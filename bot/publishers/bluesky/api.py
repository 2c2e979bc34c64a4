"""Bluesky's client for the `bluesky` publisher: posts, threads, images and personas through atproto.

Credentials (per account, ACCOUNT = env_name(key)): BLUESKY_<ACCOUNT>_HANDLE,
BLUESKY_<ACCOUNT>_APP_PASSWORD, optional BLUESKY_<ACCOUNT>_SERVICE (default
https://bsky.social). BLUESKY_TIMEOUT (seconds, default 30) replaces the
client's 5 s default.

Remote ids are "<at-uri>|<cid>", e.g.
"at://did:plc:abc/app.bsky.feed.post/3kxyz|bafyrei...": both halves of the
strong ref a reply needs. An id without "|cid" is completed with getRecord.

A post with a delivery instant (`OutgoingPost.scheduled`) is created under a
record key derived from the delivery (`delivery_rkey`: a TID from the instant's
second and a hash of entry id and account), so whether it exists is one
getRecord away: `reconcile` asks it after a lost answer, and a `publish` whose
key is taken by the same post (an earlier attempt made it) returns that post.
A retried create can never make a second record.

The service allows few logins a day, so the session is kept in
`state_dir/bluesky/<account>.session` (mode 0600) and reused; atproto refreshes
it and every change is written back. The password is used only when there is
no saved session or the saved one is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

try:
    import httpx
    from atproto_client import Client, Session, SessionEvent, models
    from atproto_client import exceptions as at_errors
    from atproto_client.request import Request
    from atproto_server.exceptions import InvalidTokenError
except ImportError as exc:  # pragma: no cover - exercised by a test with atproto hidden
    raise ImportError(
        "the bluesky publisher needs atproto: pip install 'anniversary-bot[bluesky]'"
    ) from exc

from bot.errors import (
    PublishError,
    RateLimited,
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
    env_name,
)
from bot.publishers.bluesky.publisher import LIMITS, BlueskyPublisher

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "https://bsky.social"
MAX_IMAGES = LIMITS.images
MAX_IMAGE_BYTES = LIMITS.image_bytes
POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
_AUTH_ERRORS = {"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired"}
_URL = re.compile(r"https?://[^\s<>\"'`]+")
T = TypeVar("T")

# -- record keys -------------------------------------------------------------
#
# atproto's TID (https://atproto.com/specs/tid; @atproto/syntax isValidTid, which
# the PDS applies to app.bsky.feed.post keys): 13 characters of base32-sortable,
# a 64-bit integer, top bit 0, then 53 bits of microseconds since the Unix epoch
# and a 10-bit clock identifier. The PDS's regex lets the first character run to
# "j"; with the top bit 0 it is one of "234567ab".
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_TID_SYNTAX = re.compile(r"[234567ab][234567abcdefghijklmnopqrstuvwxyz]{12}")
_MAX_MICROS = (1 << 53) - 1  # 2255-06-05T23:47:34.740991Z
_SUB = 1_000_000  # sub-second microseconds
_CLOCKS = 1 << 10
_SPREAD = _SUB * _CLOCKS  # keys one account can have within one second
_MAX_SECOND = (_MAX_MICROS - (_SUB - 1)) // _SUB  # the last whole second whose every key fits
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_VARIANTS = 32
# The PDS refuses a client-chosen record key containing a word from its slur list
# (@atproto/pds repo/prepare.js, hasExplicitSlur: 400 InvalidRequest "Unacceptable
# slur in record key"). Of its patterns only one is not anchored to whole words,
# and a 13-character TID starting with 2-7, a or b can only meet that one; this
# is it, restricted to the characters a TID can hold.
_REFUSED_WORD = re.compile(r"n[ilo4a][gq]{2}(?:l[e3]t|[e3]r)")


def is_tid(rkey: str) -> bool:
    """Whether `rkey` is a TID with the top bit 0 (what `delivery_rkey` makes)."""
    return isinstance(rkey, str) and _TID_SYNTAX.fullmatch(rkey) is not None


def rkey_refused(rkey: str) -> bool:
    """Whether the PDS would refuse `rkey` as a client-chosen key for the word it contains."""
    return _REFUSED_WORD.search(rkey) is not None


def tid_parts(tid: str) -> tuple[int, int]:
    """(microseconds since the epoch, clock id) of a TID."""
    value = 0
    for char in tid:
        value = value * 32 + TID_ALPHABET.index(char)
    return value >> 10, value & (_CLOCKS - 1)


def _tid(micros: int, clock: int) -> str:
    value = (micros << 10) | clock
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _spread(entry_id: str, account: str, variant: int) -> int:
    digest = hashlib.sha256(json.dumps([entry_id, account, variant]).encode()).digest()
    return int.from_bytes(digest[:8], "big") % _SPREAD


def delivery_rkey(scheduled: datetime, entry_id: str, account: str) -> str:
    """The record key of one delivery: a valid TID, the same at every attempt and restart.

    Its time is the whole second of `scheduled` (a naive datetime is read as
    UTC); a hash of (entry id, account) chooses the sub-second microseconds and
    the clock id, one of 1,024,000,000 keys, so two deliveries of one account at
    the same second share a key with odds of about 1 in 10^9 (n of them: about
    n^2/2 in 2.05 * 10^9), and keys of different seconds never meet. Keys sort
    as their seconds do. Seconds before 1970 are read as 1970-01-01T00:00:00Z;
    from 2255-06-05T23:47:33Z on, where 53 bits of microseconds end, keys are
    clamped to that second (valid and still in order, no longer apart by time).

    A key the PDS would refuse for a word in it (see `rkey_refused`) is replaced
    by the next hash variant; when the second's own digits spell the word (40
    windows of about a second between Dec 2026 and Dec 2027, while keys start
    "3n", and as many every 36 years after), the key takes the time of the
    nearest earlier second that has a clean key.
    """
    if scheduled.tzinfo is None:
        scheduled = scheduled.replace(tzinfo=timezone.utc)
    second = min(max((scheduled - _EPOCH) // timedelta(seconds=1), 0), _MAX_SECOND)
    while second >= 0:
        for variant in range(_VARIANTS):
            spread = _spread(entry_id, account, variant)
            tid = _tid(second * _SUB + spread // _CLOCKS, spread % _CLOCKS)
            if not rkey_refused(tid):
                return tid
        second -= 1
    raise ValueError("no record key can be made")  # pragma: no cover - second 0 is "2222222..."


def link_facets(text: str) -> list[dict[str, Any]]:
    """`app.bsky.richtext.facet` links for every http(s) URL, with UTF-8 byte offsets.

    Trailing sentence punctuation and an unbalanced closing parenthesis are
    left out of the link, as the Bluesky app does.
    """
    facets = []
    for match in _URL.finditer(text):
        url = match.group()
        while url and (url[-1] in ".,;:!?" or (url[-1] == ")" and url.count("(") < url.count(")"))):
            url = url[:-1]
        if len(url) <= len("https://"):
            continue
        start = len(text[: match.start()].encode("utf-8"))
        facets.append(
            {
                "$type": "app.bsky.richtext.facet",
                "index": {"byteStart": start, "byteEnd": start + len(url.encode("utf-8"))},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": url}],
            }
        )
    return facets


def split_remote_id(remote_id: str) -> tuple[str, str | None]:
    """("at://...", cid or None) from a remote id this publisher returned."""
    uri, _, cid = remote_id.partition("|")
    if not uri.startswith("at://"):
        raise RejectedError(f"not a Bluesky remote id: {remote_id!r}")
    return uri, cid or None


class BlueskyClient:
    """One account's calls to its PDS (the `bluesky` publisher builds it)."""

    def __init__(self, account: AccountSettings, env: Mapping[str, str], timeout: float, state_dir: Path) -> None:
        self.account = account
        self.env = env
        prefix = f"BLUESKY_{env_name(self.account.key)}_"
        self.handle = self.env.get(prefix + "HANDLE", "")
        self._password = self.env.get(prefix + "APP_PASSWORD", "")
        self.service = (self.env.get(prefix + "SERVICE") or DEFAULT_SERVICE).rstrip("/")
        self.timeout = timeout
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", self.account.key)
        self.session_path = Path(state_dir) / "bluesky" / f"{safe_key}.session"
        self._client: Client | None = None
        self._did_value = ""
        self._secrets: set[str] = {self._password} - {""}
        self._lock = threading.RLock()

    # -- publishing -------------------------------------------------------

    def publish(self, post: OutgoingPost) -> str:
        with self._lock:
            self._ensure_client()  # records name the logged-in account's did
            record: dict[str, Any] = {
                "$type": POST,
                "text": post.text,
                "createdAt": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            }
            facets = link_facets(post.text)
            if facets:
                record["facets"] = facets
            langs = self.account.options.get("langs")
            if langs:
                record["langs"] = [langs] if isinstance(langs, str) else list(langs)
            if post.reply_to_remote:
                parent = self._strong_ref(post.reply_to_remote)
                root = self._strong_ref(post.thread_root_remote) if post.thread_root_remote else parent
                record["reply"] = {"root": root, "parent": parent}
            if post.media:
                record["embed"] = self._images_embed(post.media)
            if post.scheduled is None:
                data = models.ComAtprotoRepoCreateRecord.Data(repo=self._did(), collection=POST, record=record)
                out = self._call("post", True, lambda c: c.com.atproto.repo.create_record(data))
                return f"{out.uri}|{out.cid}"
            return self._create_keyed(post, record)

    def _create_keyed(self, post: OutgoingPost, record: dict[str, Any]) -> str:
        """Create the post under its delivery's key; a key already taken by this
        post (an earlier attempt whose answer was lost) is success.

        The reference PDS answers a create on a taken key with HTTP 500
        InternalServerError (its repository tree refuses the second value), so
        after a 5xx the key is looked up: the same text there is this post;
        nothing there is the 5xx it said it was (TransientError: safe to retry,
        since a retry cannot make a second record).
        """
        rkey = delivery_rkey(post.scheduled, post.entry_id, post.account)
        data = models.ComAtprotoRepoCreateRecord.Data(repo=self._did(), collection=POST, rkey=rkey, record=record)

        def create(c: Client):
            try:
                return c.com.atproto.repo.create_record(data)
            except at_errors.RequestErrorBase as exc:
                if _maybe_taken(exc):
                    raise _KeyTaken(exc) from None
                raise

        try:
            out = self._call("post", True, create)
            return f"{out.uri}|{out.cid}"
        except _KeyTaken as taken:
            answer = taken.exc
        found = self._lookup(self._did(), POST, rkey)
        if found is None:
            raise self._map_error(answer, "post", True)
        if not _same_post(found, post):
            raise RejectedError(
                f"bluesky post for account {self.account.key}: its record key {rkey} holds another post"
            )
        log.info("bluesky: post %s of account %s was already there (record %s)", post.entry_id, self.account.key, rkey)
        return f"{found['uri']}|{found['cid']}"

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        """Whether the post exists, by its delivery's record key (`claimed_at` and
        `now` are not needed: the PDS reads its own store, so what it says of a
        key is current). Raises TransientError when the lookup fails."""
        if post.scheduled is None:
            return Found.unknown("no delivery instant: the post's record key cannot be derived", final=True)
        rkey = delivery_rkey(post.scheduled, post.entry_id, post.account)
        with self._lock:
            try:
                self._ensure_client()
                found = self._lookup(self._did(), POST, rkey)
            except RejectedError as exc:  # the PDS refuses to tell (login refused, bad request)
                return Found.unknown(str(exc), final=True)
        if found is None:
            return Found.absent(f"no record {rkey}")
        if not _same_post(found, post):
            return Found.unknown(f"record {rkey} holds another post", final=True)
        return Found.posted(f"{found['uri']}|{found['cid']}", f"record {rkey}")

    def _strong_ref(self, remote_id: str) -> dict[str, str]:
        uri, cid = split_remote_id(remote_id)
        if cid is None:
            repo, collection, rkey = uri.removeprefix("at://").split("/", 2)
            cid = self._get_record(repo, collection, rkey)[0]
            if cid is None:
                raise RejectedError(f"the post to reply to no longer exists: {uri}")
        return {"uri": uri, "cid": cid}

    def _images_embed(self, media: tuple[MediaItem, ...]) -> dict[str, Any]:
        if len(media) > MAX_IMAGES:
            raise RejectedError(f"bluesky takes at most {MAX_IMAGES} images, got {len(media)}")
        images = [{"alt": item.alt or "", "image": self._upload(item.path)} for item in media]
        return {"$type": "app.bsky.embed.images", "images": images}

    def _upload(self, path: Path) -> dict[str, Any]:
        """Upload an image file; return its blob reference as JSON."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise RejectedError(f"cannot read image {path}: {exc.strerror}") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise RejectedError(f"image {path} is {len(data)} bytes; bluesky takes at most {MAX_IMAGE_BYTES}")
        mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
        out = self._call(
            f"upload of {Path(path).name}",
            False,
            lambda c: c.com.atproto.repo.upload_blob(data, headers={"Content-Type": mime}),
        )
        return out.blob.model_dump(mode="json", by_alias=True, exclude_none=True)

    # -- persona ----------------------------------------------------------

    def profile(self) -> Profile:
        """The profile record as the PDS holds it; ("", "", None) when there is none."""
        with self._lock:
            self._ensure_client()
            value = self._get_record(self._did(), PROFILE, "self")[1]
        return _profile_of(value or {})

    def switch_persona(self, persona: Persona) -> Profile:
        """Rewrite the profile record: display name, description, avatar, banner.

        Other profile fields (pinned post, labels...) are kept; an avatar or
        banner the persona does not name stays as it is. The write swaps on the
        record's current cid, so a concurrent edit is never overwritten blindly.
        """
        with self._lock:
            self._ensure_client()
            blobs = {}
            if persona.avatar:
                blobs["avatar"] = self._upload(persona.avatar)
            if persona.banner:
                blobs["banner"] = self._upload(persona.banner)
            for attempt in (1, 2):
                cid, current = self._get_record(self._did(), PROFILE, "self")
                record = dict(current or {}, **blobs)
                record["$type"] = PROFILE
                record["displayName"] = persona.name
                if persona.bio:
                    record["description"] = persona.bio
                else:
                    record.pop("description", None)
                try:
                    self._write_profile(record, cid)
                    return _profile_of(record)
                except _SwapFailed:
                    if attempt == 2:
                        raise TransientError(
                            f"bluesky profile of account {self.account.key} changed during the switch"
                        ) from None

    def _write_profile(self, record: dict[str, Any], cid: str | None) -> None:
        where = {"repo": self._did(), "collection": PROFILE, "rkey": "self", "record": record}
        if cid is None:
            data = models.ComAtprotoRepoCreateRecord.Data(**where)
        else:
            data = models.ComAtprotoRepoPutRecord.Data(**where, swap_record=cid)

        def write(c: Client):
            try:
                if cid is None:
                    return c.com.atproto.repo.create_record(data)
                return c.com.atproto.repo.put_record(data)
            except at_errors.RequestErrorBase as exc:
                if _error_name(exc) in {"InvalidSwap", "RecordAlreadyExists"}:
                    raise _SwapFailed from None
                if cid is None and _maybe_taken(exc):  # the PDS's answer to a create on a taken key
                    raise _KeyTaken(exc) from None
                raise

        try:
            self._call("profile update", True, write)
        except _KeyTaken as taken:
            if self._get_record(self._did(), PROFILE, "self")[0] is not None:
                raise _SwapFailed from None  # created meanwhile: read it and write over it
            raise self._map_error(taken.exc, "profile update", True) from None

    def _get_record(self, repo: str, collection: str, rkey: str) -> tuple[str | None, dict | None]:
        """(cid, value) of a record, (None, None) when it does not exist."""
        found = self._lookup(repo, collection, rkey)
        if found is None:
            return None, None
        return found.get("cid"), found.get("value")

    def _lookup(self, repo: str, collection: str, rkey: str) -> dict | None:
        """getRecord's answer ({"uri", "cid", "value"}), None when there is no such record."""

        def get(c: Client):
            try:
                params = models.ComAtprotoRepoGetRecord.Params(
                    repo=repo, collection=collection, rkey=rkey
                )
                return c.invoke_query("com.atproto.repo.getRecord", params=params).content
            except at_errors.BadRequestError as exc:
                if _error_name(exc) == "RecordNotFound":
                    return None
                raise

        found = self._call(f"read of {collection}", False, get)
        if not isinstance(found, dict) or not found.get("cid"):
            return None
        return found

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.request.close()
                self._client = None

    # -- session and errors -------------------------------------------------

    def _did(self) -> str:
        return self._did_value

    def _call(self, what: str, writes: bool, fn: Callable[[Client], T]) -> T:
        """Run `fn` with a logged-in client, mapping failures to PublishError.

        A refused session (expired, revoked) is replaced by a password login and
        the call made once more: a refused call was not acted on.
        """
        client = self._ensure_client()
        try:
            return fn(client)
        except _Signal:
            raise
        except Exception as exc:
            if not _is_auth_failure(exc):
                raise self._map_error(exc, what, writes) from None
        log.info("bluesky: session of account %s refused; logging in again", self.account.key)
        self._forget_session()
        client = self._password_login()
        try:
            return fn(client)
        except _Signal:
            raise
        except Exception as exc:
            raise self._map_error(exc, what, writes) from None

    def _ensure_client(self) -> Client:
        if self._client is not None:
            return self._client
        missing = BlueskyPublisher.missing_credentials(self.account.key, self.env)
        if missing:
            raise RejectedError(f"bluesky account {self.account.key} lacks {', '.join(missing)}")
        saved = self._load_session()
        if saved is None:
            return self._password_login()
        client = self._new_client()
        try:
            client.login(session_string=saved, fetch_bsky_profile=False)
        except Exception:
            log.warning("bluesky: saved session of account %s is unreadable; logging in again", self.account.key)
            return self._password_login()
        self._client = client
        log.debug("bluesky: reusing the saved session of account %s", self.account.key)
        return client

    def _password_login(self) -> Client:
        if self._client is not None:
            self._client.request.close()
            self._client = None
        client = self._new_client()
        try:
            client.login(self.handle, self._password, fetch_bsky_profile=False)
        except Exception as exc:
            client.request.close()
            raise self._map_error(exc, "login", False) from None
        self._client = client
        log.info("bluesky: logged in to %s as %s", self.service, self.handle)
        return client

    def _new_client(self) -> Client:
        client = Client(base_url=self.service, request=Request(timeout=self.timeout))
        client.on_session_change(self._on_session_change)
        return client

    def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        self._did_value = session.did
        self._secrets = {self._password, session.access_jwt, session.refresh_jwt} - {""}
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._save_session(session.export())

    def _load_session(self) -> str | None:
        try:
            saved = json.loads(self.session_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("bluesky: ignoring unreadable session file %s", self.session_path)
            return None
        if not isinstance(saved, dict) or saved.get("service") != self.service:
            return None
        if str(saved.get("handle", "")).lower() != self.handle.lower():
            return None
        session = saved.get("session")
        return session if isinstance(session, str) and session else None

    def _forget_session(self) -> None:
        try:
            self.session_path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("bluesky: cannot remove %s: %s", self.session_path, exc.strerror)

    def _save_session(self, session_string: str) -> None:
        """Write the session atomically, readable by the owner only."""
        data = json.dumps({"service": self.service, "handle": self.handle, "session": session_string})
        tmp = self.session_path.with_suffix(".tmp")
        try:
            self.session_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.session_path)
        except OSError as exc:
            log.warning("bluesky: cannot save the session to %s: %s", self.session_path, exc.strerror)

    def _map_error(self, exc: BaseException, what: str, writes: bool) -> PublishError:
        """The PublishError for a failed call; `writes`: the call creates or changes something."""
        if isinstance(exc, PublishError):
            return exc
        where = f"bluesky {what} for account {self.account.key}"
        if isinstance(exc, at_errors.RateLimitExceededError):
            return RateLimited(f"{where}: rate limited ({self._detail(exc)})", _retry_after(exc))
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
            message = f"{where}: {self._detail(exc)}"
            if status >= 500:
                return TransientError(message)
            return RejectedError(message)
        if isinstance(exc, (InvalidTokenError, at_errors.LoginRequiredError)):
            return RejectedError(f"{where}: the session was refused")
        message = f"{where}: unexpected {type(exc).__name__}: {self._scrub(str(exc))}"
        return UncertainError(message) if writes else RejectedError(message)

    def _detail(self, exc: BaseException) -> str:
        return self._scrub(str(exc))[:300]

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


class _Signal(Exception):
    """An answer the caller of `_call` looks into itself (not mapped to a PublishError)."""


class _SwapFailed(_Signal):
    """The profile record changed between read and write."""


class _KeyTaken(_Signal):
    """A create was refused in the way a taken record key is (`exc`: the answer)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc


def _maybe_taken(exc: BaseException) -> bool:
    """Whether a create's error answer may mean "this key is taken": the reference
    PDS says HTTP 500 InternalServerError; others may name it."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return (status is not None and status >= 500) or _error_name(exc) == "RecordAlreadyExists"


def _same_post(found: dict, post: OutgoingPost) -> bool:
    value = found.get("value")
    return isinstance(value, dict) and value.get("$type", POST) == POST and value.get("text") == post.text


def _blob_cid(blob: Any) -> str | None:
    """The CID of a blob reference ({"ref": {"$link": cid}}, or a legacy {"cid": cid})."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    if isinstance(ref, dict) and isinstance(ref.get("$link"), str):
        return ref["$link"]
    return blob["cid"] if isinstance(blob.get("cid"), str) else None


def _profile_of(record: dict) -> Profile:
    name, bio = record.get("displayName"), record.get("description")
    return Profile(name if isinstance(name, str) else "", bio if isinstance(bio, str) else "",
                   _blob_cid(record.get("avatar")))


def _error_name(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    return getattr(content, "error", None)


def _is_auth_failure(exc: BaseException) -> bool:
    """The session itself was refused (not the request): a fresh login may help."""
    if isinstance(exc, (InvalidTokenError, at_errors.LoginRequiredError)):
        return True
    if isinstance(exc, at_errors.UnauthorizedError) and exc.response is not None:
        return exc.response.status_code == 401
    if isinstance(exc, at_errors.BadRequestError):
        return _error_name(exc) in _AUTH_ERRORS
    return False


def _retry_after(exc: at_errors.RateLimitExceededError) -> float | None:
    """Seconds until `ratelimit-reset` (epoch seconds), else `retry-after`, else None."""
    reset = exc.reset_at
    if reset is not None:
        return max(0.0, reset.timestamp() - time.time())
    return exc.retry_after


__all__ = ["BlueskyClient", "delivery_rkey", "is_tid", "link_facets", "rkey_refused", "split_remote_id", "tid_parts"]
