"""Feed folders for tests: the base feed.yaml, small feeds written from plain data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "posts"

BASE_FEED = """\
title: Test feed
timezone: Europe/Berlin
accounts:
  paper:
    platform: x
    persona: daily
  crier:
    platform: console
    persona: crier
personas:
  daily:
    name: The Daily
    bio: Historical reenactment of a daily paper.
  evening:
    name: The Evening
    bio: Historical reenactment of an evening paper.
  crier:
    name: Town Crier
    bio: Historical reenactment of a town crier.
"""


def make_feed(tmp_path: Path, feed_yaml: str | bytes | None = BASE_FEED,
              files: Mapping[str, str | bytes] | None = None, name: str = "feed") -> Path:
    """Write a feed folder `tmp_path/name`: feed.yaml (none when None) and `files` (relative path: content)."""
    root = Path(tmp_path) / name
    root.mkdir(parents=True, exist_ok=True)
    all_files = dict(files or {})
    if feed_yaml is not None:
        all_files["feed.yaml"] = feed_yaml
    for relative, content in all_files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def story(root: Path, accounts: Mapping[str, str | list[str]], posts: list[dict], *,
          personas: Mapping[str, str] | None = None, timezone: str = "UTC", years_later: int = 100,
          images: Mapping[str, bytes] | None = None) -> Path:
    """A feed from plain data: `accounts` maps each key to its platform(s) (its persona is
    `<key>-p`); `personas` adds more (key: display name); `posts` are entry mappings with
    `date` (YYYY-MM-DD), `time`, `account`, `text` and the optional keys, written one file
    per date."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = {f"{key}-p": f"{key.title()} Paper" for key in accounts} | dict(personas or {})
    config = {
        "title": "Story", "timezone": timezone, "years_later": years_later,
        "accounts": {key: {"platform": platforms, "persona": f"{key}-p"} for key, platforms in accounts.items()},
        "personas": {key: {"name": name, "bio": f"Historical reenactment: {name}."} for key, name in names.items()},
    }
    for relative, data in (images or {}).items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    for key, spec in config["personas"].items():
        if (root / "media" / f"{key}.png").exists():
            spec["avatar"] = f"media/{key}.png"
    (root / "feed.yaml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    by_day: dict[str, list[dict]] = {}
    for post in posts:
        entry = {k: v for k, v in post.items() if k != "date"}
        by_day.setdefault(post["date"], []).append(entry)
    for day, entries in by_day.items():
        body = {"date": day, "posts": entries}
        (root / f"{day}.yaml").write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def alternating(root: Path, entries: int, accounts=("alpha", "beta"), gap_minutes: int = 1,
                storm_at: int | None = None) -> Path:
    """`entries` posts "entry number NNNN" (ids eNNNN) alternating between `accounts` on X,
    `gap_minutes` apart from 1917-11-06 08:00 (replayed 100 years later); entry `storm_at`
    storms its account to "Stormed Times"."""
    from datetime import datetime, timedelta

    start = datetime(1917, 11, 6, 8, 0)
    posts = []
    for i in range(entries):
        moment = start + timedelta(minutes=i * gap_minutes)
        post = {"date": f"{moment:%Y-%m-%d}", "time": f"{moment:%H:%M}", "account": accounts[i % len(accounts)],
                "id": f"e{i:04d}", "text": f"entry number {i:04d}"}
        if storm_at == i:
            post["storm"] = "stormed"
        posts.append(post)
    return story(root, {a: "x" for a in accounts}, posts, personas={"stormed": "Stormed Times"})
