"""Durations in the units people read: `3 min 20 s`, `2 h 5 min`, `1 d 19 h`."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """Two units at most, rounded down; under a second is `0 s`."""
    seconds = max(0, int(seconds))
    units = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
    parts = []
    for name, size in units:
        if seconds >= size or (name == "s" and not parts):
            parts.append(f"{seconds // size} {name}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)
