"""`bot.run.process.run`: what it leaves as SIGTERM and SIGINT handlers when it returns.

As the program (`bot run`), a signal that arrives after the stop began finds the stop
under way: ignored until exit, never the default action (exit -15) while the interpreter
winds down. In process (a library caller, click's CliRunner), the caller's handlers come
back. The real-process side is `tests/service/test_run_e2e.py`'s SIGTERM after the summary;
this is the same rule without racing a clock.
"""

from __future__ import annotations

import signal

import pytest

from bot.run.process import Around, run


class _Finished:
    """A service that ends by itself at once (a rehearsal whose last entry is out)."""

    ends = True

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def finished(self) -> bool:
        return True

    def stop(self) -> None:
        self.calls.append("stop")

    def report_end(self) -> None:
        self.calls.append("report_end")


class _Told(Around):
    def __init__(self, seen: list) -> None:
        self.seen = seen

    def stopping(self) -> None:  # the stop is under way: our own handler is still in place
        self.seen.append(signal.getsignal(signal.SIGTERM))


@pytest.fixture
def own_handlers():
    mine = {sig: (lambda signum, frame: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    before = {sig: signal.signal(sig, handler) for sig, handler in mine.items()}
    yield mine
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("program", [True, False])
def test_after_the_run_signals_are_ignored_as_a_program_and_given_back_in_process(own_handlers, program):
    service, seen = _Finished(), []
    assert run(service, _Told(seen), program=program) == 0
    assert service.calls == ["start", "stop", "report_end"]
    assert seen and seen[0] not in (own_handlers[signal.SIGTERM], signal.SIG_IGN, signal.SIG_DFL)
    for sig in (signal.SIGTERM, signal.SIGINT):
        assert signal.getsignal(sig) == (signal.SIG_IGN if program else own_handlers[sig])
