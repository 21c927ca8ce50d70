"""Choose the isolation for a config once per process: bubblewrap when it works, else rlimits."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from loguru import logger

from rldojo.sandbox.bubblewrap import BubblewrapTools, bubblewrap_works, find_tools
from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.interpreter import Interpreter, resolve_interpreter
from rldojo.sandbox.users import lease_uid, running_as_root


class SandboxUnavailableError(RuntimeError):
    """The isolation the config insists on cannot run on this machine."""


@dataclass(frozen=True)
class Backend:
    method: str
    """`bubblewrap` or `rlimits`."""
    interpreter: Interpreter
    tools: BubblewrapTools | None
    """bwrap and prlimit, for the bubblewrap method."""


_lock = threading.Lock()
_probe_cache: dict[str, tuple[bool, str]] = {}
_warned = False


def _probe_bubblewrap(tools: BubblewrapTools, interpreter: Interpreter) -> tuple[bool, str]:
    with _lock:
        if interpreter.path not in _probe_cache:
            if running_as_root():
                with lease_uid() as lease:
                    _probe_cache[interpreter.path] = bubblewrap_works(tools, interpreter, lease.uid)
            else:
                _probe_cache[interpreter.path] = bubblewrap_works(tools, interpreter, None)
        return _probe_cache[interpreter.path]


def choose_backend(config: SandboxConfig) -> Backend:
    """The backend for `config.isolation` ('auto' prefers bubblewrap and warns once if it can't)."""
    global _warned
    try:
        interpreter = resolve_interpreter(config.python, running_as_root())
    except ValueError as exc:
        raise SandboxUnavailableError(str(exc)) from None
    if config.isolation == "rlimits":
        return Backend("rlimits", interpreter, None)
    tools = find_tools()
    reason = "bwrap or prlimit is not installed (Debian: apt-get install bubblewrap)"
    if tools is not None:
        works, why = _probe_bubblewrap(tools, interpreter)
        if works:
            return Backend("bubblewrap", interpreter, tools)
        reason = f"bwrap is installed but cannot create its namespaces here: {why}"
    if config.isolation == "bubblewrap":
        raise SandboxUnavailableError(
            f"the sandbox config asks for bubblewrap isolation, but {reason}. Install bubblewrap "
            "and allow unprivileged user namespaces, or set isolation to 'auto' or 'rlimits'."
        )
    if not _warned:
        _warned = True
        logger.warning(
            "sandbox: falling back to rlimits isolation ({}); programs can see the host "
            "filesystem (read-only to them unless world-writable)",
            reason,
        )
    return Backend("rlimits", interpreter, None)
