"""The strong path: bubblewrap (bwrap) namespaces around the program.

Inside: a minimal read-only root (the host's /usr and its /bin, /lib... links, the interpreter's
own prefix when it lives elsewhere), size-capped tmpfs for the workdir, /tmp and /dev/shm, a
private /proc, new user/PID/network/IPC/UTS/cgroup namespaces, uid 65534, no capabilities, no
further user namespaces, an empty environment. Limits are set by util-linux `prlimit` *inside* the
user namespace, so the process count is this sandbox's own (the kernel counts per namespace).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.interpreter import Interpreter

SANDBOX_UID = 65534
WORKDIR = "/sandbox"
PROGRAM_NAME = "main.py"
_ROOT_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_MIB = 1 << 20


@dataclass(frozen=True)
class BubblewrapTools:
    bwrap: str
    prlimit: str


@cache
def find_tools() -> BubblewrapTools | None:
    """bwrap and prlimit when both are installed (prlimit: util-linux, present on every Debian)."""
    bwrap = shutil.which("bwrap")
    prlimit = shutil.which("prlimit")
    if bwrap is None or prlimit is None:
        return None
    return BubblewrapTools(bwrap=os.path.realpath(bwrap), prlimit=os.path.realpath(prlimit))


def rlimit_args(prlimit: str, config: SandboxConfig) -> list[str]:
    """`prlimit ... --`: soft = hard everywhere (nothing to raise), except CPU: SIGXCPU first."""
    cpu = max(1, math.ceil(config.cpu_time_s))
    memory = config.memory_mb * _MIB
    file_size = config.file_size_mb * _MIB
    return [
        prlimit,
        f"--as={memory}:{memory}",
        f"--cpu={cpu}:{cpu + 1}",
        f"--fsize={file_size}:{file_size}",
        f"--nproc={config.max_processes}:{config.max_processes}",
        f"--nofile={config.max_open_files}:{config.max_open_files}",
        "--core=0:0",
        "--",
    ]


def _root_layout(interpreter: Interpreter, tools: BubblewrapTools) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _ROOT_LINKS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC_FILES:
        args += ["--ro-bind-try", path, path]
    if not interpreter.path.startswith("/usr/"):
        args += ["--ro-bind", interpreter.prefix, interpreter.prefix]
    if not tools.prlimit.startswith("/usr/"):
        args += ["--ro-bind", tools.prlimit, tools.prlimit]
    return args


def bubblewrap_argv(
    tools: BubblewrapTools,
    interpreter: Interpreter,
    config: SandboxConfig,
    program_fd: int,
) -> list[str]:
    """Full command line; `program_fd` is an open fd whose content bwrap copies to main.py."""
    size = str(config.disk_mb * _MIB)
    return [
        tools.bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--cap-drop",
        "ALL",
        *_root_layout(interpreter, tools),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        size,
        "--tmpfs",
        "/dev/shm",
        "--remount-ro",
        "/dev",
        "--size",
        size,
        "--tmpfs",
        "/tmp",
        "--size",
        size,
        "--tmpfs",
        WORKDIR,
        "--perms",
        "0644",
        "--file",
        str(program_fd),
        f"{WORKDIR}/{PROGRAM_NAME}",
        "--chdir",
        WORKDIR,
        "--remount-ro",
        "/",
        "--",
        *rlimit_args(tools.prlimit, config),
        interpreter.path,
        "-I",
        PROGRAM_NAME,
    ]


def bubblewrap_works(tools: BubblewrapTools, interpreter: Interpreter, run_as: int | None) -> tuple[bool, str]:
    """Run a trivial program through the full command line once; (works, why not)."""
    fd = os.memfd_create("probe")
    try:
        os.write(fd, b"pass\n")
        os.lseek(fd, 0, os.SEEK_SET)
        argv = bubblewrap_argv(tools, interpreter, SandboxConfig(), fd)
        user = {} if run_as is None else {"user": run_as, "group": run_as, "extra_groups": []}
        try:
            done = subprocess.run(argv, pass_fds=(fd,), env={}, capture_output=True, timeout=30, check=False, **user)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, str(exc)
        if done.returncode != 0:
            return False, done.stderr.decode(errors="replace").strip()[-500:]
        return True, ""
    finally:
        os.close(fd)
