"""Sandbox fixtures: tight limits, and every test run under each isolation this machine has.

Bubblewrap is the path CI must exercise (.ci/run installs it): there a missing bwrap fails the
suite instead of skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

from rldojo.sandbox import SandboxConfig, SandboxPool

# Programs that end by themselves get a roomy wall clock (a loaded 2-core machine must not flake
# them); the tests about timeouts set their own short one.
TIGHT = dict(wall_time_s=10.0, cpu_time_s=1.0, memory_mb=192, max_processes=16, disk_mb=8)


def bubblewrap_installed() -> bool:
    return shutil.which("bwrap") is not None and shutil.which("prlimit") is not None


@pytest.fixture(params=["bubblewrap", "rlimits"])
def isolation(request) -> str:
    if request.param == "bubblewrap" and not bubblewrap_installed():
        if os.environ.get("CI"):
            pytest.fail("CI must test the bubblewrap path: install bubblewrap (.ci/run does)")
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    return request.param


@pytest.fixture
def tight(isolation) -> SandboxConfig:
    return SandboxConfig(isolation=isolation, **TIGHT)


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2, config=SandboxConfig(**TIGHT)) as shared:
        yield shared


def assert_pool_still_works(pool: SandboxPool) -> None:
    """After a hostile program: ordinary programs still run, in parallel, with correct answers."""
    results = pool.map([(f"print({i} * {i})", "") for i in range(4)])
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(4)]
    assert all(r.ok for r in results)
