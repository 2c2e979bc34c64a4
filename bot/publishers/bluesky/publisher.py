"""The `bluesky` publisher: Bluesky's facts (limits, credentials, timeout) and
the calls, which go through `bot.publishers.bluesky.api` (atproto, the
`bluesky` extra, about a second to import), loaded only when an account is built.
Posts with a delivery instant get a record key derived from the delivery, so
`reconcile` can look them up (see the api module).

Credentials, ACCOUNT = env_name(account key): BLUESKY_<ACCOUNT>_HANDLE,
BLUESKY_<ACCOUNT>_APP_PASSWORD, optional BLUESKY_<ACCOUNT>_SERVICE (default
https://bsky.social). BLUESKY_TIMEOUT: seconds per request (default 30).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from bot.publishers.base import Found, Limits, OutgoingPost, Persona, Profile, Publisher, env_name
from bot.publishers.lengths import grapheme_count

# Sources: the atproto lexicons. app.bsky.feed.post text: maxGraphemes 300,
# maxLength 3000 (bytes of UTF-8); app.bsky.embed.images: at most 4 images,
# each blob maxSize 1,000,000 bytes, accept image/*; alt text has no lexicon
# limit, the Bluesky app caps it at 2,000 graphemes (social-app's
# MAX_ALT_TEXT). app.bsky.actor.profile: displayName maxGraphemes 64 /
# maxLength 640, description maxGraphemes 256 / maxLength 2560, avatar and
# banner maxSize 1,000,000, accept image/png and image/jpeg.
LIMITS = Limits(
    text=300,
    count=grapheme_count,
    text_bytes=3000,
    images=4,
    image_bytes=1_000_000,
    image_types=frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
    alt_text=2000,
    alt_count=grapheme_count,
    profile_name=64,
    profile_bio=256,
    profile_count=grapheme_count,
    profile_name_bytes=640,
    profile_bio_bytes=2560,
    profile_image_bytes=1_000_000,
    profile_image_types=frozenset({"image/png", "image/jpeg"}),
)


class BlueskyPublisher(Publisher):
    name: ClassVar[str] = "bluesky"
    display_name: ClassVar[str] = "Bluesky"
    limits: ClassVar[Limits] = LIMITS
    timeout_variable: ClassVar[str] = "BLUESKY_TIMEOUT"
    requires: ClassVar[tuple[str, ...]] = ("atproto",)
    extra: ClassVar[str] = "bluesky"

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        prefix = f"BLUESKY_{env_name(account_key)}_"
        return [prefix + "HANDLE", prefix + "APP_PASSWORD"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from bot.publishers.bluesky.api import BlueskyClient

        self._client = BlueskyClient(self.account, self.env, self.timeout, self.state_dir,
                                     self.limits_for(self.account.options), sending=self.sending)

    @property
    def session_path(self):
        return self._client.session_path

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
