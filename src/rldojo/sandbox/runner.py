"""`run_program`: one untrusted Python program on one stdin, inside every limit, nothing left.

Every process of a run is killed when it ends: the process group, plus (as root) everything
owned by the run's own uid, which reaches processes that left the group or the session; under
bubblewrap the PID namespace also dies with its first process.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from rldojo.sandbox.backend import Backend, choose_backend
from rldojo.sandbox.bubblewrap import bubblewrap_argv
from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.fallback import launcher_argv, launcher_spec, make_workdir, remove_leftovers
from rldojo.sandbox.result import Isolation, SandboxResult
from rldojo.sandbox.supervise import Outcome, supervise
from rldojo.sandbox.users import UidLease, kill_all_processes_of, lease_uid, may_have_processes, running_as_root

_MEMORY_ERROR_MARKERS = (b"MemoryError", b"Cannot allocate memory", b"std::bad_alloc", b"out of memory")


@dataclass
class _Started:
    proc: subprocess.Popen
    start: float
    isolation: Isolation
    cleanup: Callable[[], None] = lambda: None


def run_program(program: str, stdin: str | bytes = "", config: SandboxConfig | None = None) -> SandboxResult:
    """Run Python source `program` on `stdin` under `config`'s limits. Never raises for anything
    the program does; raises SandboxUnavailableError if the requested isolation cannot run."""
    config = config or SandboxConfig()
    backend = choose_backend(config)
    # errors="replace": a lone surrogate in model text must not raise here
    data = stdin.encode("utf-8", errors="replace") if isinstance(stdin, str) else stdin
    lease = lease_uid() if running_as_root() else None
    try:
        if backend.method == "bubblewrap":
            started = _start_bubblewrap(program, config, backend, lease)
        else:
            started = _start_fallback(program, config, backend, lease)

        def kill(after_exit: bool) -> None:
            # The main process is unreaped here, so its pid (= its group id) is not reused yet.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(started.proc.pid, signal.SIGKILL)
            # After a normal exit a PID namespace has already taken its processes with it.
            if lease is not None and not (after_exit and started.isolation.pid_namespace):
                if may_have_processes(lease.uid):
                    kill_all_processes_of(lease.uid, backend.interpreter.path)

        try:
            outcome = supervise(started.proc, data, config.wall_time_s, config.max_output_bytes, kill)
        finally:
            started.cleanup()
        return _result(outcome, config, started)
    finally:
        if lease is not None:
            lease.release()


def _popen(argv: list[str], pass_fd: int, lease: UidLease | None) -> subprocess.Popen:
    user = {} if lease is None else {"user": lease.uid, "group": lease.uid, "extra_groups": []}
    return subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(pass_fd,),
        env={},
        start_new_session=True,
        **user,
    )


def _start_bubblewrap(program: str, config: SandboxConfig, backend: Backend, lease: UidLease | None) -> _Started:
    assert backend.tools is not None
    isolation = Isolation(
        method="bubblewrap",
        user_namespace=True,
        pid_namespace=True,
        network_namespace=True,
        seccomp_socket_filter=False,
        read_only_root=True,
        host_uid=lease.uid if lease else os.getuid(),
    )
    program_fd = os.memfd_create("program")  # bwrap copies it into the sandbox's tmpfs
    try:
        os.write(program_fd, program.encode("utf-8", errors="replace"))
        os.lseek(program_fd, 0, os.SEEK_SET)
        argv = bubblewrap_argv(backend.tools, backend.interpreter, config, program_fd)
        start = time.monotonic()
        return _Started(_popen(argv, program_fd, lease), start, isolation)
    finally:
        os.close(program_fd)


def _start_fallback(program: str, config: SandboxConfig, backend: Backend, lease: UidLease | None) -> _Started:
    uid = lease.uid if lease else None
    workdir = make_workdir(program, uid)

    def cleanup() -> None:
        if uid is not None:
            remove_leftovers(uid)
        shutil.rmtree(workdir, ignore_errors=True)  # fd-based: safe against planted symlinks

    try:
        spec = json.dumps(launcher_spec(config, backend.interpreter, workdir, uid))
        info_read, info_write = os.pipe()
        start = time.monotonic()
        try:
            # The launcher starts with our privileges and drops them itself (see _launcher.py).
            proc = _popen(launcher_argv(backend.interpreter.path, spec, info_write), info_write, None)
        finally:
            os.close(info_write)
        with os.fdopen(info_read, "rb") as info_file:
            raw = info_file.read()  # EOF comes at the exec (or when the launcher fails)
    except BaseException:
        cleanup()
        raise
    info = json.loads(raw) if raw else {}
    isolation = Isolation(
        method="rlimits",
        user_namespace=bool(info.get("user_namespace")),
        pid_namespace=False,
        network_namespace=bool(info.get("network_namespace")),
        seccomp_socket_filter=bool(info.get("seccomp_socket_filter")),
        read_only_root=False,
        host_uid=uid if uid is not None else os.getuid(),
    )
    return _Started(proc, start, isolation, cleanup)


def _result(outcome: Outcome, config: SandboxConfig, started: _Started) -> SandboxResult:
    duration = time.monotonic() - started.start
    exit_code = outcome.exit_code
    bubblewrap = started.isolation.method == "bubblewrap"
    if bubblewrap and 128 < exit_code < 128 + signal.NSIG:
        exit_code = 128 - exit_code  # bwrap reports death by signal N as status 128 + N
    # RLIMIT_CPU sends SIGXCPU at the soft limit and SIGKILL a second later (if it was ignored).
    cpu_limit_hit = exit_code == -signal.SIGXCPU or (
        exit_code == -signal.SIGKILL and not outcome.killed_by_us and duration >= max(1, math.ceil(config.cpu_time_s))
    )
    timed_out = outcome.timed_out or cpu_limit_hit
    memory_exceeded = (
        not timed_out and exit_code != 0 and any(marker in outcome.stderr[-4096:] for marker in _MEMORY_ERROR_MARKERS)
    )
    return SandboxResult(
        stdout=outcome.stdout.decode("utf-8", errors="replace"),
        stderr=outcome.stderr.decode("utf-8", errors="replace"),
        exit_code=exit_code,
        timed_out=timed_out,
        memory_exceeded=memory_exceeded,
        output_truncated=outcome.truncated,
        duration_s=duration,
        # The outer bwrap does not wait for the sandboxed processes: its rusage is not theirs.
        cpu_time_s=None if bubblewrap else outcome.cpu_time_s,
        isolation=started.isolation,
    )
