"""The `mastodon` publisher: Mastodon's facts (limits, credentials, timeout) and
the calls, which go through `bot.publishers.mastodon.api` (Mastodon.py, the
`mastodon` extra), imported only when an account is built.

Credentials (contract), ACCOUNT = env_name(account key):
    MASTODON_<ACCOUNT>_BASE_URL       e.g. https://mastodon.social
    MASTODON_<ACCOUNT>_ACCESS_TOKEN   a user token with write:statuses, write:media
                                      (and write:accounts for persona switches;
                                      read:accounts and read:statuses to read the
                                      profile and look posts up)
    MASTODON_TIMEOUT                  seconds per HTTP request (default 30)
Account options: `visibility` (public, unlisted, private, direct; default
public) and `max_chars` (the instance's post limit, when not 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from bot.publishers.base import Found, Limits, OutgoingPost, Persona, Profile, Publisher, env_name
from bot.publishers.lengths import mastodon_length

MB = 1024 * 1024

# Sources (Mastodon's server code): StatusLengthValidator MAX_CHARS = 500 and
# its countable text (mastodon_length); MediaAttachment IMAGE_LIMIT 16 MB,
# MAX_DESCRIPTION_LENGTH 1,500; 4 attachments per status (the API's
# media_ids); Account DISPLAY_NAME_LENGTH_LIMIT 30 and NOTE_LENGTH_LIMIT 500;
# AccountAvatar / AccountHeader LIMIT 2 MB, JPEG, PNG, GIF or WEBP.
LIMITS = Limits(
    text=500,
    count=mastodon_length,
    images=4,
    image_bytes=16 * MB,
    image_types=frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif"}),
    alt_text=1500,
    profile_name=30,
    profile_bio=500,
    profile_image_bytes=2 * MB,
    profile_image_types=frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
)


class MastodonPublisher(Publisher):
    name: ClassVar[str] = "mastodon"
    display_name: ClassVar[str] = "Mastodon"
    limits: ClassVar[Limits] = LIMITS
    timeout_variable: ClassVar[str] = "MASTODON_TIMEOUT"
    requires: ClassVar[tuple[str, ...]] = ("mastodon",)
    extra: ClassVar[str] = "mastodon"

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        account = env_name(account_key)
        return [f"MASTODON_{account}_BASE_URL", f"MASTODON_{account}_ACCESS_TOKEN"]

    @classmethod
    def limits_for(cls, options: Mapping[str, Any]) -> Limits:
        max_chars = options.get("max_chars")
        return replace(cls.limits, text=max_chars) if max_chars else cls.limits

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from bot.publishers.mastodon.api import MastodonClient

        self._client = MastodonClient(self.account, self.env, self.timeout, self.required_credentials(self.account.key),
                                      sending=self.sending)

    @property
    def visibility(self) -> str:
        return self._client.visibility

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def publish(self, post: OutgoingPost) -> str:
        return self._client.publish(post)

    def switch_persona(self, persona: Persona) -> Profile | None:
        return self._client.switch_persona(persona)

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        return self._client.reconcile(post, claimed_at, now, may_send=may_send)

    def profile(self) -> Profile | None:
        return self._client.profile()

    def close(self) -> None:
        self._client.close()
