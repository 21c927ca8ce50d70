"""Small search specs for the search tests: PPO on CartPole with a few hundred frames per trial."""

from __future__ import annotations

import copy

import pytest

SEARCH_CARTPOLE = {
    "name": "tiny_search",
    "env": {"id": "CartPole-v1", "num_envs": 4, "vectorize": "sync"},
    "agent": {
        "algo": "ppo",
        "rollout_steps": 16,
        "epochs": 2,
        "minibatch_size": 32,
        "net": {"hidden": [16, 16]},
        "optim": {"lr": 1.0e-3},
    },
    "train": {"max_frames": 768, "eval_every": 0, "checkpoint_every": 256, "log_every": 64},
    "meta": {"sessions": 1, "seed": 0},
    "track": {"tensorboard": False},
    "search": {
        "space": {
            "agent.optim.lr": "loguniform(1.0e-4, 1.0e-2)",
            "agent.clip": "choice([0.1, 0.3])",
        },
        "trials": 4,
        "metric": "return_ma",
        "scheduler": {"name": "asha", "grace_period": 192, "reduction_factor": 2},
        "resources": {"cpu": 1},
        "keep_checkpoints": 1,
    },
}


@pytest.fixture()
def search_raw() -> dict:
    """A fresh copy of the tiny CartPole search spec (raw, as a YAML file would hold it)."""
    return copy.deepcopy(SEARCH_CARTPOLE)
