"""A bounded pool: at most `workers` programs run at once, at most `max_pending` wait.

Threads are enough: each run spends its time waiting on pipes and a pidfd, and the programs are
separate processes. `submit` blocks when the queue is full, so a producer cannot pile up
unbounded work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.result import SandboxResult
from rldojo.sandbox.runner import run_program


class SandboxPool:
    """`with SandboxPool(workers=4) as pool: results = pool.map([(code, stdin), ...])`."""

    def __init__(self, workers: int = 2, config: SandboxConfig | None = None, max_pending: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"SandboxPool needs at least one worker, got {workers}")
        self.workers = workers
        self.config = config or SandboxConfig()
        self._slots = threading.BoundedSemaphore(max_pending or 4 * workers)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox")

    def submit(self, program: str, stdin: str | bytes = "", config: SandboxConfig | None = None) -> Future:
        """Queue one run (blocks while the queue is full); the future holds a SandboxResult."""
        self._slots.acquire()
        try:
            future = self._executor.submit(run_program, program, stdin, config or self.config)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def map(self, jobs: Iterable[tuple[str, str | bytes]], config: SandboxConfig | None = None) -> list[SandboxResult]:
        """Run (program, stdin) pairs, results in the same order."""
        futures = [self.submit(program, stdin, config) for program, stdin in jobs]
        return [future.result() for future in futures]

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
