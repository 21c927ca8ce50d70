"""Gymnasium's id conventions in full: `module:EnvId-v0`, and ids from older tutorials."""

from __future__ import annotations

import sys

import pytest

from rldojo.envs import make_env, make_vec
from rldojo.envs.errors import EnvInputError
from rldojo.errors import SpecError
from rldojo.run.spec import spec_from_raw

MODULE = """
import gymnasium as gym

gym.register("IdsTestCart-v0", entry_point="gymnasium.envs.classic_control.cartpole:CartPoleEnv", max_episode_steps=50)
"""


@pytest.fixture
def registering_module(tmp_path, monkeypatch):
    (tmp_path / "ids_test_module.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # worker processes import it too
    yield "ids_test_module:IdsTestCart-v0"
    sys.modules.pop("ids_test_module", None)


@pytest.mark.parametrize("vectorize", ["sync", "workers"])
def test_a_module_colon_id_imports_the_module_first(registering_module, vectorize):
    venv = make_vec(registering_module, 2, seed=0, vectorize=vectorize, workers=2)
    try:
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (2, 4)
    finally:
        venv.close()
    spec = spec_from_raw({"name": "m", "env": {"id": registering_module}, "agent": {"algo": "ppo"}}, [], source="t")
    assert spec.env.id == registering_module


def test_a_module_that_cannot_be_imported_is_named():
    with pytest.raises(EnvInputError, match="names the module 'no_such_module_here'"):
        make_env("no_such_module_here:Thing-v0")


def test_old_atari_ids_become_ale_v5_with_its_preprocessing():
    pytest.importorskip("ale_py")
    spec = spec_from_raw({"name": "p", "env": {"id": "PongNoFrameskip-v4"}, "agent": {"algo": "ppo"}}, [], source="t")
    assert spec.env.id == "ALE/Pong-v5" and spec.env.atari_options() is not False


@pytest.mark.parametrize(
    ("old", "current"),
    [
        ("LunarLander-v2", "LunarLander-v3"),
        ("Pendulum-v0", "Pendulum-v1"),
        ("HalfCheetahBulletEnv-v0", "HalfCheetah-v5"),
        ("RoboschoolWalker2d-v1", "Walker2d-v5"),
    ],
)
def test_ids_without_a_safe_swap_are_refused_with_the_current_id(old, current):
    with pytest.raises(EnvInputError, match=f"Use env.id: {current}"):
        make_env(old)
    with pytest.raises(SpecError, match=current):
        spec_from_raw({"name": "o", "env": {"id": old}, "agent": {"algo": "ppo"}}, [], source="t")
