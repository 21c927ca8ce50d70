"""Every engine but pool gives exactly what gymnasium's SyncVectorEnv (SAME_STEP) gives for the
same seeds and actions: observations, rewards, terminated, truncated and infos (final_obs,
final_info, masks), for Box, Discrete, MultiDiscrete, MultiBinary, Dict-of-Box and Text spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from rldojo.envs import make_vec

from . import testenvs
from .compare import assert_same, assert_same_step

MODES = ["sync", "workers"]


def reference(env_id: str, num_envs: int, **kwargs) -> gym.vector.SyncVectorEnv:
    return gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id, **kwargs)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP
    )


def run_side_by_side(
    env_id: str, num_envs: int, mode: str, steps: int, seed: int, kwargs: dict | None = None, actions=None
) -> None:
    kwargs = kwargs or {}
    expected = reference(env_id, num_envs, **kwargs)
    ours = make_vec(env_id, num_envs, vectorize=mode, env_kwargs=kwargs, workers=2)
    try:
        assert ours.single_observation_space == expected.single_observation_space
        assert ours.action_space == expected.action_space
        assert_same(expected.reset(seed=seed), ours.reset(seed=seed), "reset")
        expected.action_space.seed(seed)
        for t in range(steps):
            action = actions(t) if actions else expected.action_space.sample()
            assert_same_step(expected.step(action), ours.step(action), t)
    finally:
        expected.close()
        ours.close()


@pytest.mark.parametrize("mode", MODES)
def test_cartpole_matches_sync_vector_env(mode):
    run_side_by_side("CartPole-v1", 5, mode, steps=300, seed=7)


@pytest.mark.parametrize("mode", MODES)
def test_all_space_kinds_and_infos_match(mode):
    # Dict-of-Box (+ Discrete) observations with each action space kind; infos on some steps,
    # final infos with data, reset infos: 3 envs over 2 workers.
    for kind in testenvs.ACTION_SPACES:
        run_side_by_side("rldojo-test/Mixed-v0", 3, mode, steps=60, seed=11, kwargs={"action_kind": kind})


@pytest.mark.parametrize("mode", MODES)
def test_text_spaces_match(mode):
    words = ["go", "look", "take key", "open door"]
    run_side_by_side(
        "rldojo-test/Echo-v0", 3, mode, steps=10, seed=5, actions=lambda t: tuple(words[(t + i) % 4] for i in range(3))
    )


@pytest.mark.parametrize("mode", MODES)
def test_seed_lists_masked_reset_and_attributes(mode):
    expected = reference("rldojo-test/Mixed-v0", 4)
    ours = make_vec("rldojo-test/Mixed-v0", 4, vectorize=mode, workers=2)
    try:
        seeds = [3, None, 8, 1]
        first = expected.reset(seed=[3, 100, 8, 1])
        got = ours.reset(seed=[3, 100, 8, 1])
        assert_same(first, got, "reset with a seed list")
        assert ours.get_attr("np_random_seed") == (3, 100, 8, 1)
        for t in range(5):
            action = expected.action_space.sample()
            assert_same_step(expected.step(action), ours.step(action), t)
        mask = np.array([False, True, False, True])
        assert_same(
            expected.reset(seed=seeds, options={"reset_mask": mask.copy()}),
            ours.reset(seed=seeds, options={"reset_mask": mask.copy()}),
            "masked reset",
        )
        ours.set_attr("label", ["a", "b", "c", "d"])
        assert ours.get_attr("label") == ("a", "b", "c", "d")
        ours.set_attr("label", "same")
        assert ours.call("label") == ("same",) * 4
        assert ours.call("get_wrapper_attr", "label") == ("same",) * 4
        with pytest.raises(AttributeError):
            ours.call("no_such_method")
        # after an env's exception in call(), the engine carries on
        action = expected.action_space.sample()
        assert_same_step(expected.step(action), ours.step(action), 99)
    finally:
        expected.close()
        ours.close()


@pytest.mark.parametrize("mode", MODES)
def test_returned_arrays_stay_valid_for_one_more_step(mode):
    venv = make_vec("CartPole-v1", 3, vectorize=mode, workers=2)
    try:
        obs, _ = venv.reset(seed=0)
        kept = obs.copy()
        next_obs, *_ = venv.step(np.ones(3, dtype=np.int64))
        assert np.array_equal(obs, kept), "obs must survive the next step (double buffer)"
        assert not np.array_equal(next_obs, obs)
    finally:
        venv.close()
