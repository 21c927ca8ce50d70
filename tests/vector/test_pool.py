"""Pool mode (EnvPool-style): each step returns the first batch of ready envs with their ids; every
env's own trajectory is exactly a single gymnasium env's for the same seed and actions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from rldojo.envs import make_vec

from . import testenvs  # noqa: F401 - registers rldojo-test/* ids


def replay_single_env(env_id: str, seed: int, actions: list, observed: list) -> None:
    """Step one plain env with `actions` and check what the pool reported for it, SAME_STEP-style."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    assert np.array_equal(obs, observed[0])
    for t, (action, (next_obs, reward, term, trunc, final)) in enumerate(zip(actions, observed[1:])):
        obs, r, te, tr, _ = env.step(action)
        assert (r, te, tr) == (reward, term, trunc), f"env seed {seed} step {t}"
        if te or tr:
            assert np.array_equal(obs, final)
            obs, _ = env.reset()
        assert np.array_equal(obs, next_obs), f"env seed {seed} step {t}"
    env.close()


def test_pool_batches_follow_each_env_exactly():
    num_envs, batch, seed = 8, 4, 10
    venv = make_vec("CartPole-v1", num_envs, vectorize="pool", batch_size=batch)
    assert venv.num_workers == 2 and venv.batch_size == batch and venv.action_space.shape == (batch,)
    rng = np.random.default_rng(0)
    actions = {i: [] for i in range(num_envs)}
    observed = {i: [] for i in range(num_envs)}
    try:
        obs, infos = venv.reset(seed=seed)
        ids = infos["env_id"]
        assert obs.shape == (batch, 4) and sorted(ids.tolist()) == list(range(4))
        for k, i in enumerate(ids):
            observed[int(i)].append(obs[k].copy())
        # which worker answers first depends on the OS scheduler (a loaded machine can hold one back
        # for many steps), so step until every env has acted enough rather than a fixed count
        steps = 0
        while min(len(a) for a in actions.values()) <= 50:
            steps += 1
            assert steps < 20_000, f"an env starved: actions per env {[len(a) for a in actions.values()]}"
            action = rng.integers(0, 2, batch)
            for k, i in enumerate(ids):
                actions[int(i)].append(int(action[k]))
            obs, rew, term, trunc, infos = venv.step(action)
            ids = infos["env_id"]
            assert obs.shape == (batch, 4) and len(set(ids.tolist())) == batch
            for k, i in enumerate(ids):
                i = int(i)
                if not observed[i]:  # first time back: its reset observation, reward 0, not done
                    assert rew[k] == 0 and not term[k] and not trunc[k]
                    observed[i].append(obs[k].copy())
                    continue
                final = infos["final_obs"][k] if term[k] or trunc[k] else None
                observed[i].append((obs[k].copy(), rew[k], term[k], trunc[k], final))
    finally:
        venv.close()
    for i in range(num_envs):
        assert len(actions[i]) > 50
        # the pool may hold an env's last actions still in flight: replay what came back
        replay_single_env("CartPole-v1", seed + i, actions[i][: len(observed[i]) - 1], observed[i])


def test_pool_text_envs_carry_strings_and_ids():
    venv = make_vec("rldojo-test/Echo-v0", 4, vectorize="pool", batch_size=2, workers=2)
    try:
        obs, infos = venv.reset(seed=0)
        assert all(o.startswith("start ") for o in obs) and len(infos["instruction"]) == 2
        first = infos["env_id"].tolist()
        obs, rew, *_, infos = venv.step(("a", "bb"))
        # whichever worker answers first comes back (the scheduler decides); the first batch's answer
        # to ("a", "bb") must come back, in env_id order, with its strings, and nothing else for it
        for _ in range(2_000):
            if infos["env_id"].tolist() == first:
                break
            assert all(o.startswith("start ") or o.endswith((":x", ":yy")) for o in obs)
            obs, rew, *_, infos = venv.step(("x", "yy"))
        assert infos["env_id"].tolist() == first
        assert [o.split(":", 1)[1] for o in obs] == ["1:a", "1:bb"] and rew.tolist() == [1.0, 2.0]
    finally:
        venv.close()
