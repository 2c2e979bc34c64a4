"""What a reload does to the schedule (the file events themselves: tests/service)."""

from __future__ import annotations

from tests.core.conftest import at
from tests.support.engine import ActionLog, drive, make_engine
from tests.support.feeds import story


def day(*posts):
    lines = "".join(f'  - {{time: "{t}", account: a, id: {i}, text: "{text}"}}\n' for t, i, text in posts)
    return "date: '1927-01-01'\nposts:\n" + lines


def test_added_edited_deleted_and_broken_files(tmp_path, clock, x):
    feed = story(tmp_path / "feed", {"a": "x"}, [])
    (feed / "a.yaml").write_text(day(("10:00", "first", "first"), ("10:40", "edited", "before the edit")))
    (feed / "b.yaml").write_text(day(("10:20", "deleted", "never posted")))
    (feed / "c.yaml").write_text(day(("10:30", "kept", "kept from the last valid version")))
    engine = make_engine(feed, tmp_path / "ledger.sqlite3", clock, {"x": x})
    engine.start()
    drive(engine, clock, at("10:05"))
    (feed / "d.yaml").write_text(day(("10:10", "added", "added while running")))
    (feed / "a.yaml").write_text(day(("10:00", "first", "first"), ("10:40", "edited", "after the edit")))
    (feed / "b.yaml").unlink()
    (feed / "c.yaml").write_text("date: '1927-01-01'\nposts:\n  - {time: [broken\n")
    with ActionLog() as log:
        engine.reload([feed / name for name in ("a.yaml", "b.yaml", "c.yaml", "d.yaml")])
        engine.reload([feed / "c.yaml"])  # saved again, unchanged: not reported again
        drive(engine, clock, at("11:00"))
    posted = [(c.post.entry_id, c.post.text) for c in x.calls if c.kind == "post"]
    assert posted == [("first", "first"), ("added", "added while running"),
                      ("kept", "kept from the last valid version"), ("edited", "after the edit")]
    assert [c.at for c in x.calls if c.kind == "post"] == [at("10:00"), at("10:10"), at("10:30"), at("10:40")]
    broken = [line for line in log.lines if "c.yaml:" in line and ": error: " in line]
    assert len(broken) == 1, "an invalid file is reported once"
