"""An exclusive per-file process lock that the kernel frees when its holder dies.

`ProcessLock.take(path, description)` opens (creating) `path`, takes a
non-blocking exclusive `fcntl.flock` on it and writes `description` into the
file, so that a process refused the lock can say who holds it. The lock
belongs to the open file description: it is released by `release()`, by
closing, or by the kernel when the process ends in any way (kill -9 included).
The file itself is never deleted (deleting it would let two processes lock two
different inodes under the same name); a stale description in a free lock file
is harmless.
"""

from __future__ import annotations

import fcntl
import os
import time

from bot.errors import LockHeld


class ProcessLock:
    def __init__(self, fd: int, path: str):
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def take(cls, path: str | os.PathLike, description: str) -> ProcessLock:
        """Lock `path` or raise `LockHeld` at once (never waits). OSError if it cannot be created."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (description + "\n").encode(), 0)
        except BaseException:
            os.close(fd)  # also drops the lock
            raise
        return cls(fd, os.fspath(path))

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Blank the description and drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass  # a read-only or full disk must not keep the lock
        finally:
            os.close(fd)


def _read_holder(fd: int) -> str:
    # The holder writes its description right after locking; a reader can
    # land in between, so look again briefly before giving up.
    for _ in range(10):
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        if text:
            return text.splitlines()[0]
        time.sleep(0.01)
    return "another process (no holder recorded)"
