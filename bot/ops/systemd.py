"""systemd's notify protocol (sd_notify(3)), in a few lines and without a dependency.

With `Type=notify` systemd passes `NOTIFY_SOCKET` (a Unix datagram socket; a
leading '@' means the abstract namespace) and, with `WatchdogSec=`,
`WATCHDOG_USEC` (and `WATCHDOG_PID`). The bot sends `READY=1` once its timer is
armed, `WATCHDOG=1` from the timer's own loop every half watchdog period while
the service is healthy (`bot.ops.health`: a hung timer stops the pings and
systemd restarts the unit), and `STOPPING=1` on SIGTERM. Without
`NOTIFY_SOCKET` nothing is sent.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notify:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or ""
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog = watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> bool:
        """Send `KEY=VALUE` lines as one datagram; False when there is nobody to tell or it failed."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self.address)
                sock.sendall("\n".join(lines).encode("utf-8"))
            return True
        except OSError:  # systemd went away (or a test's socket): nothing to do about it
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def ping(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of WATCHDOG_USEC (None: no watchdog, or
    it is meant for another process by WATCHDOG_PID)."""
    try:
        usec = int(env.get("WATCHDOG_USEC") or 0)
    except ValueError:
        return None
    pid = (env.get("WATCHDOG_PID") or "").strip()
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 2 / 1_000_000
