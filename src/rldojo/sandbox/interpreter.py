"""Which Python runs the untrusted program, and which host folders it needs to start."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from functools import cache

_SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3", "/bin/python3")


@dataclass(frozen=True)
class Interpreter:
    path: str
    """Real path of the executable (symlinks resolved)."""
    prefix: str
    """Installation folder (holds lib/pythonX.Y and, for shared builds, libpython)."""


def _world_executable(path: str) -> bool:
    """True if a user with no relation to the owner can reach and execute `path`."""
    current = os.path.dirname(path)
    while True:
        mode = os.stat(current).st_mode
        if not mode & stat.S_IXOTH:
            return False
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    mode = os.stat(path).st_mode
    return bool(mode & stat.S_IXOTH and mode & stat.S_IROTH)


def _describe(path: str) -> Interpreter:
    real = os.path.realpath(path)
    return Interpreter(path=real, prefix=os.path.dirname(os.path.dirname(real)))


@cache
def resolve_interpreter(requested: str | None, other_user: bool) -> Interpreter:
    """The interpreter to use; `other_user` means the program runs under a uid that is not ours,
    so the file and every folder above it must be open to everyone."""
    if requested is not None:
        if not os.path.isfile(requested) or not os.access(requested, os.X_OK):
            raise ValueError(f"sandbox python '{requested}' is not an executable file")
        if other_user and not _world_executable(os.path.realpath(requested)):
            raise ValueError(
                f"sandbox python '{requested}' is not executable by other users (a folder above "
                "it is closed), but the sandbox runs programs as an unprivileged uid; choose an "
                "interpreter such as /usr/bin/python3"
            )
        return _describe(requested)
    candidates = [getattr(sys, "_base_executable", sys.executable), sys.executable, *_SYSTEM_PYTHONS]
    for candidate in candidates:
        if not candidate or not os.path.isfile(candidate):
            continue
        if other_user and not _world_executable(os.path.realpath(candidate)):
            continue
        return _describe(candidate)
    raise ValueError(
        "no Python interpreter the sandbox user may execute: this Python lives in a folder closed "
        f"to other users and none of {', '.join(_SYSTEM_PYTHONS)} exists; install python3 or set "
        "SandboxConfig.python"
    )
