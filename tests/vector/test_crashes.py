"""Crash recovery: a worker that raises, segfaults, exits or hangs is replaced mid-run; its envs'
episodes end truncated with info['worker_restarted']; repeated crashes stop the run clearly."""

from __future__ import annotations

import numpy as np
import pytest
from loguru import logger

from rldojo.envs import make_vec
from rldojo.envs.vector.crashes import EnvCrashError

from . import testenvs  # noqa: F401 - registers rldojo-test/* ids
from .test_cleanup import alive, shm_exists


@pytest.fixture
def warnings_log():
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="WARNING")
    yield lines
    logger.remove(sink)


def failing_vec(how: str, **kwargs):
    # 4 envs over 2 workers; env 2 (first seed 2 after reset(seed=0)) fails at its 3rd step.
    options = {"workers": 2, "step_timeout": 5.0, "max_restarts": 3, **kwargs}
    return make_vec(
        "rldojo-test/Failing-v0",
        4,
        vectorize=options.pop("vectorize", "workers"),
        env_kwargs={"how": how, "at_step": 3, "seed": 2},
        **options,
    )


@pytest.mark.parametrize("how", ["raise", "segfault", "exit", "hang"])
def test_failed_worker_is_replaced_and_its_episodes_truncated(how, warnings_log):
    venv = failing_vec(how, step_timeout=1.0 if how == "hang" else 5.0)
    try:
        venv.reset(seed=0)
        old_pids = list(venv.worker_pids)
        act = np.zeros(4, dtype=np.int64)
        for _ in range(2):
            obs, *_ = venv.step(act)
        assert np.array_equal(obs[:, 0], [2, 2, 2, 2])
        obs, rew, term, trunc, infos = venv.step(act)  # env 2 fails here
        # worker 0 (envs 0-1) stepped normally; worker 1 (envs 2-3) was replaced and reset
        assert np.array_equal(obs, [[3, 3], [3, 3], [0, 0], [0, 0]])
        assert rew.tolist() == [1.0, 1.0, 0.0, 0.0]
        assert trunc.tolist() == [False, False, True, True] and not term.any()
        assert infos["worker_restarted"].tolist() == [False, False, True, True]
        assert infos["_final_obs"].tolist() == [False, False, True, True]
        assert np.array_equal(infos["final_obs"][2], [2, 2]) and np.array_equal(infos["final_obs"][3], [2, 2])
        assert infos["final_info"]["worker_restarted"].tolist() == [False, False, True, True]
        assert venv.worker_pids[0] == old_pids[0] and venv.worker_pids[1] != old_pids[1]
        assert not alive(old_pids[1])
        # the run goes on: the new instances count their own steps
        obs, *_ = venv.step(act)
        assert np.array_equal(obs[:, 0], [4, 4, 1, 1])
    finally:
        venv.close()
    warning = "\n".join(warnings_log)
    assert "worker 1" in warning and "env 2" in warning
    expected = {
        "raise": "ZeroDivisionError",
        "segfault": "SIGSEGV",
        "exit": "exited with code 3",
        "hang": "step_timeout=1.0s",
    }[how]
    assert expected in warning


def test_repeated_crashes_stop_the_run_with_the_env_and_its_exception():
    # every instance fails at its 2nd step: env 0 crashes at steps 2 and 4; max_restarts=1 allows one.
    venv = make_vec(
        "rldojo-test/Failing-v0",
        4,
        vectorize="workers",
        workers=2,
        max_restarts=1,
        env_kwargs={"how": "raise", "at_step": 2, "seed": None},
    )
    pids, shm = venv.worker_pids, venv.shm_name
    venv.reset(seed=0)
    act = np.zeros(4, dtype=np.int64)
    with pytest.raises(EnvCrashError) as caught:
        for _ in range(6):
            venv.step(act)
    message = str(caught.value)
    assert "env 0 of rldojo-test/Failing-v0 crashed 2 times" in message
    assert "max_restarts=1" in message and "ZeroDivisionError: the env divided by zero on purpose" in message
    assert isinstance(caught.value, RuntimeError)
    # the engine closed itself: nothing left behind
    assert venv.closed and not any(alive(pid) for pid in pids) and not shm_exists(shm)


def test_pool_mode_recovers_a_dead_worker():
    venv = failing_vec("segfault", vectorize="pool", batch_size=2)
    try:
        obs, infos = venv.reset(seed=0)
        ids = infos["env_id"]
        restarted: set[int] = set()
        # worker 0 keeps answering while worker 1 dies (teardown takes milliseconds): step until
        # the replacement's truncation comes back.
        for _ in range(5000):
            obs, rew, term, trunc, infos = venv.step(np.zeros(len(ids), dtype=np.int64))
            ids = infos["env_id"]
            if "worker_restarted" in infos:
                restarted.update(int(i) for i, flag in zip(ids, infos["worker_restarted"]) if flag)
                assert trunc[infos["worker_restarted"]].all()
                assert np.array_equal(obs[infos["worker_restarted"]], [[0, 0], [0, 0]])
                break
        assert restarted == {2, 3}
    finally:
        venv.close()
