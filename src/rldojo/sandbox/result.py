"""What a sandboxed run produced, and which isolation was in force while it ran."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Isolation:
    """The containment actually applied to a run (not merely requested)."""

    method: Literal["bubblewrap", "rlimits"]
    """`bubblewrap`: namespaces via bwrap; `rlimits`: the fallback without namespaces for files."""
    user_namespace: bool
    """The program ran in its own user namespace (as uid 65534 inside it)."""
    pid_namespace: bool
    """The program saw only its own processes; they all die with the sandbox."""
    network_namespace: bool
    """The program had a private network stack with nothing listening (no route out)."""
    seccomp_socket_filter: bool
    """socket() for anything but AF_UNIX failed with EACCES (a seccomp filter)."""
    read_only_root: bool
    """The filesystem was a read-only minimal root with only a tmpfs workdir and /tmp writable."""
    host_uid: int
    """The uid the program's processes had on the host (never 0 when rldojo runs as root)."""

    @property
    def network_blocked(self) -> bool:
        return self.network_namespace or self.seccomp_socket_filter

    def __str__(self) -> str:
        parts = [self.method, f"host uid {self.host_uid}"]
        for flag, name in (
            (self.user_namespace, "user ns"),
            (self.pid_namespace, "pid ns"),
            (self.network_namespace, "net ns"),
            (self.seccomp_socket_filter, "seccomp sockets"),
            (self.read_only_root, "read-only root"),
        ):
            if flag:
                parts.append(name)
        return ", ".join(parts)


@dataclass(frozen=True)
class SandboxResult:
    """Outcome of one program run; `ok` is the usual test of success."""

    stdout: str
    """Standard output, at most `max_output_bytes` (decoded as UTF-8, bad bytes replaced)."""
    stderr: str
    """Standard error, capped the same way."""
    exit_code: int | None
    """Exit status; negative -N when a signal N ended it; None when it never started."""
    timed_out: bool
    """The wall-clock or CPU-time limit ended the run."""
    memory_exceeded: bool
    """The program hit the address-space limit (MemoryError or a failed allocation)."""
    output_truncated: bool
    """stdout or stderr went past the cap; the program was stopped there."""
    duration_s: float
    """Wall-clock seconds from start to the last process gone."""
    cpu_time_s: float | None
    """User + system CPU seconds of the program and the children it waited for; None under
    bubblewrap, whose outer process does not wait for the sandboxed ones."""
    isolation: Isolation
    """Which containment was in force."""

    @property
    def ok(self) -> bool:
        """Exited with status 0 within every limit."""
        return self.exit_code == 0 and not self.timed_out and not self.memory_exceeded and not self.output_truncated
