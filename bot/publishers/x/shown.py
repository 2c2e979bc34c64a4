"""What X shows, read for comparison (pure functions): profiles, avatars, post texts.

A post of the timeline matches one the bot sent when its text is the one sent as X
shows it (`same_text`: HTML entities unescaped, every URL removed on both sides since
X shows t.co links and adds one for images, leading @mentions X puts before a reply
allowed, whitespace and Unicode normalised), and nothing X shows contradicts it: a
reply to another post, or a different number of images (`post_matches`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.publishers.base import OutgoingPost, Profile
from bot.publishers.lengths import twitterdata

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


def v1_avatar(answer: Any) -> str | None:
    """`avatar_ref` of profile_image_url_https in a v1.1 user answer (raw text), if any."""
    try:
        user = json.loads(answer) if isinstance(answer, (str, bytes)) else None
    except (ValueError, UnicodeDecodeError):
        return None
    return avatar_ref(user.get("profile_image_url_https")) if isinstance(user, dict) else None
