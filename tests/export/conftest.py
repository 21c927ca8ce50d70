"""Runs trained for a few seconds, shared by the export and upload tests (module-scoped)."""

from __future__ import annotations

import copy
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from rldojo.run.spec import spec_from_raw


class FakeImages(gym.Env):
    """36x36 RGB observations (channels last, the Nature CNN's smallest input); reward 1 for action 1."""

    observation_space = gym.spaces.Box(0, 255, (36, 36, 3), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (36, 36, 3), dtype=np.uint8), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.integers(0, 256, (36, 36, 3), dtype=np.uint8)
        return obs, float(action == 1), False, self.t >= 16, {}


IMAGE_ENV = "rldojo-test-export/Images-v0"
if IMAGE_ENV not in gym.registry:
    gym.register(IMAGE_ENV, entry_point=FakeImages)

TRAIN = {"max_frames": 1024, "eval_every": 512, "eval_episodes": 2, "checkpoint_every": 512, "log_every": 256}
PPO = {
    "algo": "ppo",
    "rollout_steps": 32,
    "epochs": 2,
    "minibatch_size": 64,
    "net": {"hidden": [32, 32]},
    "optim": {"lr": 1.0e-3},
}
SMALL_NET = {"hidden": [32, 32]}

#: name -> spec overrides: every kind of greedy policy the export writes.
CASES: dict[str, dict] = {
    "ppo_cartpole": {"env": {"id": "CartPole-v1"}, "agent": PPO},
    "ppo_pendulum": {"env": {"id": "Pendulum-v1"}, "agent": PPO},
    "dqn_cartpole": {
        "env": {"id": "CartPole-v1"},
        "agent": {
            "algo": "dqn",
            "dueling": True,
            "double": True,
            "learning_starts": 256,
            "batch_size": 32,
            "buffer_size": 4096,
            "net": SMALL_NET,
        },
    },
    "sac_pendulum": {
        "env": {"id": "Pendulum-v1"},
        "agent": {
            "algo": "sac",
            "learning_starts": 256,
            "batch_size": 32,
            "buffer_size": 4096,
            "actor_net": SMALL_NET,
            "critic_net": SMALL_NET,
        },
    },
    "sac_cartpole_discrete": {
        "env": {"id": "CartPole-v1"},
        "agent": {
            "algo": "sac",
            "learning_starts": 256,
            "batch_size": 32,
            "buffer_size": 4096,
            "actor_net": SMALL_NET,
            "critic_net": SMALL_NET,
        },
    },
    # normalised observations (frozen running statistics inside the file), a shared trunk
    "a2c_pendulum_normalized": {
        "env": {"id": "Pendulum-v1", "normalize_obs": True, "normalize_reward": True},
        "agent": {"algo": "a2c", "net": {"hidden": [32, 32], "shared": True}},
    },
    # Discrete observations (one-hot inside the file)
    "sarsa_frozenlake": {
        "env": {"id": "FrozenLake-v1", "kwargs": {"is_slippery": False}},
        "agent": {"algo": "sarsa", "net": SMALL_NET},
    },
    "reinforce_cartpole": {"env": {"id": "CartPole-v1"}, "agent": {"algo": "reinforce", "net": SMALL_NET}},
    # uint8 images through the Nature CNN
    "ppo_images_cnn": {
        "env": {"id": IMAGE_ENV},
        "agent": {**PPO, "net": {"type": "cnn", "cnn_features": 32, "hidden": [16]}},
    },
    # a GRU policy: the hidden state is an input and an output of the file
    "ppo_cartpole_gru": {
        "env": {"id": "CartPole-v1"},
        "agent": {**PPO, "net": {"hidden": [32], "recurrent": "gru", "recurrent_size": 16}},
    },
}


def case_spec(name: str):
    case = copy.deepcopy(CASES[name])
    raw = {
        "name": name,
        "env": {"num_envs": 4, "vectorize": "sync", **case["env"]},
        "agent": case["agent"],
        "train": dict(TRAIN),
        "meta": {"sessions": 1, "seed": 1},
        "track": {"tensorboard": False, "plots": False},
    }
    return spec_from_raw(raw, [], source="test")


def train_run(spec, root: Path) -> Path:
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

    run_dir = new_run_dir(spec, root)
    write_spec_file(run_dir, spec, None)
    assert run_trial(spec, run_dir, show_progress=False)["status"] == "done"
    return run_dir


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """name -> run folder, each case trained once on first use."""
    root = tmp_path_factory.mktemp("export-runs")
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in runs:
            runs[name] = train_run(case_spec(name), root)
        return runs[name]

    return get
