"""`bot schema`: a JSON Schema for feed.yaml and post files, for editors.

Built from the validator's own key lists (`bot.feed.config`, `bot.feed.postfile`)
and the publisher registry, so a key or a platform added there appears here, and
a key list that gains a member this module does not describe is an error
(`SchemaDrift`), never a silently incomplete schema.

One document holds both shapes under `$defs` (`feed`, `postFile`); `for_="feed"`
or `"posts"` makes one of them the root, and `"any"` (the default) picks by
content: a mapping with `posts` or `date` is a post file, anything else feed.yaml.

It is written for draft 2020-12 but uses only keywords that mean the same in
draft-07 (what most editors' YAML support implements): no `$ref` beside other
keywords, no `prefixItems`, `unevaluated*` or `$dynamicRef`.
"""

from __future__ import annotations

import json
import re

from bot.feed import config, postfile
from bot.feed.dates import CALENDARS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TARGETS = ("any", "feed", "posts")

# What `parse_time` accepts: H:MM or HH:MM, optional :SS, hour up to 23.
TIME = r"^([01]?[0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
# YYYY-MM-DD with a month and a day that can exist; whether the day exists in that
# month, year and calendar (1917-02-30, Julian 1700-02-29) only `bot check` knows.
DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MEDIA_KEYS = ("file", "alt")  # postfile._media's keys (it has no list of its own)

APPROXIMATE = (
    "The schema approximates `bot check`, which stays the authority: it cannot know the accounts "
    "and personas a post file may name, whether an IANA time zone or a date exists (1917-02-30), "
    "text lengths per network, media files, ids, replies and storms across files. Values are read "
    "as YAML 1.2 (as editors do): an unquoted yes or 14:05 is text here."
)


class SchemaDrift(RuntimeError):
    """A validator key list and this module's descriptions disagree."""


def _nullable(schema: dict) -> dict:
    """`schema`, or null (the validator treats `key:` with no value as absent)."""
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*kinds, "null"]}


def _anchored(pattern: re.Pattern) -> str:
    """A Python `...\\Z` match pattern as an ECMA-262 search pattern."""
    text = pattern.pattern
    return "^" + (text[:-2] if text.endswith(r"\Z") else text) + "$"


def _object(keys, described: dict[str, dict], required=(), what: str = "") -> dict:
    """An object with exactly `keys` (the validator's list), each described here."""
    keys = tuple(keys)
    missing = [k for k in keys if k not in described]
    extra = [k for k in described if k not in keys]
    if missing or extra:
        raise SchemaDrift(f"{what}: keys without a description {missing}, descriptions without a key {extra}")
    return {
        "type": "object",
        "properties": {key: described[key] for key in keys},
        "required": list(required),
        "additionalProperties": False,
    }


def _platforms(names: list[str]) -> dict:
    one = {"type": "string", "enum": names}
    return {
        "description": "The network(s) this account posts to (a list cross-posts): " + ", ".join(names) + ".",
        "anyOf": [one, {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}],
    }


def _feed(platforms: list[str]) -> dict:
    account_key = _anchored(config.ACCOUNT_KEY)
    account = _object(config.ACCOUNT_KEYS, {
        "platform": _platforms(platforms),
        "persona": {"type": "string", "description": "The persona worn when the feed starts (a key of personas)."},
        "visibility": {"type": "string", "enum": list(config.VISIBILITIES), "description": "Mastodon: the posts' visibility (default public)."},
        "max_chars": {"type": "integer", "minimum": 1, "description": "Mastodon: the instance's post length limit (default 500)."},
    }, required=("platform", "persona"), what="account")
    persona = _object(config.PERSONA_KEYS, {
        "name": {"type": "string", "pattern": r"\S", "description": "Display name."},
        "bio": {"type": "string", "description": "Profile text."},
        "avatar": _nullable({"type": "string", "description": "Profile image, a path inside the feed folder."}),
        "banner": _nullable({"type": "string", "description": "Header image, a path inside the feed folder."}),
    }, required=("name",), what="persona")
    feed = _object(config.FEED_KEYS, {
        "title": {"type": "string", "description": "The feed's name."},
        "description": _nullable({"type": "string", "description": "A line about the feed."}),
        "timezone": {"type": "string", "minLength": 1, "description": "IANA zone where the history happened (e.g. Europe/Moscow); post times are wall-clock there."},
        "calendar": {"type": "string", "enum": list(CALENDARS), "description": "The calendar of the post files' dates (default gregorian)."},
        "replay_timezone": {"type": "string", "minLength": 1, "description": "IANA zone of the replay's wall clock (default: timezone)."},
        "years_later": _nullable({"type": "integer", "minimum": 1, "maximum": 5000, "description": "Replay this many years after the history."}),
        "accounts": {
            "type": "object", "minProperties": 1,
            "propertyNames": {"pattern": account_key},
            "additionalProperties": account,
            "description": "The accounts that post, by key.",
        },
        "personas": {
            "type": "object",
            "additionalProperties": persona,
            "description": "The faces accounts wear (name, bio, images), by key.",
        },
    }, required=("title", "timezone", "accounts", "personas"), what="feed.yaml")
    feed["title"] = "feed.yaml"
    return feed


