"""Limits for one sandboxed run; the defaults suit short competitive-programming style programs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IsolationChoice = Literal["auto", "bubblewrap", "rlimits"]


class SandboxConfig(BaseModel):
    """How much one untrusted program may use, and which isolation to insist on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_time_s: float = Field(10.0, gt=0, le=3600)
    """Wall-clock limit; at this point every process of the run is killed (SIGKILL)."""

    cpu_time_s: float = Field(5.0, gt=0, le=3600)
    """CPU-time limit per process (RLIMIT_CPU, rounded up to whole seconds; SIGXCPU, then SIGKILL)."""

    memory_mb: int = Field(512, ge=32, le=1 << 20)
    """Address-space limit per process in MiB (RLIMIT_AS); Python raises MemoryError beyond it."""

    file_size_mb: int = Field(16, ge=1, le=1 << 20)
    """Largest file the program may write, in MiB (RLIMIT_FSIZE)."""

    disk_mb: int = Field(32, ge=1, le=1 << 20)
    """Size of the working directory and of /tmp inside bubblewrap (each a tmpfs), in MiB."""

    max_processes: int = Field(32, ge=4, le=4096)
    """Processes and threads the program may have at once (RLIMIT_NPROC); stops fork bombs."""

    max_open_files: int = Field(256, ge=16, le=65536)
    """Open file descriptors per process (RLIMIT_NOFILE)."""

    max_output_bytes: int = Field(1 << 20, ge=1024, le=1 << 30)
    """Cap on stdout and on stderr each (1 MiB); a program that writes more is stopped and its
    result is flagged `output_truncated`."""

    isolation: IsolationChoice = "auto"
    """`auto`: bubblewrap when it works on this machine, else the rlimits fallback; `bubblewrap`:
    fail rather than fall back; `rlimits`: the fallback even where bubblewrap works."""

    python: str | None = None
    """Interpreter that runs the program; by default this Python if the sandbox user may execute
    it, else the system's python3."""
