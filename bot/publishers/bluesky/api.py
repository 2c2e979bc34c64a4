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

import logging
import mimetypes
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

try:
    from atproto_client import Client, Session, SessionEvent, models
    from atproto_client import exceptions as at_errors
    from atproto_client.request import Request
except ImportError as exc:  # pragma: no cover - exercised by a test with atproto hidden
    raise ImportError(
        "the bluesky publisher needs atproto: pip install 'anniversary-bot[bluesky]'"
    ) from exc

from bot.errors import (
    Deposed,
    PublishError,
    RejectedError,
    TransientError,
)
from bot.publishers.base import (
    AccountSettings,
    Found,
    Limits,
    MediaItem,
    OutgoingPost,
    Persona,
    Profile,
    deposed_in,
    env_name,
)
from bot.publishers.bluesky.failures import (
    ClientSignal,
    KeyTaken,
    SwapFailed,
    error_name,
    is_auth_failure,
    map_error,
    maybe_taken,
)
from bot.publishers.bluesky.records import POST, delivery_rkey, link_facets, profile_of, same_post, split_remote_id
from bot.publishers.bluesky.session import SessionFile

log = logging.getLogger(__name__)

DEFAULT_SERVICE = "https://bsky.social"
PROFILE = "app.bsky.actor.profile"
T = TypeVar("T")

class BlueskyClient:
    """One account's calls to its PDS (the `bluesky` publisher builds it)."""

    def __init__(self, account: AccountSettings, env: Mapping[str, str], timeout: float, state_dir: Path,
                 limits: Limits, sending: Callable[[], None] = lambda: None) -> None:
        """`limits`: the network's, as the publisher declares them (images per post, bytes per image);
        `sending()` before each request (Deposed: it does not go out)."""
        self.account = account
        self.env = env
        self.limits = limits
        self._sending = sending
        prefix = f"BLUESKY_{env_name(self.account.key)}_"
        self.handle_var, self.password_var = prefix + "HANDLE", prefix + "APP_PASSWORD"
        self.handle = self.env.get(self.handle_var, "")
        self._password = self.env.get(self.password_var, "")
        self.service = (self.env.get(prefix + "SERVICE") or DEFAULT_SERVICE).rstrip("/")
        self.timeout = timeout
        safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", self.account.key)
        self.session_path = Path(state_dir) / "bluesky" / f"{safe_key}.session"
        self._session_file = SessionFile(self.session_path, self.service, self.handle)
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
                if maybe_taken(exc):
                    raise KeyTaken(exc) from None
                raise

        try:
            out = self._call("post", True, create)
            return f"{out.uri}|{out.cid}"
        except KeyTaken as taken:
            answer = taken.exc
        found = self._lookup(self._did(), POST, rkey)
        if found is None:
            raise self._map_error(answer, "post", True)
        if not same_post(found, post):
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
        if not same_post(found, post):
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
        if len(media) > self.limits.images:
            raise RejectedError(f"bluesky takes at most {self.limits.images} images, got {len(media)}")
        images = [{"alt": item.alt or "", "image": self._upload(item.path)} for item in media]
        return {"$type": "app.bsky.embed.images", "images": images}

    def _upload(self, path: Path) -> dict[str, Any]:
        """Upload an image file; return its blob reference as JSON."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise RejectedError(f"cannot read image {path}: {exc.strerror}") from None
        if len(data) > self.limits.image_bytes:
            raise RejectedError(f"image {path} is {len(data)} bytes; bluesky takes at most {self.limits.image_bytes}")
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
        return profile_of(value or {})

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
                    return profile_of(record)
                except SwapFailed:
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
                if error_name(exc) in {"InvalidSwap", "RecordAlreadyExists"}:
                    raise SwapFailed from None
                if cid is None and maybe_taken(exc):  # the PDS's answer to a create on a taken key
                    raise KeyTaken(exc) from None
                raise

        try:
            self._call("profile update", True, write)
        except KeyTaken as taken:
            if self._get_record(self._did(), PROFILE, "self")[0] is not None:
                raise SwapFailed from None  # created meanwhile: read it and write over it
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
                if error_name(exc) == "RecordNotFound":
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
        except ClientSignal:
            raise
        except Exception as exc:
            if not is_auth_failure(exc):
                raise self._map_error(exc, what, writes) from None
        log.info("bluesky: session of account %s refused; logging in again", self.account.key)
        self._session_file.forget()
        client = self._password_login()
        try:
            return fn(client)
        except ClientSignal:
            raise
        except Exception as exc:
            raise self._map_error(exc, what, writes) from None

    def _ensure_client(self) -> Client:
        if self._client is not None:
            return self._client
        missing = [name for name in (self.handle_var, self.password_var) if not self.env.get(name)]
        if missing:
            raise RejectedError(f"bluesky account {self.account.key} lacks {', '.join(missing)}")
        saved = self._session_file.load()
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
        client = Client(base_url=self.service, request=Request(
            timeout=self.timeout, event_hooks={"request": [lambda request: self._sending()]}))
        client.on_session_change(self._on_session_change)
        return client

    def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        self._did_value = session.did
        self._secrets = {self._password, session.access_jwt, session.refresh_jwt} - {""}
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._session_file.save(session.export())

    def _map_error(self, exc: BaseException, what: str, writes: bool) -> PublishError | Deposed:
        """The PublishError for a failed call; `writes`: the call creates or changes something.
        A Deposed (this process may no longer act: the request did not go out) as it is."""
        if (deposed := deposed_in(exc)) is not None:
            return deposed
        return map_error(exc, f"bluesky {what} for account {self.account.key}", writes, self._scrub)

    def _detail(self, exc: BaseException) -> str:
        return self._scrub(str(exc))[:300]

    def _scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


__all__ = ["BlueskyClient"]
