"""The `bot run` process around the service: what runs beside it (`Around`: the
operations hooks), its signals and its exit code.

`run(service, ops)` starts the service, waits for SIGTERM or SIGINT (or, for a
rehearsal, for its end), stops it and tells `ops` each step. Exit codes: 0 after a
stop, 1 when the service could not start (one log line per problem).
"""

from __future__ import annotations

import logging
import signal
import threading

from bot.errors import BotError
from bot.run.logs import event
from bot.run.service import Service

__all__ = ["Around", "run"]


class Around:
    """What runs around the service's life (`bot.ops.Ops` is the one the CLI gives:
    notifications, /healthz and /metrics, systemd's READY, WATCHDOG and STOPPING). This
    one does nothing."""

    def starting(self) -> None: ...
    def ready(self) -> None: ...
    def stopping(self) -> None: ...
    def close(self) -> None: ...


def run(service: Service, ops: Around | None = None, *, program: bool = False) -> int:
    """Start, wait for SIGTERM or SIGINT, stop. Returns the exit code. `ops` is told when
    the service is starting, ready and stopping, and closed at the end.

    `program`: the process ends with this run. Then a SIGTERM or SIGINT after the stop
    began (a supervisor stopping a rehearsal that just ended by itself) is ignored until
    exit, rather than met by the default action (exit -15) while the interpreter winds
    down. Otherwise (in process, under test) the previous handlers come back."""
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    ops = ops or Around()
    try:
        try:
            ops.starting()
            service.start()
        except BotError as exc:
            for line in str(exc).splitlines():  # one line per problem (e.g. each account lacking credentials)
                event(logging.ERROR, "not-started", reason=line)
            return 1
        ops.ready()
        while not stop.wait(0.5 if service.ends else 3600):
            if service.ends and service.finished():
                break
        finished = service.ends and service.finished()
        ops.stopping()
        service.stop()
        if finished:
            service.report_end()
        return 0
    finally:
        ops.close()
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_IGN if program else handler)
