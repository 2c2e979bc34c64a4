"""What the reliability engines share beyond tests.support: the fake X server with
hooks that hold a request until a kill lands, and the table of figures.

Importable from the tests and from bench/reliability.py (as `tests.reliability.common`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.fakes.x_server import FakeXServer, _Handler

MB = 1024 * 1024


# ---- the fake X server with hooks ------------------------------------------------

class _HookedHandler(_Handler):
    def _answer(self, status, payload, headers=None):
        try:
            super()._answer(status, payload, headers)
        finally:
            self.server.fake._answered()


class Holding:
    """Delay, hooks and the open-request table shared by the hooked fakes."""

    def _init_holding(self, delay: float) -> None:
        self.delay = delay
        self.on_request = None
        self.on_answer = None
        self._held: dict[int, object] = {}  # handler thread -> request acted on, not answered
        self._held_lock = threading.Lock()

    def _hold(self, rec) -> None:
        with self._held_lock:
            self._held[threading.get_ident()] = rec
        hook = self.on_request
        if hook is not None:
            hook(rec)
        if self.delay:
            time.sleep(self.delay)

    def _answered(self) -> None:
        with self._held_lock:
            rec = self._held.pop(threading.get_ident(), None)
        hook = self.on_answer
        if hook is not None and rec is not None:
            hook(rec)

    def open_requests(self) -> list:
        with self._held_lock:
            return list(self._held.values())


class HookedX(Holding, FakeXServer):
    """FakeXServer that can slow every request down and calls hooks.

    `delay`: seconds each recorded request waits before its answer (so a kill can
    land inside a publish call). `on_request(rec)` runs when a request has been
    read, `on_answer(rec)` once its answer is written. `open_requests()` lists the
    requests read and not yet answered.
    """

    def __init__(self, *args, delay: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._httpd.RequestHandlerClass = _HookedHandler
        self._httpd.handle_error = lambda request, address: None  # a killed client's broken pipe
        self._init_holding(delay)

    def _record(self, rec) -> None:
        super()._record(rec)
        if rec.fault in ("hang", "reset_after_read"):
            return  # never answered: not an open request, no hooks
        self._hold(rec)


@dataclass
class Figures:
    """One row of the bench table."""

    suite: str
    cases: int = 0
    duplicates: int = 0
    silent_losses: int = 0
    uncertain: int = 0
    # deliveries left uncertain after the last restart, by network ({} where no network is involved)
    uncertain_by_network: dict[str, int] = field(default_factory=dict)
    tracebacks: int = 0
    leaked: int = 0
    peak_rss: int = 0  # bytes, the largest of any bot process
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what was tried, for the reader
    problems: list[str] = field(default_factory=list)  # every broken promise, one line each
