"""Bluesky's client for the `bluesky` publisher: posts, threads, images and personas through atproto.

Credentials (per account, ACCOUNT = env_name(key)): BLUESKY_<ACCOUNT>_HANDLE,
BLUESKY_<ACCOUNT>_APP_PASSWORD, optional BLUESKY_<ACCOUNT>_SERVICE (default
https://bsky.social). BLUESKY_TIMEOUT (seconds, default 30) replaces the
client's 5 s default.

Remote ids are "<at-uri>|<cid>", e.g.
"at://did:plc:abc/app.bsky.feed.post/3kxyz|bafyrei...": both halves of the
strong ref a reply needs. An id without "|cid" is completed with getRecord.

The service allows few logins a day, so the session is kept in
`state_dir/bluesky/<account>.session` (mode 0600) and reused; atproto refreshes
it and every change is written back. The password is used only when there is
no saved session or the saved one is refused.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
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
from bot.publishers.base import AccountSettings, MediaItem, OutgoingPost, Persona, env_name
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
            data = models.ComAtprotoRepoCreateRecord.Data(repo=self._did(), collection=POST, record=record)
            out = self._call("post", True, lambda c: c.com.atproto.repo.create_record(data))
            return f"{out.uri}|{out.cid}"

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

    def switch_persona(self, persona: Persona) -> None:
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
                    return
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
            except at_errors.BadRequestError as exc:
                if _error_name(exc) in {"InvalidSwap", "RecordAlreadyExists"}:
                    raise _SwapFailed from None
                raise

        self._call("profile update", True, write)

    def _get_record(self, repo: str, collection: str, rkey: str) -> tuple[str | None, dict | None]:
        """(cid, value) of a record, (None, None) when it does not exist."""

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
        if not isinstance(found, dict):
            return None, None
        return found.get("cid"), found.get("value")

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
        except _SwapFailed:
            raise
        except Exception as exc:
            if not _is_auth_failure(exc):
                raise self._map_error(exc, what, writes) from None
        log.info("bluesky: session of account %s refused; logging in again", self.account.key)
        self._forget_session()
        client = self._password_login()
        try:
            return fn(client)
        except _SwapFailed:
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


class _SwapFailed(Exception):
    """The profile record changed between read and write."""


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


__all__ = ["BlueskyClient", "link_facets", "split_remote_id"]
