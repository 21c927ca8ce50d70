"""Hostile programs: each test asserts the specific containment, then that the pool still works.

Every test runs under bubblewrap and under the rlimits fallback (see conftest). Network tests only
ever aim at a server this test starts on 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from rldojo.sandbox import run_program
from rldojo.sandbox.users import UID_BASE, processes_of

from .conftest import assert_pool_still_works

PROJECT = Path(__file__).resolve().parents[2]
ROOT = os.geteuid() == 0


def code(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


def processes_with_arg(marker: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read().split(b"\0"):
                        found.append(int(name))
            except OSError:
                pass
    return found


def assert_nothing_left(result) -> None:
    if ROOT:  # the run had its own uid: not one process of it may remain
        assert result.isolation.host_uid >= UID_BASE
        deadline = time.monotonic() + 2
        while processes_of(result.isolation.host_uid) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL is delivered asynchronously
        assert processes_of(result.isolation.host_uid) == []


def test_infinite_loop_hits_the_cpu_limit(tight, pool):
    result = run_program("while True:\n    pass\n", config=tight)
    assert result.timed_out and not result.ok
    assert result.exit_code == -signal.SIGXCPU  # RLIMIT_CPU, well before the wall clock
    assert result.duration_s < tight.wall_time_s / 2
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_sleeping_forever_hits_the_wall_limit(tight, pool):
    result = run_program("import time\ntime.sleep(1000)\n", config=tight.model_copy(update={"wall_time_s": 0.5}))
    assert result.timed_out and result.exit_code == -signal.SIGKILL
    assert 0.5 <= result.duration_s < 1.5
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_ignoring_sigterm_does_not_survive_the_timeout(tight, pool):
    program = code(
        """
        import signal, time
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
            signal.signal(sig, signal.SIG_IGN)
        print("ignoring", flush=True)
        while True:
            time.sleep(0.01)
        """
    )
    result = run_program(program, config=tight.model_copy(update={"wall_time_s": 0.5}))
    assert result.stdout == "ignoring\n"
    assert result.timed_out and result.exit_code == -signal.SIGKILL
    assert result.duration_s < 1.5
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_process_count_is_limited(tight, pool):
    marker = f"{random.randint(10**6, 10**7)}.5"
    program = code(
        f"""
        import os
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "{marker}"])
                children += 1
        except OSError as exc:
            print(children, exc.errno)
        """
    )
    result = run_program(program, config=tight)
    children, errno_value = map(int, result.stdout.split())
    assert errno_value == 11  # EAGAIN: RLIMIT_NPROC
    assert 0 < children < tight.max_processes
    assert processes_with_arg(marker) == []  # the sleeping children died with the run
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_fork_bomb_is_contained(tight, pool):
    program = code(
        """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """
    )
    result = run_program(program, config=tight.model_copy(update={"wall_time_s": 0.75}))
    assert result.timed_out
    assert result.duration_s < 2.0
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_memory_bomb_hits_the_address_space_limit(tight, pool):
    program = code(
        """
        blocks = []
        while True:
            blocks.append(bytearray(16 << 20))
        """
    )
    result = run_program(program, config=tight)
    assert result.memory_exceeded and not result.timed_out
    assert result.exit_code == 1 and result.stderr.rstrip().endswith("MemoryError")
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_gigabyte_of_output_is_cut_at_the_cap(tight, pool):
    program = code(
        """
        import sys
        block = "x" * (1 << 20)
        for _ in range(1024):
            sys.stdout.write(block)
        sys.stderr.write("wrote it all")
        """
    )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run_program(program, config=tight)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.output_truncated and not result.ok
    assert len(result.stdout) == tight.max_output_bytes == 1 << 20
    assert set(result.stdout) == {"x"}
    assert result.exit_code == -signal.SIGKILL and result.stderr == ""  # stopped at the cap
    assert grown_mb < 64
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_writing_outside_the_workdir_changes_nothing(tight, pool, tmp_path):
    name = f"rldojo-sandbox-escape-{random.randint(0, 10**9)}"
    targets = [Path.home() / name, PROJECT / name, PROJECT / "src" / name, Path("/tmp") / name]
    program = code(
        f"""
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, "w") as handle:
                    handle.write("escaped")
                print("wrote", path)
            except OSError as exc:
                print("refused", exc.errno)
        open("inside.txt", "w").write("fine")
        print("inside ok")
        """
    )
    result = run_program(program, config=tight)
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "inside ok"
    for target in targets:
        assert not target.exists(), f"the sandbox left {target} on the host"
    wrote = [line for line in lines if line.startswith("wrote")]
    if tight.isolation == "bubblewrap" or ROOT:
        # bubblewrap: /tmp is the sandbox's own tmpfs; fallback: only world-writable /tmp is open
        # to the dropped uid, and it is swept afterwards. Home and project are refused in both.
        assert wrote == [f"wrote /tmp/{name}"]
    assert_pool_still_works(pool)


def test_environment_secrets_do_not_reach_the_program(tight, pool, monkeypatch):
    secret = f"hf_secret_{random.randint(10**8, 10**9)}"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    program = code(
        f"""
        import os
        print(sorted(os.environ))
        for pid in ("1", "{os.getpid()}", str(os.getppid())):
            try:
                print(open(f"/proc/{{pid}}/environ", "rb").read())
            except OSError as exc:
                print("refused", exc.errno)
        """
    )
    result = run_program(program, config=tight)
    assert result.ok, result.stderr
    assert secret not in result.stdout + result.stderr
    keys = eval(result.stdout.splitlines()[0])  # a list literal printed by the program
    assert set(keys) <= {"LC_CTYPE", "PWD"}  # Python's locale coercion; bwrap's --chdir


def test_no_connection_reaches_a_local_server(tight, pool):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    program = code(
        f"""
        import socket
        try:
            with socket.create_connection(("127.0.0.1", {port}), timeout=1) as conn:
                conn.sendall(b"leak")
            print("connected")
        except OSError as exc:
            print("blocked", exc.errno)
        try:
            left, right = socket.socketpair()  # local pipes between own threads stay allowed
            left.sendall(b"x"); print("socketpair", right.recv(1))
        except OSError as exc:
            print("socketpair refused", exc.errno)
        """
    )
    try:
        result = run_program(program, config=tight)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.ok, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith("blocked")
    assert second == "socketpair b'x'"
    assert accepted == []
    assert result.isolation.network_blocked
    if result.isolation.seccomp_socket_filter:
        assert first == "blocked 13"  # EACCES from the filter, before any packet
    assert_pool_still_works(pool)


@pytest.mark.parametrize("parent", ["exits", "hangs"])
def test_orphaned_children_do_not_outlive_the_run(tight, pool, parent):
    marker = f"{random.randint(10**6, 10**7)}.25"
    program = code(
        f"""
        import os, time
        if os.fork() == 0:
            os.setsid()  # leave the process group and the session
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "{marker}"])
            os._exit(0)
        time.sleep(0.3)
        print("parent", flush=True)
        if "{parent}" == "hangs":
            time.sleep(1000)
        """
    )
    result = run_program(program, config=tight.model_copy(update={"wall_time_s": 1.0}))
    assert result.stdout == "parent\n"
    assert result.timed_out == (parent == "hangs")
    deadline = time.monotonic() + 2
    while processes_with_arg(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with_arg(marker) == []
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_deleting_files_in_cwd_touches_only_the_sandbox(tight, pool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    canaries = [tmp_path / "keep.txt", tmp_path / "sub" / "keep2.txt"]
    for canary in canaries:
        canary.parent.mkdir(exist_ok=True)
        canary.write_text("precious")
    program = code(
        f"""
        import os, shutil
        print(sorted(os.listdir(".")))
        for entry in os.listdir("."):
            shutil.rmtree(entry) if os.path.isdir(entry) else os.remove(entry)
        for path in {[str(c) for c in canaries]!r} + ["../keep.txt"]:
            try:
                os.remove(path); print("removed", path)
            except OSError as exc:
                print("refused", exc.errno)
        print(sorted(os.listdir(".")))
        """
    )
    result = run_program(program, config=tight)
    assert result.ok, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "['main.py']"  # its own fresh folder, not the caller's
    assert lines[-1] == "[]"
    assert not any(line.startswith("removed") for line in lines)
    assert all(canary.read_text() == "precious" for canary in canaries)
    assert_pool_still_works(pool)


def test_interpreter_crash_through_ctypes(tight, pool):
    result = run_program("import ctypes\nctypes.string_at(0)\n", config=tight)
    assert result.exit_code == -signal.SIGSEGV
    assert not result.timed_out and not result.memory_exceeded
    assert_nothing_left(result)
    assert_pool_still_works(pool)


def test_raising_own_rlimits_is_refused(tight, pool):
    program = code(
        """
        import resource
        for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE"):
            limit = getattr(resource, name)
            try:
                resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                print(name, "raised")
            except (ValueError, OSError):
                print(name, "refused")
        print(resource.getrlimit(resource.RLIMIT_AS)[1] >> 20, flush=True)
        data = bytearray(1 << 30)
        """
    )
    result = run_program(program, config=tight)
    lines = result.stdout.splitlines()
    assert lines[:4] == [f"{n} refused" for n in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_FSIZE")]
    assert lines[4] == str(tight.memory_mb)
    assert result.memory_exceeded
    assert_pool_still_works(pool)


def test_program_is_never_root(tight):
    program = "import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
    result = run_program(program, config=tight)
    uid, euid, gid, *_ = result.stdout.split()
    assert uid != "0" and euid != "0" and gid != "0"
    assert result.isolation.host_uid != 0
    if tight.isolation == "bubblewrap":
        assert (uid, euid) == ("65534", "65534")


def test_hostile_programs_in_parallel_do_not_disturb_good_ones(pool):
    hostile = [
        "while True:\n    pass\n",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "x = bytearray(1 << 34)\n",
    ]
    jobs = [(h, "") for h in hostile] + [("print(sum(range(int(input()))))", "101\n")] * 3
    results = pool.map(jobs, config=pool.config.model_copy(update={"wall_time_s": 1.5}))
    assert [r.stdout for r in results[3:]] == ["5050\n"] * 3
    assert all(r.ok for r in results[3:])
    assert results[0].timed_out and results[1].timed_out and results[2].memory_exceeded
