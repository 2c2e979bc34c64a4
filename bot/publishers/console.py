"""The `console` publisher: prints what would be posted; nothing leaves the machine."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from bot.publishers.base import Limits, OutgoingPost, Persona, Publisher

_lock = threading.Lock()


class ConsolePublisher(Publisher):
    name = "console"
    display_name = "Console"
    limits = Limits(text=None)

    def __init__(self, *args, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stream = stream
        self._count = 0

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stdout
        with _lock:
            stream.write(line + "\n")
            stream.flush()

    def publish(self, post: OutgoingPost) -> str:
        self._count += 1
        reply = f" (reply to {post.reply_to_remote})" if post.reply_to_remote else ""
        media = "".join(
            f"\n    [image {m.path.name}: {m.alt or 'no alt text'}]" for m in post.media
        )
        self._write(
            f"[{post.account} as {post.persona.name}] {post.entry_id}{reply}\n"
            f"    {post.text}{media}"
        )
        return f"console:{post.entry_id}"

    def switch_persona(self, persona: Persona) -> None:
        self._write(f"[{self.account.key}] is now {persona.name} ({persona.key})")
