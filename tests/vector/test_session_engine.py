"""The trainers get the engine through the spec: `env.vectorize` and the engine's fields."""

from __future__ import annotations

import json

import pytest

from rldojo.errors import SpecError
from rldojo.run.session import Session
from rldojo.run.spec import load_spec

FAST = [
    "meta.sessions=1",
    "env.num_envs=4",
    "train.max_frames=1024",
    "train.eval_every=0",
    "train.log_every=256",
    "train.checkpoint_every=0",
    "track.tensorboard=false",
    "track.plots=false",
    "agent.rollout_steps=32",
    "agent.epochs=2",
]


def test_ppo_trains_through_the_worker_engine(tmp_path):
    spec = load_spec(
        "classic/ppo_cartpole",
        FAST + ["env.vectorize=workers", "env.workers=2", "env.step_timeout=30", "env.max_restarts=1"],
    )
    assert (spec.env.workers, spec.env.step_timeout, spec.env.max_restarts) == (2, 30.0, 1)
    result = Session(spec, tmp_path, 0).run()
    assert result["status"] == "done" and result["frames"] == 1024 and result["episodes"] > 10
    log = (tmp_path / "s0" / "log.txt").read_text()
    assert "WorkerVectorEnv" in log
    assert json.loads((tmp_path / "s0" / "result.json").read_text())["frames"] == 1024


def test_pool_in_a_training_spec_is_explained():
    with pytest.raises(SpecError, match="trainers step every env each time; use `workers`"):
        load_spec("classic/ppo_cartpole", ["env.vectorize=pool"])
    with pytest.raises(SpecError, match="env.vectorize"):
        load_spec("classic/ppo_cartpole", ["env.vectorize=threads"])
