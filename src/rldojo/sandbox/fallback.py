"""The fallback path for machines without a working bubblewrap: rlimits, a dropped uid, a network
namespace or a seccomp socket filter, a private temporary workdir (see `_launcher.py`).

Weaker than bubblewrap: the program sees the host's filesystem (as an unprivileged uid it can write
only where everyone may, and those places are swept afterwards) and its processes are found by uid
rather than by a PID namespace. When rldojo is not root there is no uid to drop to and no uid to
sweep by; the result's `Isolation` says exactly what held.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.interpreter import Interpreter

LAUNCHER = str(Path(__file__).with_name("_launcher.py"))
PROGRAM_NAME = "main.py"
_MIB = 1 << 20
_SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm")


def rlimits(config: SandboxConfig) -> dict[str, int]:
    return {
        "AS": config.memory_mb * _MIB,
        "CPU": max(1, math.ceil(config.cpu_time_s)),
        "FSIZE": config.file_size_mb * _MIB,
        "NPROC": config.max_processes,
        "NOFILE": config.max_open_files,
        "CORE": 0,
    }


def make_workdir(program: str, uid: int | None) -> str:
    """A fresh private folder holding main.py, owned by the sandbox uid (when there is one)."""
    workdir = tempfile.mkdtemp(prefix="rldojo-sandbox-")
    path = os.path.join(workdir, PROGRAM_NAME)
    with open(path, "w", encoding="utf-8", errors="replace") as handle:
        handle.write(program)
    if uid is not None:
        os.chown(workdir, uid, uid)
        os.chown(path, uid, uid)
    return workdir


def launcher_argv(launcher_python: str, spec_json: str, info_fd: int) -> list[str]:
    return [launcher_python, "-I", "-S", LAUNCHER, spec_json, str(info_fd)]


def launcher_spec(config: SandboxConfig, interpreter: Interpreter, workdir: str, uid: int | None) -> dict:
    return {
        "uid": uid,
        "rlimits": rlimits(config),
        "workdir": workdir,
        "python": interpreter.path,
        "program": PROGRAM_NAME,
    }


def remove_leftovers(uid: int) -> None:
    """Delete what the sandbox uid left at the top of the shared world-writable folders (its own
    folders there go whole; a world-writable folder of another user's is not searched)."""
    for folder in _SHARED_WRITABLE:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue
