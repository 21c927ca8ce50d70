"""Ordinary behaviour of the sandbox: I/O, exit codes, limits that programs meet by accident,
the isolation record, config errors, the pool, uid leases."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import threading
import time

import pytest
from pydantic import ValidationError

import rldojo.sandbox.backend as backend_module
import rldojo.sandbox.users as users_module
from rldojo.sandbox import SandboxConfig, SandboxPool, SandboxUnavailableError, run_program
from rldojo.sandbox.interpreter import resolve_interpreter
from rldojo.sandbox.users import UID_BASE, kill_all_processes_of, lease_uid

ROOT = os.geteuid() == 0


def test_stdin_stdout_stderr_and_exit_code(tight):
    program = "import sys\nline = input()\nprint(line[::-1])\nprint('ünï', file=sys.stderr)\nsys.exit(3)\n"
    result = run_program(program, "hello\n", tight)
    assert result.stdout == "olleh\n"
    assert result.stderr == "ünï\n"
    assert result.exit_code == 3
    assert not result.ok and not result.timed_out and not result.memory_exceeded
    assert 0 < result.duration_s < tight.wall_time_s


def test_large_stdin_round_trip_and_unread_stdin(tight):
    data = "".join(f"{i}\n" for i in range(400_000))  # ~2.6 MB, far more than a pipe holds
    echo = run_program("import sys\ndata = sys.stdin.read()\nprint(len(data), data.count(chr(10)))\n", data, tight)
    assert echo.ok and echo.stdout == f"{len(data)} 400000\n"
    ignored = run_program("print('not reading')\n", data, tight)  # must not deadlock on stdin
    assert ignored.ok and ignored.stdout == "not reading\n"


def test_lone_surrogates_in_model_text_do_not_raise(tight):
    result = run_program("print(input())\n# \ud800\n", "a\ud800b\n", tight)
    assert result.ok and result.stdout == "a?b\n"


def test_syntax_error_is_an_ordinary_failure(tight):
    result = run_program("def broken(:\n", "", tight)
    assert result.exit_code == 1 and "SyntaxError" in result.stderr
    assert not result.memory_exceeded and not result.timed_out


def test_small_output_cap_applies_to_stderr_too(tight):
    config = tight.model_copy(update={"max_output_bytes": 4096})
    result = run_program("import sys\nprint('ok', flush=True)\nsys.stderr.write('e' * 100000)\n", "", config)
    assert result.output_truncated
    assert len(result.stderr) == 4096
    assert result.stdout == "ok\n"


def test_file_size_limit(tight):
    program = (
        "try:\n    open('big', 'wb').write(b'x' * (3 << 20))\n    print('wrote')\n"
        "except OSError as exc:\n    print('refused', exc.errno)\n"
    )
    result = run_program(program, "", tight.model_copy(update={"file_size_mb": 1}))
    assert result.stdout == "refused 27\n"  # EFBIG (Python ignores SIGXFSZ)


def test_workdir_size_is_capped_under_bubblewrap(tight):
    if tight.isolation != "bubblewrap":
        pytest.skip("the fallback workdir is a host folder; its cap is the file-size limit only")
    program = (
        "n = 0\ntry:\n    while True:\n        open(f'f{n}', 'wb').write(b'x' * (1 << 20))\n        n += 1\n"
        "except OSError as exc:\n    print(n, exc.errno)\n"
    )
    result = run_program(program, "", tight)
    files, errno_value = map(int, result.stdout.split())
    assert errno_value == 28 and files <= tight.disk_mb  # ENOSPC on the 8 MiB tmpfs


def test_isolation_is_recorded(tight):
    result = run_program("print(1)\n", "", tight)
    isolation = result.isolation
    assert isolation.method == tight.isolation
    if tight.isolation == "bubblewrap":
        assert isolation.user_namespace and isolation.pid_namespace and isolation.network_namespace
        assert isolation.read_only_root and result.cpu_time_s is None
    else:
        assert not isolation.pid_namespace and not isolation.read_only_root
        assert isolation.seccomp_socket_filter  # x86_64 and aarch64
        assert result.cpu_time_s is not None and result.cpu_time_s >= 0
    if ROOT:
        assert isolation.host_uid >= UID_BASE and isolation.network_namespace
    assert "uid" in str(isolation)


def test_cpu_time_is_measured_by_the_fallback():
    config = SandboxConfig(isolation="rlimits", cpu_time_s=3)
    result = run_program("x = 0\nfor i in range(3_000_000):\n    x += i\nprint(x)\n", "", config)
    assert result.stdout == f"{sum(range(3_000_000))}\n"
    assert 0.05 < result.cpu_time_s < 3


def test_config_rejects_bad_values():
    with pytest.raises(ValidationError):
        SandboxConfig(wall_time_s=0)
    with pytest.raises(ValidationError):
        SandboxConfig(memory_mb=1)
    with pytest.raises(ValidationError):
        SandboxConfig(wall_time=3)  # a misspelt field is an error, not ignored
    with pytest.raises(ValidationError):
        SandboxConfig(isolation="docker")


def test_insisting_on_bubblewrap_without_it_raises(monkeypatch):
    monkeypatch.setattr(backend_module, "find_tools", lambda: None)
    with pytest.raises(SandboxUnavailableError, match="bubblewrap"):
        run_program("print(1)\n", "", SandboxConfig(isolation="bubblewrap"))
    # 'auto' falls back instead, and says so in the result
    result = run_program("print(1)\n", "", SandboxConfig(isolation="auto"))
    assert result.ok and result.isolation.method == "rlimits"


def test_interpreter_behind_a_closed_folder_is_refused_for_another_uid(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir()
    python = closed / "python3"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    closed.chmod(0o700)
    assert resolve_interpreter(str(python), False).path == str(python)
    with pytest.raises(ValueError, match="not executable by other users"):
        resolve_interpreter(str(python), True)
    with pytest.raises(ValueError, match="not an executable file"):
        resolve_interpreter(str(tmp_path / "missing"), False)


def test_pool_keeps_order_and_bounds_concurrency():
    config = SandboxConfig(wall_time_s=10)
    program = "import time\ntime.sleep(0.3)\nprint(input())\n"
    with SandboxPool(workers=2, config=config) as pool:
        start = time.monotonic()
        results = pool.map([(program, f"{i}\n") for i in range(4)])
        elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(4)]
    assert elapsed >= 0.6  # four 0.3 s programs on two workers: at least two rounds
    with pytest.raises(ValueError):
        SandboxPool(workers=0)


def test_pool_submit_blocks_when_the_queue_is_full():
    with SandboxPool(workers=1, max_pending=1) as pool:
        first = pool.submit("import time\ntime.sleep(0.5)\n")
        submitted = threading.Event()

        def second():
            pool.submit("print(2)\n").result()
            submitted.set()

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        assert not first.done() and not submitted.is_set()  # waiting for a slot
        thread.join(timeout=10)
        assert first.result().ok and submitted.is_set()


@pytest.mark.skipif(not ROOT, reason="uid leases exist only when rldojo runs as root")
def test_uid_leases_are_distinct_and_held_until_released():
    lock_dir = users_module._lock_dir()
    assert os.stat(lock_dir).st_uid == 0 and stat.S_IMODE(os.stat(lock_dir).st_mode) == 0o700
    with lease_uid() as first, lease_uid() as second:
        assert first.uid != second.uid and min(first.uid, second.uid) >= UID_BASE
        path = os.path.join(lock_dir, f"{first.uid - UID_BASE}.lock")
        other = os.open(path, os.O_RDWR)  # as another process would: its own open file
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    other = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again after release
    finally:
        os.close(other)
    with pytest.raises(ValueError):
        kill_all_processes_of(0, "/usr/bin/python3")


@pytest.mark.skipif(not ROOT, reason="uid sweeps exist only when rldojo runs as root")
def test_uid_sweep_finds_and_kills_a_detached_process():
    def proven_empty(uid: int) -> bool:
        # A scan is conservative: any process of the machine vanishing mid-scan answers True.
        return any(not users_module.may_have_processes(uid) for _ in range(50))

    with lease_uid() as lease:
        assert proven_empty(lease.uid)
        sleeper = subprocess.Popen(
            ["/bin/sleep", "30"], user=lease.uid, group=lease.uid, extra_groups=[], start_new_session=True
        )
        try:
            assert users_module.processes_of(lease.uid) == [sleeper.pid]
            assert users_module.may_have_processes(lease.uid)
            kill_all_processes_of(lease.uid, resolve_interpreter(None, True).path)
            assert sleeper.wait(timeout=5) == -9
            assert proven_empty(lease.uid)
        finally:
            sleeper.kill()
