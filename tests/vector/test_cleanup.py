"""Nothing is left behind — no worker process, no /dev/shm segment — after close, after an
exception, when the env is dropped without close, and after Ctrl-C (SIGINT to the process group)."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rldojo.envs import make_vec


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def shm_exists(name: str) -> bool:
    return Path("/dev/shm", name.lstrip("/")).exists()


def assert_nothing_left(pids: list[int], shm: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (any(alive(p) for p in pids) or shm_exists(shm)):
        time.sleep(0.05)
    assert not [p for p in pids if alive(p)], "worker processes left behind"
    assert not shm_exists(shm), "shared-memory segment left behind"


@pytest.mark.parametrize("mode", ["workers", "pool"])
def test_close_removes_workers_and_segment(mode):
    venv = make_vec("CartPole-v1", 4, vectorize=mode, workers=2)
    pids, shm = venv.worker_pids, venv.shm_name
    assert len(pids) == 2 and all(alive(p) for p in pids) and shm_exists(shm)
    venv.reset(seed=0)
    venv.step(np.zeros(venv.action_space.shape, dtype=np.int64))
    venv.close()
    assert_nothing_left(pids, shm, timeout=0.1)
    assert shm.lstrip("/") not in Path("/proc/self/maps").read_text(), "segment still mapped here"
    venv.close()  # twice is fine


def test_arrays_held_past_close_stay_readable():
    venv = make_vec("CartPole-v1", 4, vectorize="workers", workers=2)
    obs, _ = venv.reset(seed=0)
    expected, shm = obs.copy(), venv.shm_name
    venv.close()
    assert not shm_exists(shm)  # the name is gone at once; the memory when the last view goes
    assert np.array_equal(obs, expected)


def test_exception_in_the_loop_and_a_dropped_env_leave_nothing():
    venv = make_vec("CartPole-v1", 4, vectorize="workers", workers=2)
    pids, shm = venv.worker_pids, venv.shm_name
    with pytest.raises(ValueError, match="user code"):
        with venv:
            venv.reset(seed=0)
            raise ValueError("user code failed")
    assert_nothing_left(pids, shm)

    venv = make_vec("CartPole-v1", 4, vectorize="workers", workers=2)
    pids, shm = venv.worker_pids, venv.shm_name
    venv.reset(seed=0)
    obs, *_ = venv.step(np.zeros(4, dtype=np.int64))
    del venv, obs  # never closed: the finalizer cleans up
    gc.collect()
    assert_nothing_left(pids, shm)


def test_bad_actions_raise_a_clear_error_and_the_engine_goes_on():
    from rldojo.envs import EnvInputError

    venv = make_vec("CartPole-v1", 4, vectorize="workers", workers=2)
    try:
        venv.reset(seed=0)
        with pytest.raises(EnvInputError, match=r"shape \(3,\).*needs shape \(4,\)"):
            venv.step(np.zeros(3, dtype=np.int64))
        obs, *_ = venv.step(np.zeros(4, dtype=np.int64))
        assert obs.shape == (4, 4)
    finally:
        venv.close()


SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from rldojo.envs import make_vec

    if __name__ == "__main__":
        venv = make_vec("CartPole-v1", 4, vectorize="workers", workers=2)
        print(json.dumps({"pids": venv.worker_pids, "shm": venv.shm_name}), flush=True)
        venv.reset(seed=0)
        while True:  # no try/finally: cleanup must not depend on the caller
            venv.step(np.zeros(4, dtype=np.int64))
""")


def test_ctrl_c_leaves_nothing_behind(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        started = json.loads(proc.stdout.readline())
        time.sleep(0.5)  # stepping
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "KeyboardInterrupt" in stderr
    assert_nothing_left(started["pids"], started["shm"])
    assert "leaked shared_memory" not in stderr
