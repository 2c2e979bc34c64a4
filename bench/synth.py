"""A synthetic six-year feed for the benchmark: deterministic for a given size.

`generate(folder, entries)` writes feed.yaml, one post file per historical day
(1939-09-01 onwards, spread over six years), a few small PNGs, and returns the
number of entries written. Texts are 100-280 weighted characters on X with
some URLs, emoji and CJK; every text stays within 280 by construction (each
non-ASCII character is budgeted at weight 2, each URL at 23 or its length).
A few storms (persona switches) and threads (reply_to) are included.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from datetime import date, timedelta
from pathlib import Path

ACCOUNTS = 12
YEARS = 6
FIRST_DAY = date(1939, 9, 1)
YEARS_LATER = 85  # replay 2024-2030: a run started today is part-way through
WORDS = (
    "the army front line city river bridge convoy ships north south east west news report "
    "morning evening night rain snow wind fire guns quiet rumour official communique troops "
    "harbour station road supply bread queue ministry parliament radio speech letter"
).split()
CJK = "東京北京上海戦争平和新聞報告朝夕雨雪風"
EMOJI = ("🎉", "🔥", "📻", "✈️", "🚢", "👨‍👩‍👧", "🇬🇧")
URLS = ("https://example.org/a/1", "https://archive.example.net/doc?id=42", "example.com/news")


def png(width: int = 8, height: int = 8, seed: int = 0) -> bytes:
    """A tiny valid RGB PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + bytes((seed * 40 + x * 9) % 256 for x in range(width * 3)) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _text(rng: random.Random) -> str:
    """100-280 weighted characters; the budget counts non-ASCII as 2, URLs as 23 or more."""
    target = rng.randint(100, 270)
    parts: list[str] = []
    budget = 0
    while True:
        roll = rng.random()
        if roll < 0.02:
            piece = rng.choice(URLS)
            cost = max(len(piece), 23)  # X counts every URL as 23
        elif roll < 0.05:
            piece = rng.choice(EMOJI)
            cost = 2 * len(piece)
        elif roll < 0.08:
            piece = "".join(rng.choice(CJK) for _ in range(rng.randint(2, 6)))
            cost = 2 * len(piece)
        else:
            piece = rng.choice(WORDS)
            cost = len(piece)
        if budget + cost + 1 > target and budget >= 100:
            break
        if budget + cost + 1 > 278:
            continue
        parts.append(piece)
        budget += cost + 1
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


def feed_yaml(accounts: list[str]) -> str:
    lines = [
        "title: Synthetic six-year replay",
        "timezone: Europe/London",
        "calendar: gregorian",
        f"years_later: {YEARS_LATER}",
        "accounts:",
    ]
    lines += [f"  {a}: {{platform: x, persona: {a}-p}}" for a in accounts]
    lines.append("personas:")
    lines += [f"  {a}-p: {{name: {a.title()} Desk, bio: Historical reenactment.}}" for a in accounts]
    lines.append("  special-edition: {name: Special Edition, bio: \"Historical reenactment, special edition.\", avatar: media/img0.png}")
    return "\n".join(lines) + "\n"


def generate(folder: Path, entries: int = 100_000, seed: int = 1939) -> int:
    """Write the feed into `folder` (created); returns the number of entries."""
    rng = random.Random(seed)
    folder = Path(folder)
    (folder / "media").mkdir(parents=True, exist_ok=True)
    for i in range(8):
        (folder / "media" / f"img{i}.png").write_bytes(png(seed=i))
    accounts = [f"desk{i:02d}" for i in range(ACCOUNTS)]
    (folder / "feed.yaml").write_text(feed_yaml(accounts), encoding="utf-8")

    days = (FIRST_DAY.replace(year=FIRST_DAY.year + YEARS) - FIRST_DAY).days
    per_day = [entries // days + (1 if i < entries % days else 0) for i in range(days)]
    storm_days = {days * k // 7 for k in range(1, 7)} if entries >= 1000 else {days // 2}
    stormed = False  # desk00 wears its own persona, or special-edition after a storm
    written = 0
    for offset, count in enumerate(per_day):
        if count == 0:
            continue
        day = FIRST_DAY + timedelta(days=offset)
        minutes = sorted(rng.sample(range(6 * 60, 23 * 60), count))
        posts = []
        parent = None
        for n, minute in enumerate(minutes):
            account = accounts[(offset + n) % ACCOUNTS]
            item = {"time": f"{minute // 60:02d}:{minute % 60:02d}", "account": account}
            if n == 0 and offset % 50 == 0:
                parent = f"thread-{day:%Y%m%d}"
                item["id"] = parent
            elif parent and n <= 3:
                item["reply_to"] = parent
            if offset in storm_days and n == count // 2:
                item["account"] = accounts[0]
                item["storm"] = "desk00-p" if stormed else "special-edition"
                stormed = not stormed
            item["text"] = _text(rng)
            if rng.random() < 0.01:
                item["media"] = [{"file": f"media/img{rng.randrange(8)}.png", "alt": "A photograph"}]
            posts.append(item)
        # entries in a day file follow the historical clock
        lines = [f"date: {day:%Y-%m-%d}", "posts:"]
        for item in posts:
            lines.append(f"  - time: \"{item['time']}\"")
            for key in ("account", "id", "reply_to", "storm"):
                if key in item:
                    lines.append(f"    {key}: {item[key]}")
            lines.append(f"    text: {json.dumps(item['text'], ensure_ascii=False)}")
            for media in item.get("media", ()):
                lines.append(f"    media:\n      - file: {media['file']}\n        alt: {media['alt']}")
        year_dir = folder / f"{day:%Y}"
        year_dir.mkdir(exist_ok=True)
        (year_dir / f"{day:%Y-%m-%d}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        written += count
    return written
