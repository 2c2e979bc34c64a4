"""The parse cache: hits, misses on edit, corrupt files ignored, fingerprint changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.speed import cache as cache_module
from bot.speed import records as records_module
from bot.speed import pool as pool_module
from bot.speed.cache import ParseCache
from bot.speed.packing import pack, unpack
from bot.feed.folder import load_feed, parse_sequential

FEED_YAML = """\
title: Cache test
timezone: Europe/London
accounts:
  paper: {platform: x, persona: paper-p}
personas:
  paper-p: {name: The Paper, bio: Historical reenactment.}
  special: {name: Special Edition, bio: Historical reenactment.}
"""


def day_file(day: int, text: str = "Morning news") -> str:
    return (
        f"date: 1939-09-{day:02d}\nposts:\n"
        f'  - time: "08:00"\n    account: paper\n    text: "{text} of day {day} https://example.org/{day} 東京 🎉"\n'
        f'  - time: "09:30"\n    account: paper\n    id: noon-{day}\n    text: "Second post"\n'
        f'    media:\n      - file: media/missing.png\n        alt: A picture\n'
        f'  - time: "10:00"\n    account: paper\n    reply_to: noon-{day}\n    storm: special\n'
        f'  - time: "25:00"\n    account: paper\n    text: "Broken time"\n'
    )


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    root = tmp_path / "feed"
    root.mkdir()
    (root / "feed.yaml").write_text(FEED_YAML)
    for day in range(1, 6):
        (root / f"1939-09-{day:02d}.yaml").write_text(day_file(day))
    return root


class Counting(ParseCache):
    """A ParseCache that records which files it had to parse."""

    def __init__(self, folder, **kw):
        super().__init__(folder, workers=1, progress=False, **kw)
        self.parsed: list[str] = []

    def parse_files(self, feed, context, paths):
        results = super().parse_files(feed, context, paths)
        self.parsed.extend(self.last_misses)
        return results


def load(root: Path, cache: ParseCache | None, display: str = "feed"):
    return load_feed(root, display, parse_files=cache.parse_files if cache else None)


def same(a, b) -> None:
    assert a.entries == b.entries
    assert a.diagnostics == b.diagnostics
    assert a.broken == b.broken


def test_second_run_parses_nothing_and_matches_uncached(feed_dir, tmp_path):
    plain = load(feed_dir, None)
    first = Counting(tmp_path / "cache")
    same(load(feed_dir, first), plain)
    assert len(first.parsed) == 5
    second = Counting(tmp_path / "cache")
    warm = load(feed_dir, second)
    assert second.parsed == [] and second.hits == 5
    same(warm, plain)
    assert any(d.is_error for d in warm.diagnostics), "the broken entry's error comes from the cache too"


def test_edit_misses_only_that_file(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "cache"))
    (feed_dir / "1939-09-03.yaml").write_text(day_file(3, "Evening news"))
    cache = Counting(tmp_path / "cache")
    feed = load(feed_dir, cache)
    assert cache.parsed == ["1939-09-03.yaml"]
    assert any(e.text and e.text.startswith("Evening news") for e in feed.entries)
    same(feed, load(feed_dir, None))


def test_same_size_edit_with_restored_mtime_still_misses(feed_dir, tmp_path):
    """The content hash is part of the key: size and mtime alone do not decide."""
    load(feed_dir, Counting(tmp_path / "cache"))
    path = feed_dir / "1939-09-02.yaml"
    info = path.stat()
    path.write_text(day_file(2, "Evening news"))  # same length
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert path.stat().st_size == info.st_size
    cache = Counting(tmp_path / "cache")
    feed = load(feed_dir, cache)
    assert cache.parsed == ["1939-09-02.yaml"]
    assert any(e.text and e.text.startswith("Evening") for e in feed.entries)


def test_corrupt_or_truncated_bucket_is_ignored_and_replaced(feed_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(records_module, "BUCKETS", 1)  # every file in one bucket
    folder = tmp_path / "cache"
    load(feed_dir, Counting(folder))
    (bucket,) = ParseCache(folder).folder_for(feed_dir).iterdir()
    blob = bucket.read_bytes()
    for broken in (blob[: len(blob) // 2], blob[:-10] + b"\xff" * 10, b"garbage", b""):
        bucket.write_bytes(broken)
        cache = Counting(folder)
        same(load(feed_dir, cache), load(feed_dir, None))
        assert len(cache.parsed) == 5
        assert bucket.read_bytes() == blob, "rewritten whole"


def test_an_edit_rewrites_one_bucket(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "cache"))
    store = ParseCache(tmp_path / "cache").folder_for(feed_dir)
    before = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    (feed_dir / "1939-09-04.yaml").write_text(day_file(4, "Evening news"))
    load(feed_dir, Counting(tmp_path / "cache"))
    after = {p.name: p.stat().st_mtime_ns for p in store.iterdir()}
    assert before.keys() == after.keys()
    assert sum(before[name] != after[name] for name in before) == 1


def test_fingerprint_change_invalidates(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "cache"))
    (feed_dir / "feed.yaml").write_text(FEED_YAML.replace("platform: x", "platform: console"))
    cache = Counting(tmp_path / "cache")
    feed = load(feed_dir, cache)
    assert len(cache.parsed) == 5
    assert {e.lengths[0][0] for e in feed.entries if e.text} == {"console"}


def test_deleted_file_drops_out_and_its_entry_is_removed(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "cache"))
    (feed_dir / "1939-09-05.yaml").unlink()
    cache = Counting(tmp_path / "cache")
    feed = load(feed_dir, cache)
    assert cache.parsed == []
    assert not any(e.path.endswith("1939-09-05.yaml") for e in feed.entries)
    left = {records_module.bucket_name(f"1939-09-0{day}.yaml") for day in range(1, 5)}
    assert {p.name for p in cache.folder_for(feed_dir).iterdir()} == left


def test_display_path_is_not_baked_in(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "cache"), display="feed")
    cache = Counting(tmp_path / "cache")
    feed = load(feed_dir, cache, display="elsewhere/feed")
    assert cache.parsed == []
    assert {e.path.split("/")[0] for e in feed.entries} == {"elsewhere"}
    same(feed, load(feed_dir, None, display="elsewhere/feed"))


def test_pool_gives_the_same_results(feed_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(pool_module, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(pool_module, "CHUNK_BYTES", 1)  # a task per file: several workers, results in order
    # threads left by earlier tests (fake servers) would make the parser refuse to fork
    monkeypatch.setattr(pool_module.threading, "active_count", lambda: 1)
    pooled = ParseCache(tmp_path / "cache", workers=2, progress=False)
    same(load(feed_dir, pooled), load(feed_dir, None))
    assert pooled.misses == 5
    assert pooled.used_pool, "parsed in the pool"


def test_a_pool_that_fails_falls_back_to_parsing_here(feed_dir, tmp_path, monkeypatch):
    """A worker that dies (as one killed by the OOM killer would) costs time, not results."""
    monkeypatch.setattr(pool_module, "POOL_MIN_FILES", 2)
    monkeypatch.setattr(pool_module.threading, "active_count", lambda: 1)
    monkeypatch.setattr(pool_module, "parse_chunk", _die)
    pooled = ParseCache(tmp_path / "cache", workers=2, progress=False)
    same(load(feed_dir, pooled), load(feed_dir, None))
    assert pooled.used_pool and pooled.misses == 5


def _die(jobs, context):
    os._exit(9)


def test_unreadable_cache_folder_is_not_fatal(feed_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    same(load(feed_dir, ParseCache(blocker / "cache", workers=1)), load(feed_dir, None))


def test_pack_round_trip(feed_dir):
    feed = load_feed(feed_dir, "feed")
    results = parse_sequential(feed, _context(feed), ["1939-09-01.yaml"])
    display = feed.display("1939-09-01.yaml")
    assert unpack(pack(results[0], display), display) == results[0]


def _context(feed):
    from bot.feed.postfile import FileContext

    return FileContext.of(feed.config)


# -- the progress bar the cache shows on a terminal ------------------------------


class FakeTerminal:
    def __init__(self, tty: bool):
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_is_silent_off_a_terminal():
    from bot.speed.progress import Progress

    stream = FakeTerminal(tty=False)
    with Progress("parsing", 10, stream) as bar:
        for _ in range(10):
            bar.advance()
    assert stream.text == ""


def test_progress_draws_on_a_terminal_and_erases_itself():
    from bot.speed.progress import Progress

    stream = FakeTerminal(tty=True)
    bar = Progress("parsing", 4, stream)
    for _ in range(4):
        bar.advance()
    assert "parsing [" in stream.text and "4/4 100%" in stream.text
    bar.close()
    assert stream.text.endswith("\r") and stream.text.rstrip("\r").endswith(" ")


# -- trusting an unchanged stat; the whole-feed timeline record ----------------------


def test_files_older_than_their_bucket_are_not_read_again(feed_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(records_module, "RACY_NS", -10**15)  # as if every file were written long before
    reads = []
    real = cache_module.key_and_bytes
    monkeypatch.setattr(cache_module, "key_and_bytes", lambda path, info: reads.append(os.path.basename(path)) or real(path, info))
    load(feed_dir, Counting(tmp_path / "c"))
    assert len(reads) == 5
    reads.clear()
    again = Counting(tmp_path / "c")
    same(load(feed_dir, again), load(feed_dir, None))
    assert reads == [] and again.parsed == []
    # a same-size edit with the mtime put back: its ctime moved, so it is read and parsed
    victim = feed_dir / "1939-09-03.yaml"
    info = victim.stat()
    victim.write_text(victim.read_text().replace("Morning news", "Evening news"))
    os.utime(victim, ns=(info.st_atime_ns, info.st_mtime_ns))
    edited = Counting(tmp_path / "c")
    same(load(feed_dir, edited), load(feed_dir, None))
    assert reads == ["1939-09-03.yaml"] and edited.parsed == ["1939-09-03.yaml"]


def test_files_written_just_before_their_bucket_are_always_hashed(feed_dir, tmp_path, monkeypatch):
    reads = []
    real = cache_module.key_and_bytes
    monkeypatch.setattr(cache_module, "key_and_bytes", lambda path, info: reads.append(os.path.basename(path)) or real(path, info))
    load(feed_dir, Counting(tmp_path / "c"))
    reads.clear()
    load(feed_dir, Counting(tmp_path / "c"))
    assert len(reads) == 5  # written within RACY_NS of the bucket: an edit in the same tick could hide


def _timeline_facts(timeline):
    return (
        [(e.id, e.instant, e.instant.tzinfo, e.persona, e.previous, e.entry.path, e.entry.line) for e in timeline.events],
        [str(d) for d in timeline.diagnostics],
        timeline.initial,
        timeline.zone.key,
        timeline.years_later,
    )


def test_timeline_record_gives_the_timeline_build_gives(feed_dir, tmp_path):
    from bot.replay.timeline import build

    built = ParseCache(tmp_path / "c", workers=1, progress=False)
    feed = load(feed_dir, built)
    first = built.build_timeline(feed, 100, daily_limit=1)
    assert not built.timeline_hit
    restored = ParseCache(tmp_path / "c", workers=1, progress=False)
    feed = load(feed_dir, restored)
    second = restored.build_timeline(feed, 100, daily_limit=1)
    assert restored.timeline_hit
    assert _timeline_facts(second) == _timeline_facts(first) == _timeline_facts(build(feed, 100, daily_limit=1))
    assert {id(event.entry) for event in second.events} <= {id(entry) for entry in feed.entries}  # the feed's own entries
    # another years_later or daily limit: built again, not restored
    for years, limit in ((101, 1), (100, 2)):
        other = ParseCache(tmp_path / "c", workers=1, progress=False)
        feed = load(feed_dir, other)
        assert _timeline_facts(other.build_timeline(feed, years, daily_limit=limit)) == _timeline_facts(build(feed, years, daily_limit=limit))
        assert not other.timeline_hit


def test_timeline_record_is_not_used_after_a_change(feed_dir, tmp_path):
    from bot.replay.timeline import build

    cache = ParseCache(tmp_path / "c", workers=1, progress=False)
    cache.build_timeline(load(feed_dir, cache), 100, daily_limit=17)
    (feed_dir / "1939-09-02.yaml").write_text(day_file(2).replace('"08:00"', '"23:00"'))  # reorders
    cache = ParseCache(tmp_path / "c", workers=1, progress=False)
    feed = load(feed_dir, cache)
    assert _timeline_facts(cache.build_timeline(feed, 100, daily_limit=17)) == _timeline_facts(build(feed, 100, daily_limit=17))
    assert not cache.timeline_hit
    (feed_dir / "feed.yaml").write_text(FEED_YAML.replace("Europe/London", "America/New_York"))
    cache = ParseCache(tmp_path / "c", workers=1, progress=False)
    feed = load(feed_dir, cache)
    assert _timeline_facts(cache.build_timeline(feed, 100, daily_limit=17)) == _timeline_facts(build(feed, 100, daily_limit=17))
    assert not cache.timeline_hit


def test_an_edit_undone_finds_the_timeline_record_again(feed_dir, tmp_path):
    def timeline_hit() -> bool:
        cache = ParseCache(tmp_path / "c", workers=1, progress=False)
        cache.build_timeline(load(feed_dir, cache), 100, daily_limit=17)
        return cache.timeline_hit

    path = feed_dir / "1939-09-02.yaml"
    original = path.read_bytes()
    assert not timeline_hit() and timeline_hit()
    path.write_bytes(original.replace(b"Morning", b"Evening"))  # seen by a running service's reload only
    os.utime(path, ns=(1, 1))
    path.write_bytes(original)  # undone: back as it was, with a new mtime and ctime
    assert timeline_hit()


def test_same_content_with_a_new_mtime_is_not_parsed_again(feed_dir, tmp_path):
    load(feed_dir, Counting(tmp_path / "c"))
    path = feed_dir / "1939-09-04.yaml"
    path.write_bytes(path.read_bytes())  # rewritten as it was: a new mtime and ctime
    os.utime(path, ns=(10**18, 10**18))
    again = Counting(tmp_path / "c")
    same(load(feed_dir, again), load(feed_dir, None))
    assert again.parsed == [] and again.hits == 5


def test_a_rule_changed_in_the_bot_is_never_answered_from_the_cache(tmp_path):
    """The cache key covers the bot's own code: with X's limit changed in the source, a warm
    `bot check` gives what a cold one gives, not the result stored under the old rule."""
    import shutil
    import subprocess
    import sys

    from tests.support.env import clean_env
    from tests.support.feeds import SAMPLE

    code = tmp_path / "code"
    shutil.copytree(Path(cache_module.__file__).parents[1], code / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    env = clean_env({"PYTHONPATH": str(code), "BOT_CACHE": str(tmp_path / "cache")})

    def check(cache: str = "cache"):
        out = subprocess.run([sys.executable, "-m", "bot", "check", str(SAMPLE)], capture_output=True, text=True,
                             env={**env, "BOT_CACHE": str(tmp_path / cache)}, cwd=tmp_path, timeout=60)
        assert "Traceback" not in out.stderr, out.stderr
        return out.stdout.splitlines()[-1]

    assert check() == "0 errors, 0 warnings in 4 files (47 entries)"
    rules = code / "bot" / "publishers" / "x" / "publisher.py"
    rules.write_text(rules.read_text().replace("    text=280,", "    text=20,"))
    warm, cold = check(), check("fresh-cache")
    assert warm == cold and not warm.startswith("0 errors"), (warm, cold)


def test_the_stamp_follows_the_code_and_the_libraries(monkeypatch):
    from bot.speed import records

    records.stamp.cache_clear()
    first = records.stamp()
    assert records.stamp() == first and len(first) == 64
    import yaml

    monkeypatch.setattr(yaml, "__version__", "0.0-other")
    records.stamp.cache_clear()
    assert records.stamp() != first
    monkeypatch.undo()
    records.stamp.cache_clear()
    assert records.stamp() == first
