"""Workflow search: the native return reaches on_episode, last_k_per_env_native scores by it, and a tiny
GP-UCB search over NetDefense workflows runs end to end (specs/cyber/workflow_search.yaml)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from rldojo.errors import UserError
from rldojo.run.spec import load_spec, spec_from_raw
from rldojo.run.trial import run_trial
from rldojo.search.metric import TrialMetric, check_metric

#: A counting env whose native reward is known by hand (registered below).
COUNTING_ID = "rldojo_test/NativeCount-v0"
#: What the counting env's reset reports as native reward: a value no episode sum can contain, so
#: reading a reset's info in place of a step's (SAME_STEP autoreset) would show.
RESET_NATIVE = -999.0
SHAPING_FACTOR = 10.0
SPEC_FILE = Path(__file__).resolve().parents[2] / "specs" / "cyber" / "workflow_search.yaml"
#: The tiny search's candidates, by name, with the workflow each sets.
CANDIDATES = {"uniform": "uniform", "op_server_first": "op_server_first", "op_server_only": ["Op_Server0"]}


class NativeCount(gym.Env):
    """Step t of an episode (from 1) has native reward t and returned (shaped) reward 10 t; episodes
    last 2, 3, 4, 2, 3, ... steps, so the envs of a vector env end at different steps."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.episodes, self.t, self.length = 0, 0, 2

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.length = 2 + self.episodes % 3
        self.episodes += 1
        self.t = 0
        return np.zeros(1, np.float32), {"native_reward": RESET_NATIVE}

    def step(self, action):
        self.t += 1
        info = {"native_reward": float(self.t)}
        return np.zeros(1, np.float32), SHAPING_FACTOR * self.t, self.t >= self.length, False, info


if COUNTING_ID not in gym.registry:
    gym.register(COUNTING_ID, entry_point=NativeCount)

TINY_PPO = {
    "algo": "ppo",
    "rollout_steps": 8,
    "epochs": 1,
    "minibatch_size": 16,
    "net": {"hidden": [8]},
}


def tiny_spec(env: dict, frames: int, search: dict | None = None) -> dict:
    raw = {
        "name": "tiny_workflow",
        "env": {"num_envs": 2, "vectorize": "sync", **env},
        "agent": dict(TINY_PPO),
        "train": {"max_frames": frames, "eval_every": 0, "checkpoint_every": 0, "log_every": 16},
        "meta": {"sessions": 1, "seed": 0},
        "track": {"tensorboard": False},
    }
    if search is not None:
        raw["search"] = search
    return raw


