import numpy as np
import pytest
import torch

from rldojo.memory.rollout import RolloutBuffer
from rldojo.run.session import Session

from .helpers import fast_spec


def test_gae_matches_hand_computation():
    # One env, three steps, the episode ends after step 1 (index 1).
    buffer = RolloutBuffer(3, 1, obs_dim=1, action_shape=(), action_dtype=np.int64)
    for value, reward, done in [(0.5, 1.0, 0.0), (0.4, 2.0, 1.0), (0.3, 0.5, 0.0)]:
        buffer.add_policy_step(np.zeros((1, 1)), np.zeros(1), np.zeros(1), np.array([value]))
        buffer.add_env_step(np.array([reward]), np.array([done]))
    gamma, lam, last_value = 0.9, 0.8, 0.2
    adv, ret = buffer.advantages_and_returns(np.array([last_value]), gamma, lam)
    d2 = 0.5 + gamma * last_value - 0.3  # step 2 bootstraps from the value after the rollout
    d1 = 2.0 - 0.4  # step 1 ends the episode: no bootstrap
    d0 = 1.0 + gamma * 0.4 - 0.5
    a2, a1 = d2, d1  # the episode boundary cuts the GAE sum
    a0 = d0 + gamma * lam * a1
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(ret[:, 0], [a0 + 0.5, a1 + 0.4, a2 + 0.3], rtol=1e-6)


def test_truncated_episodes_bootstrap_from_the_final_observation():
    import gymnasium as gym

    from rldojo.run.agents import build_agent

    spec = fast_spec("env.num_envs=2", "agent.rollout_steps=4")
    space_o = gym.spaces.Box(-1, 1, (4,), np.float32)
    agent = build_agent(spec, space_o, gym.spaces.Discrete(2), 2, seed=0)
    obs = np.zeros((2, 4), np.float32)
    final = np.ones((2, 4), np.float32)
    agent.act(obs)
    agent.observe(np.array([1.0, 1.0]), np.array([False, True]), np.array([True, False]), obs, final)
    with torch.no_grad():
        v_final = agent.net.value(torch.from_numpy(final[:1])).item()
    # env 0 was cut by a time limit: reward + gamma * V(final); env 1 really ended: reward only.
    assert agent.buffer.rewards[0, 0] == pytest.approx(1.0 + 0.98 * v_final, rel=1e-5)
    assert agent.buffer.rewards[0, 1] == pytest.approx(1.0)
    assert agent.buffer.dones[0].tolist() == [1.0, 1.0]


def test_ppo_learns_cartpole_on_a_small_budget(tmp_path):
    # Random play averages ~22; after 24k frames PPO is far above it.
    spec = fast_spec(
        "env.num_envs=8",
        "agent.epochs=10",
        "agent.minibatch_size=128",
        "train.max_frames=24576",
        "train.eval_every=0",
        "train.log_every=4096",
        "meta.seed=0",
    )
    result = Session(spec, tmp_path, 0).run()
    assert result["final_return_ma"] > 100, result


def test_ppo_continuous_actions_run_and_stay_in_bounds(tmp_path):
    spec = fast_spec("env.id=Pendulum-v1", "train.max_frames=512", "train.eval_every=256", "train.eval_episodes=1")
    result = Session(spec, tmp_path, 0).run()
    assert result["frames"] == 512 and result["last_eval"]["return_mean"] < 0  # Pendulum returns are negative
