"""Ray mode on a local 2-CPU Ray: SyncVectorEnv-identical results, and a killed actor replaced."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rldojo.envs import make_vec

from .compare import assert_same, assert_same_step

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def wait_until_dead(actor, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get(actor.ready.remote(), timeout=1.0)
        except ray.exceptions.RayActorError:
            return
        except ray.exceptions.GetTimeoutError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the killed actor still answers after {timeout_s:.0f} s")


def test_ray_actors_match_sync_and_survive_a_killed_actor(local_ray):
    n = 4
    expected = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * n, autoreset_mode=AutoresetMode.SAME_STEP)
    venv = make_vec("CartPole-v1", n, vectorize="ray", workers=2)
    try:
        assert len(venv.actors) == 2
        assert_same(expected.reset(seed=4), venv.reset(seed=4), "reset")
        rng = np.random.default_rng(0)
        for t in range(60):
            action = rng.integers(0, 2, n)
            assert_same_step(expected.step(action), venv.step(action), t)
        last_obs = expected.step(action)[0]
        venv_obs = venv.step(action)[0]
        killed = venv.actors[1]
        ray.kill(killed, no_restart=True)
        wait_until_dead(killed)  # ray.kill returns before the actor is gone; the next step must see it dead
        obs, rew, term, trunc, infos = venv.step(action)
        assert trunc.tolist() == [False, False, True, True] and rew[2:].tolist() == [0.0, 0.0]
        assert infos["worker_restarted"].tolist() == [False, False, True, True]
        assert np.array_equal(np.stack(infos["final_obs"][2:]), venv_obs[2:])
        assert np.all(np.abs(obs[2:]) <= 0.05)  # fresh CartPole resets
        assert np.array_equal(last_obs, venv_obs)
        for _ in range(5):  # and the run goes on
            venv.step(rng.integers(0, 2, n))
    finally:
        expected.close()
        venv.close()
