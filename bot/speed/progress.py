"""A one-line progress bar on stderr, drawn only when stderr is a terminal.

    with Progress("parsing", total=len(paths)) as bar:
        for path in paths:
            ...
            bar.advance()

Off the terminal (a pipe, a file, CI) it prints nothing, so logs and captured
output never contain it. Redraws at most ten times a second and erases itself
when done.
"""

from __future__ import annotations

import sys
import time

WIDTH = 30
INTERVAL = 0.1  # seconds between redraws


class Progress:
    def __init__(self, label: str, total: int, stream=None, *, enabled: bool | None = None) -> None:
        self.label = label
        self.total = max(0, total)
        self.done = 0
        self.stream = stream or sys.stderr
        if enabled is None:
            enabled = _is_terminal(self.stream)
        self.enabled = enabled and self.total > 0
        self._drawn = 0.0
        self._shown = False

    def advance(self, n: int = 1) -> None:
        self.done = min(self.total, self.done + n)
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._drawn >= INTERVAL or self.done == self.total:
            self._drawn = now
            self._draw()

    def line(self) -> str:
        filled = WIDTH * self.done // self.total if self.total else WIDTH
        percent = 100 * self.done // self.total if self.total else 100
        return f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total} {percent}%"

    def _draw(self) -> None:
        self.stream.write("\r" + self.line())
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r" + " " * len(self.line()) + "\r")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False