def _post_file() -> dict:
    media_item = {
        "anyOf": [
            {"type": "string", "minLength": 1},
            _object(MEDIA_KEYS, {
                "file": {"type": "string", "pattern": r"\S", "description": "An image, a path inside the feed folder."},
                "alt": _nullable({"type": "string", "description": "Alt text."}),
            }, required=("file",), what="media item"),
        ],
    }
    entry = _object(postfile.ENTRY_KEYS, {
        "time": {"type": "string", "pattern": TIME, "description": "HH:MM or HH:MM:SS, wall-clock in the feed's timezone."},
        "account": {"type": "string", "pattern": _anchored(config.ACCOUNT_KEY), "description": "A key of feed.yaml's accounts."},
        "text": _nullable({"type": "string", "pattern": r"\S", "description": "What is posted (only a storm entry may have none)."}),
        "id": _nullable({"type": "string", "pattern": r"^\S+$", "description": "The entry's id (default <date>T<HHMM>-<account>)."}),
        "date": {"type": "string", "pattern": DATE, "description": "YYYY-MM-DD: this entry's date, beating the file's."},
        "media": _nullable({"type": "array", "items": media_item, "maxItems": postfile.MAX_MEDIA, "description": "Images, each {file, alt}."}),
        "reply_to": _nullable({"type": "string", "minLength": 1, "description": "The id of an earlier entry this one replies to."}),
        "storm": _nullable({"type": "string", "minLength": 1, "description": "A persona the account switches to before posting."}),
    }, required=("time", "account"), what="entry")
    entry["anyOf"] = [
        {"required": ["text"], "properties": {"text": {"type": "string"}}},
        {"required": ["storm"], "properties": {"storm": {"type": "string"}}},
    ]
    dated_entry = {"allOf": [{"$ref": "#/$defs/entry"}, {"required": ["date"]}]}
    post_file = _object(postfile.FILE_KEYS, {
        "date": {"type": "string", "pattern": DATE, "description": "YYYY-MM-DD: the default date of the entries, in the feed's calendar."},
        "posts": {"type": ["array", "null"], "items": {"$ref": "#/$defs/entry"}, "description": "The entries."},
    }, required=("posts",), what="post file")
    post_file["title"] = "post file"
    # Without a file date, every entry needs its own.
    post_file["if"] = {"not": {"required": ["date"]}}
    post_file["then"] = {"properties": {"posts": {"items": dated_entry}}}
    return post_file, entry


def build(for_: str = "any") -> dict:
    """The schema as a dict; `for_`: "any", "feed" or "posts"."""
    if for_ not in TARGETS:
        raise ValueError(f"for_ must be one of {TARGETS}, not {for_!r}")
    from bot import publishers

    post_file, entry = _post_file()
    root = {
        "any": {
            "if": {"type": "object", "anyOf": [{"required": ["posts"]}, {"required": ["date"]}]},
            "then": {"$ref": "#/$defs/postFile"},
            "else": {"$ref": "#/$defs/feed"},
        },
        "feed": {"allOf": [{"$ref": "#/$defs/feed"}]},
        "posts": {"allOf": [{"$ref": "#/$defs/postFile"}]},
    }[for_]
    what = {"any": "feed.yaml or a post file", "feed": "feed.yaml", "posts": "a post file"}[for_]
    return {
        "$schema": DIALECT,
        "title": f"Anniversary replay bot: {what}",
        "description": APPROXIMATE,
        **root,
        "$defs": {"feed": _feed(publishers.available()), "postFile": post_file, "entry": entry},
    }


def render(for_: str = "any") -> str:
    return json.dumps(build(for_), indent=2, ensure_ascii=False) + "\n"