class Episodes:
    """A training callback that keeps every on_episode payload."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []

    def on_episode(self, session: int, episode: dict) -> None:
        self.payloads.append(dict(episode))


def test_native_return_reaches_on_episode_summed_by_hand(tmp_path):
    spec = spec_from_raw(tiny_spec({"id": COUNTING_ID}, frames=48), [], source="t")
    episodes = Episodes()
    run_trial(spec, tmp_path, show_progress=False, hooks=[episodes])
    assert len(episodes.payloads) > 10
    assert {payload["length"] for payload in episodes.payloads} == {2, 3, 4}
    for payload in episodes.payloads:
        native = sum(range(1, payload["length"] + 1))  # rewards 1, 2, ..., length
        assert payload["native_return"] == pytest.approx(native)
        assert payload["return"] == pytest.approx(SHAPING_FACTOR * native)


def test_an_env_without_native_reward_gives_no_native_return(tmp_path):
    spec = spec_from_raw(tiny_spec({"id": "CartPole-v1"}, frames=64), [], source="t")
    episodes = Episodes()
    run_trial(spec, tmp_path, show_progress=False, hooks=[episodes])
    assert episodes.payloads and all("native_return" not in payload for payload in episodes.payloads)


def test_netdefense_episodes_carry_the_native_cage2_return(tmp_path):
    kwargs = {"red_agent": "b_line", "episode_length": 12, "workflow": "uniform", "workflow_weight": 0.1}
    spec = spec_from_raw(tiny_spec({"id": "dojo/NetDefense-v0", "kwargs": kwargs}, frames=48), [], source="t")
    episodes = Episodes()
    run_trial(spec, tmp_path, show_progress=False, hooks=[episodes])
    assert len(episodes.payloads) == 4  # 2 envs x 2 episodes of 12 steps
    for payload in episodes.payloads:
        # CAGE-2's reward is never positive, and the workflow's shaping only ever charges more
        assert payload["native_return"] <= 0.0
        assert payload["return"] < payload["native_return"]


def test_last_k_per_env_native_by_hand():
    metric = TrialMetric("last_k_per_env_native", last_k=3)
    shaped = TrialMetric("last_k_per_env", last_k=3)
    fed = {
        0: [(-30.0, -20.0), (-25.0, -15.0), (-20.0, -10.0), (-12.0, -8.0)],  # (return, native_return)
        1: [(-50.0, -40.0), (-44.0, -34.0)],
    }
    for env, episodes in fed.items():
        for episode_return, native in episodes:
            episode = {"return": episode_return, "native_return": native, "env": env}
            metric.on_episode(0, episode)
            shaped.on_episode(0, episode)
    env0 = (-15.0 - 10.0 - 8.0) / 3  # the last 3 of env 0
    env1 = (-40.0 - 34.0) / 2
    assert metric.value() == pytest.approx((env0 + env1) / 2)
    assert shaped.value() == pytest.approx(((-25.0 - 20.0 - 12.0) / 3 + (-50.0 - 44.0) / 2) / 2)


def test_last_k_per_env_native_refuses_episodes_without_a_native_return():
    metric = TrialMetric("last_k_per_env_native", last_k=3)
    with pytest.raises(UserError, match="carry none: the env reports no native reward"):
        metric.on_episode(0, {"return": 1.0, "env": 0})


def test_check_metric_asks_the_env_for_a_native_reward():
    search = {
        "metric": "last_k_per_env_native",
        "scheduler": {"name": "gp_ucb"},
        "space": {"agent.clip": "choice([0.1, 0.2])"},
    }
    cartpole = spec_from_raw(tiny_spec({"id": "CartPole-v1"}, 64, search), [], source="t")
    with pytest.raises(UserError, match="CartPole-v1 reports none.*Use search.metric last_k_per_env"):
        check_metric(cartpole)
    netdefense = tiny_spec({"id": "dojo/NetDefense-v0", "kwargs": {"episode_length": 5}}, 64, search)
    check_metric(spec_from_raw(netdefense, [], source="t"))
    language_model = {
        "name": "lm",
        "env": {"id": "dojo/TextCraft-v0", "num_envs": 2},
        "agent": {"algo": "grpo", "model": {"path": "tiny"}},
        "train": {"iterations": 2, "eval_every": 0},
        "search": {**search, "space": {"agent.beta": "choice([0.01, 0.02])"}},
    }
    with pytest.raises(UserError, match="grpo trains a language model on whole episodes"):
        check_metric(spec_from_raw(language_model, [], source="t"))


def test_workflow_features_are_the_mean_weight_of_each_kind_of_host():
    from rldojo.envs.cyber.workflow import workflow_features

    assert workflow_features("uniform") == {"user": 1.0, "enterprise": 1.0, "op_host": 1.0, "op_server": 1.0}
    # Operational (weight 1), Enterprise (2/3), User (1/3); User0 weighs 0 and is not a user feature
    assert workflow_features("operational_first") == {
        "user": 0.3333,
        "enterprise": 0.6667,
        "op_host": 1.0,
        "op_server": 1.0,
    }
    # Enterprise2 (weight 1/2) is one of the four enterprise hosts (Defender among them): 1/8
    assert workflow_features(["Op_Server0", "Enterprise2"]) == {
        "user": 0.0,
        "enterprise": 0.125,
        "op_host": 0.0,
        "op_server": 1.0,
    }


def test_the_workflow_search_spec_lists_each_workflows_features():
    from rldojo.envs.cyber.workflow import workflow_features
    from rldojo.search.prepare import check_search

    spec = load_spec("cyber/workflow_search")
    check_search(spec)
    search = spec.search
    assert (search.metric, search.last_k, search.scheduler.name) == ("last_k_per_env_native", 3, "gp_ucb")
    names = [candidate.name for candidate in search.candidates]
    assert "uniform" in names and len(names) >= 5
    for candidate in search.candidates:
        assert candidate.features == workflow_features(candidate.set["env.kwargs.workflow"]), candidate.name


def test_a_tiny_gp_ucb_workflow_search_runs_end_to_end(tmp_path):
    from rldojo.cli import app

    spec = yaml.safe_load(SPEC_FILE.read_text())
    spec["search"]["candidates"] = [c for c in spec["search"]["candidates"] if c["name"] in CANDIDATES]
    spec["search"]["scheduler"] = {"name": "gp_ucb", "rounds": 3, "budget": 40}
    spec["env"].update(num_envs=2, vectorize="sync")
    spec["env"]["kwargs"]["episode_length"] = 10
    spec["agent"].update(TINY_PPO)
    spec["train"] = {"max_frames": 40, "eval_every": 0, "checkpoint_every": 0, "log_every": 20}
    spec["track"] = {"tensorboard": False}
    path = tmp_path / "workflow_search.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = CliRunner().invoke(app, ["search", str(path), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert result.exit_code == 0, result.output
    (experiment,) = (tmp_path / "runs").glob("workflow_search-search_*")
    with (experiment / "experiment.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["trial"] for row in rows) == ["r01", "r02", "r03"]
    assert {row["candidate"] for row in rows} <= set(CANDIDATES)
    for row in rows:
        assert row["status"] == "done"
        score = float(row["last_k_per_env_native"])
        assert math.isfinite(score) and score <= 0.0  # native CAGE-2 returns: never positive
        workflow = CANDIDATES[row["candidate"]]  # experiment.csv writes lists as JSON, names as they are
        assert (
            json.loads(row["env.kwargs.workflow"]) if isinstance(workflow, list) else row["env.kwargs.workflow"]
        ) == workflow
    state = json.loads((experiment / "gp_ucb.json").read_text())
    assert state["recommended"] in CANDIDATES
