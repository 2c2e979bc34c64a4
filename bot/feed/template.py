"""`bot init DIR`: a small feed to start from, every key explained in a comment.

The feed is valid as written (`bot check DIR` reports nothing) and shows each
kind of key once: required ones set, optional ones commented out.
"""

from __future__ import annotations

from pathlib import Path

FEED_YAML = """\
# feed.yaml: what the feed is, who posts in it, and the faces they wear.
# Every other .yaml or .yml file below this folder is a post file (one per day is usual).
# `bot check DIR` finds every problem; `bot preview DIR` shows the feed as it will go out;
# `bot schema` prints a JSON Schema that editors can check these files with.

# The feed's name, and an optional line about it.
title: Apollo 11
description: The first landing on the Moon, replayed as it happened.

# The IANA time zone where the history happened: post times are wall-clock time there.
timezone: America/Chicago
# The calendar the post files' dates are written in: gregorian (the default) or julian.
calendar: gregorian
# Optional: the time zone of the replay's wall clock (default: timezone).
# replay_timezone: Europe/London
# Optional: replay this many years after the history (default: the smallest number
# that puts the last post in the future). --years-later and BOT_YEARS_LATER beat it.
# years_later: 60

# The accounts that post, each under a key of lower-case letters, digits, - and _.
# A post file names the account of each entry by this key.
accounts:
  apollo:
    # The network: x, mastodon, bluesky, console (prints instead of posting) or a
    # plugin's name; a list such as [x, mastodon] cross-posts every entry.
    platform: x
    # The persona (below) the account wears when the feed starts.
    persona: apollo-live
    # Mastodon only: public (the default), unlisted, private or direct.
    # visibility: public
    # Mastodon only: the instance's post length limit, when it is not 500.
    # max_chars: 500

# The personas: the display name, bio and images an account wears. An entry with
# `storm: KEY` switches its account to another persona, which it then keeps.
personas:
  apollo-live:
    name: Apollo 11, live
    bio: Historical reenactment of the Apollo 11 mission, July 1969, as it happened.
    # Optional images, paths inside this folder (PNG or JPEG):
    # avatar: media/avatar.png
    # banner: media/banner.png
"""

POST_FILE = """\
# A post file: entries of one historical day. Any name ending in .yaml or .yml will do.

# The date of the entries below (YYYY-MM-DD, in the feed's calendar). An entry may
# give its own `date:` instead.
date: 1969-07-20
posts:
  # time: HH:MM or HH:MM:SS, wall-clock time in the feed's timezone (quote it).
  # account: a key of feed.yaml's accounts.
  # text: what is posted. Quote it; inside single quotes, write ' as ''.
  - time: "15:17:40"
    account: apollo
    # Optional: an id for replies to name (default: <date>T<HHMM[SS]>-<account>).
    id: eagle-landed
    text: 'The lunar module Eagle is down on the Sea of Tranquility. Neil Armstrong to Houston: "Tranquility Base here. The Eagle has landed."'

  - time: "21:56"
    account: apollo
    # Optional: the id of an earlier entry (any account, any file) this one replies to.
    reply_to: eagle-landed
    text: 'Armstrong steps off the ladder onto the Moon: "That''s one small step for man, one giant leap for mankind."'

  # Other keys an entry may have:
  #   date: 1969-07-21       this entry's own date, instead of the file's
  #   storm: PERSONA         switch the account to that persona first; text is then optional
  #   media:                 up to 4 images, paths inside the feed folder, each with alt text
  #     - {file: media/eagle.png, alt: "The lunar module on the Moon"}
"""

FILES = {"feed.yaml": FEED_YAML, "1969-07-20.yaml": POST_FILE}


def write(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the feed into `folder` (created if needed); the paths written.

    FileExistsError names the first file already there, before anything is
    written, unless `force`."""
    targets = [folder / name for name in FILES]
    if not force:
        for path in targets:
            if path.exists() or path.is_symlink():
                raise FileExistsError(path)
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in zip(targets, FILES.values()):
        if force and path.is_symlink():
            path.unlink()  # replace the link, not whatever it points to
        path.write_text(text, encoding="utf-8")
    return targets
