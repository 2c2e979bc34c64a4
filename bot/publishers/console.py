"""The `console` publisher: shows what would be posted; nothing leaves the machine.

Each post is one readable block on stdout: when it replays (the anniversary, in the
replay zone), who speaks and as whom, to which networks, the text, its images with
their alt text, and what it replies to. A `Ticker` may keep one line below the last
block, updated in place, saying what comes next (only on a terminal).
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from bot.publishers.base import Limits, OutgoingPost, Persona, Profile, Publisher
from bot.units import duration

_lock = threading.Lock()
_ticker_line = [""]  # the ticker's text now on screen (cleared before a block is written)
REMOTE_PREFIX = "console:"


def _clear(stream) -> None:
    if _ticker_line[0]:
        stream.write("\r\033[K")
        _ticker_line[0] = ""


class ConsolePublisher(Publisher):
    name = "console"
    display_name = "Console"
    limits = Limits(text=None)

    def __init__(self, *args, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        with _lock:
            _clear(stream)
            stream.write(text + "\n")
            stream.flush()

    def publish(self, post: OutgoingPost) -> str:
        when = f"{post.replay_at:%Y-%m-%d %H:%M:%S %Z}" if post.replay_at else ""
        networks = ", ".join(self.account.platforms) or self.name
        lines = [f"{when}  {post.account} as {post.persona.name}  [{post.entry_id}]  -> {networks}".strip()]
        if post.reply_to_remote:
            lines.append(f"    reply to {post.reply_to_remote.removeprefix(REMOTE_PREFIX)}")
        lines += [f"    {line}" for line in post.text.splitlines() or [""]]
        lines += [f"    [image {m.path.name}: {m.alt or 'no alt text'}]" for m in post.media]
        self._write("\n".join(lines))
        return f"{REMOTE_PREFIX}{post.entry_id}"

    def switch_persona(self, persona: Persona) -> Profile | None:
        self._write(f"*** {self.account.key} is now {persona.name} ({persona.key}) ***")
        return None


class Ticker:
    """One line under the last block, "next: ID in 3 min 20 s", updated every second."""

    def __init__(self, upcoming, stop: threading.Event, stream: TextIO | None = None) -> None:
        self.upcoming = upcoming  # () -> (entry id, seconds) or None
        self.stop = stop
        self.stream = stream or sys.stdout
        self.thread = threading.Thread(target=self._run, name="ticker", daemon=True)

    def start(self) -> Ticker:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            nxt = self.upcoming()
            text = f"next: {nxt[0]} in {duration(nxt[1])}" if nxt else ""
            with _lock:
                if text != _ticker_line[0]:
                    self.stream.write("\r\033[K" + text)
                    self.stream.flush()
                    _ticker_line[0] = text
        with _lock:
            _clear(self.stream)
            self.stream.flush()
