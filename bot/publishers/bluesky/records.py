"""What the `bluesky` publisher writes and reads back, as pure functions: record keys,
link facets, remote ids, a post or a profile read back. No network and no atproto
import, so these are cheap to test and to reuse.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.errors import RejectedError
from bot.publishers.base import OutgoingPost, Profile

POST = "app.bsky.feed.post"
_URL = re.compile(r"https?://[^\s<>\"'`]+")

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


# -- records read back -------------------------------------------------------

def same_post(found: dict, post: OutgoingPost) -> bool:
    """A record read back (getRecord's answer) is this post: a post record with its text."""
    value = found.get("value")
    return isinstance(value, dict) and value.get("$type", POST) == POST and value.get("text") == post.text


def blob_cid(blob: Any) -> str | None:
    """The CID of a blob reference ({"ref": {"$link": cid}}, or a legacy {"cid": cid})."""
    if not isinstance(blob, dict):
        return None
    ref = blob.get("ref")
    if isinstance(ref, dict) and isinstance(ref.get("$link"), str):
        return ref["$link"]
    return blob["cid"] if isinstance(blob.get("cid"), str) else None


def profile_of(record: dict) -> Profile:
    """The persona an app.bsky.actor.profile record shows (its avatar by blob CID)."""
    name, bio = record.get("displayName"), record.get("description")
    return Profile(name if isinstance(name, str) else "", bio if isinstance(bio, str) else "",
                   blob_cid(record.get("avatar")))
