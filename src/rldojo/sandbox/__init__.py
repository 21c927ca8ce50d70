"""Run untrusted programs (what models write) with limits, no network and nothing left behind.

    from rldojo.sandbox import run_program, SandboxConfig, SandboxPool
    result = run_program("print(input()[::-1])", stdin="abc\n", config=SandboxConfig(wall_time_s=2))
    result.stdout, result.ok, result.isolation

Bubblewrap namespaces when the machine has them (`apt-get install bubblewrap`), else rlimits, a
dropped uid and a network namespace or seccomp filter; `result.isolation` says which held. This
package imports nothing else of rldojo.
"""

from rldojo.sandbox.backend import SandboxUnavailableError, choose_backend
from rldojo.sandbox.config import SandboxConfig
from rldojo.sandbox.pool import SandboxPool
from rldojo.sandbox.result import Isolation, SandboxResult
from rldojo.sandbox.runner import run_program

__all__ = [
    "Isolation",
    "SandboxConfig",
    "SandboxPool",
    "SandboxResult",
    "SandboxUnavailableError",
    "choose_backend",
    "run_program",
]
