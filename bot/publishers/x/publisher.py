"""The `x` publisher: X's facts (limits, credentials, timeout) and the calls,
which go through `bot.publishers.x.api` (tweepy), imported when an account
is first built so that `bot check` never pays for tweepy: publish, switch_persona
(returns the profile with the new avatar's reference), profile (GET /2/users/me)
and reconcile (the account's recent posts, GET /2/users/{id}/tweets).

Credentials, ACCOUNT = env_name(account key): X_API_KEY, X_API_SECRET,
X_<ACCOUNT>_ACCESS_TOKEN, X_<ACCOUNT>_ACCESS_TOKEN_SECRET. X_TIMEOUT: seconds
per request (default 30). X_API_BASE_URL: send every call elsewhere (tests,
API-compatible proxies).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from bot.publishers.base import Found, Limits, OutgoingPost, Persona, Profile, Publisher, env_name
from bot.publishers.lengths import x_length

MB = 1024 * 1024

# Sources: the 280 weighted characters are twitter-text's rule (its config v3,
# maxWeightedTweetLength); media: developer.x.com "Media best practices"
# (images up to 5 MB, animated GIFs up to 15 MB; JPG, PNG, GIF, WEBP; 4 per
# post); alt text: POST /2/media/metadata, alt_text.text maxLength 1000 in X's
# OpenAPI document. Profile: v1.1 account/update_profile (name up to 50
# characters, description up to 160) and update_profile_image (under 700 KB;
# GIF, JPG or PNG).
LIMITS = Limits(
    text=280,
    count=x_length,
    images=4,
    image_bytes=5 * MB,
    image_bytes_by_type={"image/gif": 15 * MB},
    image_types=frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"}),
    alt_text=1000,
    profile_name=50,
    profile_bio=160,
    profile_image_bytes=700 * 1024,
    profile_image_types=frozenset({"image/png", "image/jpeg", "image/gif"}),
)


class XPublisher(Publisher):
    name: ClassVar[str] = "x"
    display_name: ClassVar[str] = "X"
    limits: ClassVar[Limits] = LIMITS
    timeout_variable: ClassVar[str] = "X_TIMEOUT"

    @classmethod
    def required_credentials(cls, account_key: str) -> list[str]:
        account = env_name(account_key)
        return ["X_API_KEY", "X_API_SECRET", f"X_{account}_ACCESS_TOKEN", f"X_{account}_ACCESS_TOKEN_SECRET"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from bot.publishers.x.api import XClient

        self._client = XClient(self.account, self.env, self.timeout, self.required_credentials(self.account.key),
                               sending=self.sending)

    def __repr__(self) -> str:
        return f"<XPublisher account={self.account.key!r}>"

    def publish(self, post: OutgoingPost) -> str:
        return self._client.publish(post)

    def switch_persona(self, persona: Persona) -> Profile | None:
        return self._client.switch_persona(persona)

    def profile(self) -> Profile | None:
        return self._client.profile()

    def reconcile(self, post: OutgoingPost, claimed_at: datetime, now: datetime, *, may_send: bool = True) -> Found:
        return self._client.reconcile(post, claimed_at, now, may_send=may_send)

    def close(self) -> None:
        self._client.close()
