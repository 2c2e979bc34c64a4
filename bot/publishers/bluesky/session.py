"""The saved Bluesky session of one account: `state_dir/bluesky/<account>.session`.

The service allows few logins a day, so a session is kept and reused; atproto
refreshes it and every change is written back (atomically, mode 0600, readable by
the owner only). A file for another service or handle is ignored, as is an
unreadable one (with a warning).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("bot.publishers.bluesky.api")


class SessionFile:
    def __init__(self, path: Path, service: str, handle: str) -> None:
        self.path = path
        self.service = service
        self.handle = handle

    def load(self) -> str | None:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            log.warning("bluesky: ignoring unreadable session file %s", self.path)
            return None
        if not isinstance(saved, dict) or saved.get("service") != self.service:
            return None
        if str(saved.get("handle", "")).lower() != self.handle.lower():
            return None
        session = saved.get("session")
        return session if isinstance(session, str) and session else None

    def forget(self) -> None:
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("bluesky: cannot remove %s: %s", self.path, exc.strerror)

    def save(self, session_string: str) -> None:
        """Write the session atomically, readable by the owner only."""
        data = json.dumps({"service": self.service, "handle": self.handle, "session": session_string})
        tmp = self.path.with_suffix(".tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("bluesky: cannot save the session to %s: %s", self.path, exc.strerror)
