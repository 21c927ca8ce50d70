"""A spec that asks for an optional feature whose package is missing is refused before any run
folder exists: exit 2, naming the package and the rldojo extra that installs it.

The packages are installed here, so the tests hide them (`importlib.util.find_spec`, `sys.modules`)."""

from __future__ import annotations

import importlib.util
import re

import gymnasium as gym
import pytest

from rldojo.errors import UserError
from rldojo.run.spec import WandbSpec, load_spec
from rldojo.run.trial import check_optional_packages, preflight

from .helpers import rldojo


@pytest.fixture
def hide(monkeypatch):
    """hide("wandb", ...): find_spec answers None for these top-level modules."""
    real = importlib.util.find_spec
    hidden: set[str] = set()

    def find_spec(name, *args, **kwargs):
        return None if name.split(".")[0] in hidden else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return lambda *names: hidden.update(names)


def test_wandb_without_wandb_exits_2_before_the_run_folder(tmp_path, hide):
    hide("wandb")
    runs = tmp_path / "runs"
    result = rldojo(
        "train", "classic/ppo_cartpole", "--set", "track.wandb.project=p", "--runs-dir", str(runs), cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "wandb for track.wandb" in result.stderr and "pip install 'rldojo[wandb]'" in result.stderr
    assert "Traceback" not in result.stderr and not runs.exists()


@pytest.mark.parametrize(
    "spec, overrides, hidden, message",
    [
        ("classic/ppo_cartpole", ["env.vectorize=ray"], ["ray"], "ray for env.vectorize: ray. Install them with pip install 'rldojo[ray]'"),
        ("classic/ppo_pong", [], ["ale_py"], "ale-py for the Atari game ALE/Pong-v5. Install them with pip install 'rldojo[atari]'"),
        ("classic/ppo_pong", [], ["cv2"], "opencv-python-headless for Atari preprocessing"),
        ("classic/sac_halfcheetah", [], ["mujoco"], "mujoco for the env HalfCheetah-v5. Install them with pip install 'rldojo[mujoco]'"),
        ("llm/babyai_sft_grpo", [], ["minigrid"], "minigrid for the env dojo/BabyAI-GoToLocal-v0. Install them with pip install 'rldojo[text]'"),
        ("llm/babyai_sft_grpo", [], ["minigrid", "transformers"], "pip install 'rldojo[text,llm]'"),
        ("llm/babyai_sft_grpo", ["agent.model.lora={r: 8}"], ["peft"], "peft for agent.model.lora (LoRA adapters)"),
    ],
)  # fmt: skip
def test_missing_optional_packages_name_the_extra(hide, spec, overrides, hidden, message):
    hide(*hidden)
    with pytest.raises(UserError, match=re.escape(message)):
        check_optional_packages(load_spec(spec, overrides))


def test_raw_atari_frames_need_no_opencv(hide):
    hide("cv2")
    check_optional_packages(load_spec("classic/ppo_pong", ["env.atari=false"]))


def test_every_shipped_spec_has_its_packages_here():
    from rldojo.run.spec import shipped_specs_dir

    for path in sorted(shipped_specs_dir().glob("**/*.yaml")):
        check_optional_packages(load_spec(str(path)))


def _raise_missing(error: BaseException):
    def entry_point(**kwargs):
        raise error

    return entry_point


def _dependency_not_installed(module: str) -> BaseException:
    try:
        raise ImportError(f"No module named '{module}'", name=module)
    except ImportError as cause:
        try:
            raise gym.error.DependencyNotInstalled(f"{module} is not installed") from cause
        except gym.error.DependencyNotInstalled as exc:
            return exc


@pytest.mark.parametrize(
    "error, message",
    [
        (ModuleNotFoundError("No module named 'minigrid'", name="minigrid"), "pip install 'rldojo[text]'"),
        (ModuleNotFoundError("No module named 'minigrid.core'", name="minigrid.core"), "pip install 'rldojo[text]'"),
        (_dependency_not_installed("mujoco"), "pip install 'rldojo[mujoco]'"),
    ],
)
def test_an_env_that_fails_on_a_missing_package_is_a_user_error(error, message):
    """Whatever the table of features misses, an env that cannot import its package still gets the answer."""
    env_id = f"rldojo-test/Missing{abs(hash(str(error))) % 10_000}-v0"
    gym.register(id=env_id, entry_point=_raise_missing(error))
    try:
        with pytest.raises(UserError, match=re.escape(message)):
            preflight(load_spec("classic/ppo_cartpole", [f"env.id={env_id}"]))
    finally:
        gym.registry.pop(env_id, None)


def test_an_import_error_of_rldojo_itself_stays_a_bug():
    env_id = "rldojo-test/BrokenImport-v0"
    gym.register(id=env_id, entry_point=_raise_missing(ModuleNotFoundError("x", name="rldojo_no_such_module")))
    try:
        with pytest.raises(ModuleNotFoundError):
            preflight(load_spec("classic/ppo_cartpole", [f"env.id={env_id}"]))
    finally:
        gym.registry.pop(env_id, None)


def test_an_agent_too_big_for_memory_is_a_user_error():
    # 10**15 transitions of CartPole: numpy refuses the replay buffer at once (petabytes).
    with pytest.raises(UserError, match="does not fit in memory .*buffer_size"):
        preflight(load_spec("classic/dqn_cartpole", ["agent.buffer_size=1000000000000000"]))


def test_resuming_a_wandb_run_without_wandb_is_a_user_error(tmp_path, monkeypatch):
    from rldojo.track.tracker import Tracker

    monkeypatch.setitem(__import__("sys").modules, "wandb", None)  # `import wandb` raises ImportError
    with pytest.raises(UserError, match=r"pip install 'rldojo\[wandb\]'"):
        Tracker(tmp_path, (), tensorboard=False, wandb_cfg=WandbSpec(project="p"))
    assert not (tmp_path / "metrics.csv").exists()
