"""Watch one started sandbox process: feed stdin, collect capped output, enforce the wall clock.

stdout/stderr are read as they come and never past the cap; stdin is written without blocking
(a program that never reads it cannot stall us); the process is watched through a pidfd. The run
ends when the main process has exited and the pipes are drained, when the wall clock runs out,
or when an output stream passes the cap; then `kill(after_exit)` removes every process of the
run, and the main process is reaped for its status and resource usage.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_CHUNK = 1 << 16
_DRAIN_AFTER_EXIT_S = 1.0  # pipes still open after the exit belong to leftovers, killed by then


@dataclass
class Outcome:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    timed_out: bool = False
    """The wall clock ran out while the main process was alive."""
    truncated: bool = False
    killed_by_us: bool = False
    """The main process was still alive when we killed the run."""
    exit_code: int = 0
    """As subprocess reports it: negative -N for signal N."""
    cpu_time_s: float = 0.0
    """CPU time of the main process and the children it waited for."""


def supervise(
    proc: subprocess.Popen,
    stdin: bytes,
    wall_time_s: float,
    max_output_bytes: int,
    kill: Callable[[bool], None],
) -> Outcome:
    """Run `proc` to its end; `kill(after_exit)` must leave no process of the run alive."""
    outcome = Outcome()
    exited = False
    try:
        exited = _pump(proc, stdin, wall_time_s, max_output_bytes, outcome, kill)
    finally:
        outcome.killed_by_us = not exited
        kill(exited)
        for handle in (proc.stdin, proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                handle.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = outcome.exit_code = os.waitstatus_to_exitcode(status)
    outcome.cpu_time_s = usage.ru_utime + usage.ru_stime
    return outcome


def _pump(
    proc: subprocess.Popen,
    stdin: bytes,
    wall_time_s: float,
    cap: int,
    outcome: Outcome,
    kill: Callable[[bool], None],
) -> bool:
    """Move bytes until the run is over; returns whether the main process exited by itself."""
    selector = selectors.DefaultSelector()
    buffers = {proc.stdout.fileno(): outcome.stdout, proc.stderr.fileno(): outcome.stderr}
    for fd in buffers:
        selector.register(fd, selectors.EVENT_READ, "out")
    stdin_fd = proc.stdin.fileno()
    if stdin:
        os.set_blocking(stdin_fd, False)
        selector.register(stdin_fd, selectors.EVENT_WRITE, "in")
    else:
        proc.stdin.close()
    view, offset = memoryview(stdin), 0
    try:
        pidfd = os.pidfd_open(proc.pid)
        selector.register(pidfd, selectors.EVENT_READ, "exit")
    except OSError:  # kernels before 5.3: poll instead
        pidfd = None
    deadline = time.monotonic() + wall_time_s
    exited = swept = False
    try:
        while buffers or not exited:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.timed_out = not exited
                return exited
            wait = remaining if pidfd is not None or exited else min(remaining, 0.01)
            for key, _ in selector.select(wait):
                if key.data == "exit":
                    selector.unregister(key.fd)
                    exited = True
                elif key.data == "in":
                    try:
                        offset += os.write(stdin_fd, view[offset : offset + _CHUNK])
                    except BlockingIOError:
                        pass
                    except BrokenPipeError:  # the program stopped reading: its business
                        offset = len(stdin)
                    if offset >= len(stdin):
                        selector.unregister(stdin_fd)
                        proc.stdin.close()
                else:
                    chunk = os.read(key.fd, _CHUNK)
                    buffer = buffers[key.fd]
                    if not chunk:
                        selector.unregister(key.fd)
                        del buffers[key.fd]
                    elif len(buffer) + len(chunk) > cap:
                        buffer += chunk[: cap - len(buffer)]
                        outcome.truncated = True
                        return exited
                    else:
                        buffer += chunk
            if not exited and pidfd is None:
                exited = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            if exited and buffers and not swept:
                # Leftover processes may hold the pipes open: kill them, then drain briefly.
                swept = True
                kill(True)
                deadline = min(deadline, time.monotonic() + _DRAIN_AFTER_EXIT_S)
        return exited
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)
