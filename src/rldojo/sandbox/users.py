"""Unprivileged host uids for sandboxed runs when rldojo itself runs as root.

Each concurrent run gets its own uid (leased through an flock'd file, so two rldojo processes never
share one). A dedicated uid gives three things: the program is never root on the host, the
process-count limit counts only this run's processes, and `kill(-1)` sent *as that uid* reaches
every process the run started, including ones that left the process group or the session.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import cache

# Above sssd's default id range (to 2_000_200_000), below 2**31 (signed-int tools) and below
# systemd's foreign-uid range (0x7FFE0000); uids with a passwd entry are skipped anyway.
UID_BASE = 2_050_000_000
UID_SLOTS = 65536

_KILL_ALL = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n    pass\n"
_next_slot = 0
_next_lock = threading.Lock()


def running_as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class UidLease:
    """One uid reserved for one run; `release()` (or leaving the `with`) frees it."""

    uid: int
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = -1

    def __enter__(self) -> UidLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@cache
def _lock_dir() -> str:
    # Root-owned and private, so no other user can pre-create or hold our lock files.
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    path = os.path.join(base, "rldojo-sandbox-uids")
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        raise RuntimeError(f"{path} must be a directory owned by root with mode 0700")
    return path


@cache
def _uid_is_free(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return True
    return False


def lease_uid() -> UidLease:
    """Reserve a uid no other live run (in any process) holds; raises if all are taken."""
    global _next_slot
    directory = _lock_dir()
    with _next_lock:
        start = _next_slot
        _next_slot = (_next_slot + 1) % UID_SLOTS
    for i in range(UID_SLOTS):
        slot = (start + i) % UID_SLOTS
        uid = UID_BASE + slot
        if not _uid_is_free(uid):
            continue
        fd = os.open(os.path.join(directory, f"{slot}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid=uid, _fd=fd)
    raise RuntimeError("no free sandbox uid: every slot is held by a running sandbox")


def kill_all_processes_of(uid: int, python: str) -> None:
    """SIGKILL every process owned by `uid`, from a helper (`python`, which the uid may execute)
    that runs as that uid.

    kill(-1) signals every process of the uid in one walk under the task-list lock, and a fork
    that races with it fails on the pending SIGKILL, so one call suffices even for a fork bomb.
    The helper does not inherit the program's rlimits, so a full process table does not stop it.
    """
    if uid == 0 or uid < UID_BASE:
        raise ValueError(f"refusing to kill every process of uid {uid}: not a sandbox uid")
    subprocess.run(
        [python, "-I", "-S", "-c", _KILL_ALL],
        user=uid,
        group=uid,
        extra_groups=[],
        env={},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


def _status_uid(pid: str) -> tuple[int, str] | None:
    """(real uid, state letter) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            status = handle.read()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields.get("Uid", "-1").split()[0]), fields.get("State", "?").strip()[:1]


def processes_of(uid: int) -> list[int]:
    """Pids of live (non-zombie) processes whose real uid is `uid`."""
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _status_uid(name)
            if found is not None and found[0] == uid and found[1] not in ("Z", "X"):
                pids.append(int(name))
    return pids


def may_have_processes(uid: int) -> bool:
    """False only when no live process of `uid` exists: the /proc listing held none, and no
    listed process vanished before its uid was read (it could have forked one of `uid`'s).

    A process of `uid` born after the listing needs a live parent of `uid` that was listed, so
    a clean scan is proof; it lets the common case skip spawning the kill(-1) helper.
    """
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _status_uid(name)
            if found is None or (found[0] == uid and found[1] not in ("Z", "X")):
                return True
    return False
