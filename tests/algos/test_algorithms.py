"""Every algorithm: learns above a random policy on a small budget, checkpoints and resumes."""

import numpy as np
import pytest

from rldojo.run.agents import build_agent
from rldojo.run.checkpoint import load_checkpoint
from rldojo.run.session import Session
from rldojo.run.spec import spec_from_raw

RANDOM_CARTPOLE = 22.0  # mean return of uniformly random actions on CartPole-v1

# SAC with small tanh nets (SAC's own default is [256, 256] relu).
SMALL_NET = {"hidden": [64, 64], "activation": "tanh"}
SMALL_SAC = {"algo": "sac", "batch_size": 64, "actor_net": SMALL_NET, "critic_net": SMALL_NET, "optim": {"lr": 1e-3}}

PPO = {
    "algo": "ppo",
    "gamma": 0.98,
    "gae_lambda": 0.8,
    "rollout_steps": 32,
    "epochs": 10,
    "minibatch_size": 128,
    "optim": {"lr": 1e-3},
}
A2C = {"algo": "a2c", "rollout_steps": 8, "optim": {"name": "rmsprop", "lr": 1e-3}}

AGENTS = {
    "ppo": PPO,
    "ppo_sil": {**PPO, "sil": {"updates": 2, "batch_size": 128, "learning_starts": 500}},
    "a2c": A2C,
    "a2c_sil": {**A2C, "sil": {"updates": 1, "batch_size": 64, "learning_starts": 500}},
    "reinforce": {"algo": "reinforce", "episodes_per_env": 1, "optim": {"lr": 3e-3}},
    "sarsa": {
        "algo": "sarsa",
        "n_steps": 1,
        "rollout_steps": 32,
        "target_update_every": 1,
        "max_grad_norm": 0.5,
        "exploration_fraction": 0.3,
        "net": {"hidden": [64], "activation": "elu"},
        "optim": {"name": "rmsprop", "lr": 1e-2},
    },
    "dqn": {
        "algo": "dqn",
        "double": True,
        "dueling": True,
        "learning_starts": 1000,
        "target_update_every": 500,
        "train_every": 2,
        "exploration_fraction": 0.3,
        "prioritized": {},
        "optim": {"lr": 1e-3},
    },
    "sac_discrete": {
        **SMALL_SAC,
        "learning_starts": 1000,
        "target_entropy_scale": 0.3,
        "train_every": 2,
        "buffer_size": 50000,
        "alpha_lr": 1e-3,
    },
}


def spec_for(agent: dict, frames: int, env: str = "CartPole-v1", **train):
    num_envs = 1 if agent["algo"] == "sarsa" else 4
    raw = {
        "name": "algo_test",
        "env": {"id": env, "num_envs": num_envs, "vectorize": "sync"},
        "agent": agent,
        "train": {"max_frames": frames, "eval_every": 0, "checkpoint_every": frames // 2, "log_every": 1000, **train},
        "meta": {"sessions": 1, "seed": 0},
        "track": {"tensorboard": False, "plots": False},
    }
    return spec_from_raw(raw, [], "test")


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_learns_cartpole_above_random(tmp_path, name):
    result = Session(spec_for(AGENTS[name], 16_000), tmp_path, 0).run()
    assert result["best_return_ma"] > 2 * RANDOM_CARTPOLE, result


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_checkpoint_resume_restores_everything(tmp_path, name):
    frames = 2_048
    Session(spec_for(AGENTS[name], frames), tmp_path, 0).run()
    saved = load_checkpoint(tmp_path / "s0/ckpt/last.pt")
    assert saved["frame"] == frames
    # Resume the finished session toward a larger budget: it must load every piece of state.
    (tmp_path / "s0/result.json").unlink()
    longer = spec_for(AGENTS[name], 2 * frames)
    env_spec = longer.env
    import gymnasium as gym

    env = gym.make(env_spec.id)
    num_envs = longer.env.num_envs
    fresh = build_agent(longer, env.observation_space, env.action_space, num_envs, seed=0)
    fresh.load_state_dict(saved["agent"])
    obs = np.stack([env.reset(seed=i)[0] for i in range(4)])
    reloaded = build_agent(longer, env.observation_space, env.action_space, num_envs, seed=0)
    reloaded.load_state_dict(saved["agent"])
    np.testing.assert_array_equal(fresh.act_greedy(obs), reloaded.act_greedy(obs))
    if hasattr(fresh, "replay"):
        assert len(reloaded.replay) == len(fresh.replay) > 0  # replay buffers are checkpointed
    result = Session(longer, tmp_path, 0).run()
    assert result["frames"] == 2 * frames and result["resumes"] == 1 and result["status"] == "done"


def test_sac_continuous_improves_on_pendulum(tmp_path):
    agent = {**SMALL_SAC, "learning_starts": 400, "buffer_size": 20000, "gradient_steps": 4}
    spec = spec_for(agent, 4_000, env="Pendulum-v1", eval_every=4_000, eval_episodes=4)
    result = Session(spec, tmp_path, 0).run()
    # Random torques on Pendulum average about -1200 per 200-step episode.
    assert result["last_eval"]["return_mean"] > -900, result
