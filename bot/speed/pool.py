"""Parse post files in worker processes while the caller is still reading them.

    parser = MissParser(context, workers=2)
    for data, display in files_to_parse:
        parser.add(data, display)      # may already be parsing in a worker
    results = parser.results()        # [(FileResult, packed)], in the order added

Files are parsed in this process until POOL_MIN_FILES have been added; from
then on, if `workers` > 1 and this process has no other thread (forking beside
running threads is not safe), a pool of forked workers (they start with the
modules and the paused garbage collector of this process) takes them in chunks
of about CHUNK_BYTES, so parsing overlaps the caller's reading and hashing.
Workers send each chunk back as one marshal blob of packed results. If no pool
can run (no fork, no /dev/shm, a worker killed), the files are parsed here.
"""

from __future__ import annotations

import marshal
import sys
import threading
from concurrent.futures import Future, as_completed

from bot.speed.packing import pack, unpack
from bot.feed.postfile import FileContext, FileResult, parse_post_file
from bot.speed.progress import Progress

POOL_MIN_FILES = 200  # fewer files to parse than this: no process pool
CHUNK_BYTES = 256 * 1024  # of YAML per task: small enough to balance the workers
PROGRESS_MIN_FILES = 200


def parse_chunk(jobs: list[tuple[bytes, str]], context: FileContext) -> bytes:
    """In a worker: marshal of [packed result] for each (bytes, display)."""
    return marshal.dumps([pack(parse_post_file(data, display, context), display) for data, display in jobs])


class MissParser:
    """Parses the files handed to `add`, in a pool once there are enough (see above)."""

    def __init__(self, context: FileContext, *, workers: int, progress: bool = True) -> None:
        self.context = context
        self.workers = workers
        self.progress = progress
        self.jobs: list[tuple[bytes, str]] = []
        self.used_pool = False
        self._pool = None  # a ProcessPoolExecutor once started
        self._futures: dict[Future, tuple[int, int]] = {}  # -> (first, end) job index
        self._sent = 0  # jobs handed to the pool so far
        self._pending_bytes = 0
        self._broken = False

    def add(self, data: bytes, display: str) -> None:
        self.jobs.append((data, display))
        self._pending_bytes += len(data)
        if self._pool is None:
            if len(self.jobs) >= POOL_MIN_FILES and not self._broken and self._can_fork():
                self._start()
        elif self._pending_bytes >= CHUNK_BYTES:
            self._send()

    def results(self) -> list[tuple[FileResult, tuple]]:
        """(result, packed) of every file added, in order; shuts the pool down."""
        out: list = [None] * len(self.jobs)
        enabled = None if self.progress and len(self.jobs) >= PROGRESS_MIN_FILES else False
        with Progress("parsing", len(self.jobs), enabled=enabled) as bar:
            if self._pool is not None:
                if self._collect(out, bar):
                    return out
                bar.done = 0
            for i, (data, display) in enumerate(self.jobs):
                result = parse_post_file(data, display, self.context)
                out[i] = (result, pack(result, display))
                bar.advance()
        return out

    # -- the pool ------------------------------------------------------------------

    def _can_fork(self) -> bool:
        return self.workers > 1 and sys.platform == "linux" and threading.active_count() == 1

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor  # with multiprocessing: only when needed

        try:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        except (OSError, RuntimeError, ImportError):
            self._broken = True
            return
        self.used_pool = True
        self._send()

    def _send(self, *, rest: bool = False) -> None:
        """Hand the jobs not yet sent to the pool in chunks of CHUNK_BYTES (`rest`: the last one smaller)."""
        start = chunk = self._sent
        size = 0
        for end in range(start, len(self.jobs)):
            size += len(self.jobs[end][0])
            if size >= CHUNK_BYTES:
                self._submit(chunk, end + 1)
                chunk, size = end + 1, 0
        if rest and chunk < len(self.jobs):
            self._submit(chunk, len(self.jobs))
        self._pending_bytes = size

    def _submit(self, start: int, end: int) -> None:
        if self._pool is None:
            return
        try:
            future = self._pool.submit(parse_chunk, self.jobs[start:end], self.context)
        except (OSError, RuntimeError):  # BrokenProcessPool is a RuntimeError
            self._stop()
            return
        self._futures[future] = (start, end)
        self._sent = end

    def _collect(self, out: list, bar: Progress) -> bool:
        """Fill `out` from the pool; False (nothing kept) if the pool failed."""
        self._send(rest=True)
        try:
            for future in as_completed(self._futures):
                start, end = self._futures[future]
                displays = [display for _, display in self.jobs[start:end]]
                out[start:end] = [(unpack(packed, display), packed)
                                  for packed, display in zip(marshal.loads(future.result()), displays)]
                bar.advance(end - start)
            ok = self._sent == len(self.jobs)
        except (OSError, RuntimeError, ImportError, EOFError, ValueError):
            ok = False
        self._stop()
        return ok

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        self._broken = True
