"""Synthetic feeds for the reliability suites, written as YAML files in a folder.

Every entry has a unique id and a unique text (so a request at the fake names
its entry), one account (on X, or on each of `Spec.platforms`), and a history
instant `minute` minutes after 1917-11-06 08:00 UTC.
"""

from __future__ import annotations

import hashlib
import json
import random
import struct
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

HISTORY_START = datetime(1917, 11, 6, 8, 0)


def png(seed: str, size: int = 4) -> bytes:
    """A small valid PNG whose colour (and bytes) depend on `seed`."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]
    row = b"\x00" + bytes([r, g, b]) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@dataclass
class Item:
    id: str
    account: str
    minute: float
    text: str | None
    storm: str | None = None
    reply_to: str | None = None
    media: list[tuple[str, str]] = field(default_factory=list)  # (file, alt)


@dataclass
class Spec:
    """A feed: accounts (key -> initial persona), personas (key -> name), items."""

    accounts: dict[str, str]
    personas: dict[str, str]
    items: list[Item]
    avatars: bool = True  # give every persona an avatar (and the storm ones a banner)
    platforms: tuple[str, ...] = ("x",)  # every account's networks (several: cross-posting)

    def expected_persona(self) -> dict[str, str]:
        """Persona each account wears once the whole feed has played."""
        wearing = dict(self.accounts)
        for item in sorted(self.items, key=lambda i: i.minute):
            if item.storm:
                wearing[item.account] = item.storm
        return wearing

    def by_text(self) -> dict[str, Item]:
        return {i.text: i for i in self.items if i.text is not None}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML flow scalar


def write(spec: Spec, root: Path, *, extra_feed_yaml: str = "") -> Path:
    """Write feed.yaml, posts.yaml and media/ under `root`; return root."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "media").mkdir(exist_ok=True)
    lines = ["title: Reliability", "timezone: UTC", "years_later: 100", "accounts:"]
    platform = spec.platforms[0] if len(spec.platforms) == 1 else "[" + ", ".join(spec.platforms) + "]"
    for key, persona in spec.accounts.items():
        lines.append(f"  {key}: {{platform: {platform}, persona: {persona}}}")
    lines.append("personas:")
    for key, name in spec.personas.items():
        extra = ""
        if spec.avatars:
            (root / "media" / f"{key}.png").write_bytes(png(key))
            extra += f", avatar: media/{key}.png"
            if key.startswith("storm"):
                (root / "media" / f"{key}-banner.png").write_bytes(png(key + "banner", 8))
                extra += f", banner: media/{key}-banner.png"
        lines.append(f"  {key}: {{name: {_q(name)}, bio: {_q('Reenactment: ' + name)}{extra}}}")
    (root / "feed.yaml").write_text("\n".join(lines) + "\n" + extra_feed_yaml, encoding="utf-8")

    posts = ["posts:"]
    for item in spec.items:
        moment = HISTORY_START + timedelta(minutes=item.minute)
        parts = [f'date: "{moment:%Y-%m-%d}"', f'time: "{moment:%H:%M:%S}"',
                 f"account: {item.account}", f"id: {item.id}"]
        if item.text is not None:
            parts.append(f"text: {_q(item.text)}")
        if item.storm:
            parts.append(f"storm: {item.storm}")
        if item.reply_to:
            parts.append(f"reply_to: {item.reply_to}")
        if item.media:
            for file, _ in item.media:
                (root / file).write_bytes(png(file, 16))
            parts.append("media: [" + ", ".join(f"{{file: {f}, alt: {_q(a)}}}" for f, a in item.media) + "]")
        posts.append("  - {" + ", ".join(parts) + "}")
    (root / "posts.yaml").write_text("\n".join(posts) + "\n", encoding="utf-8")
    return root


def crash_spec(entries: int, seed: int, accounts: int = 4, storms: int = 6) -> Spec:
    """`entries` posts one minute apart over `accounts` accounts, with storms
    flipping personas back and forth (one without text), replies and two images."""
    rng = random.Random(seed)
    keys = [f"acct{i}" for i in range(accounts)]
    personas = {f"home{i}": f"Home Paper {i}" for i in range(accounts)}
    personas.update({f"storm{i}": f"Storm Paper {i}" for i in range(accounts)})
    initial = {k: f"home{i}" for i, k in enumerate(keys)}
    wearing = dict(initial)
    storm_at = set(rng.sample(range(2, entries), min(storms, entries - 2)))
    textless = min(storm_at) if storm_at else None
    media_at = set(rng.sample([i for i in range(1, entries) if i not in storm_at], 2))
    last_of: dict[str, str] = {}
    items = []
    for i in range(entries):
        account = keys[i % accounts] if rng.random() < 0.7 else rng.choice(keys)
        item = Item(id=f"e{i:04d}", account=account, minute=i, text=f"entry e{i:04d}: news of the day number {i}")
        if i in storm_at:
            n = keys.index(account)
            item.storm = f"storm{n}" if wearing[account] == f"home{n}" else f"home{n}"
            wearing[account] = item.storm
            if i == textless:
                item.text = None
        if item.text is not None and i % 9 == 4 and last_of:
            item.reply_to = last_of.get(account) or rng.choice(sorted(last_of.values()))
        if i in media_at:
            item.media = [(f"media/photo{i}.png", f"Photo for entry {i}")]
        if item.text is not None:
            last_of[account] = item.id
        items.append(item)
    return Spec(initial, personas, items)
