"""Several worlds in one run: dojo/Mixture-v0, `env` as a list of worlds, per-world evaluation."""

import json

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401 - registers the dojo/ ids
from rldojo.envs.errors import EnvInputError
from rldojo.errors import SpecError
from rldojo.run.spec import spec_from_raw

from .test_sft import lm_spec

SAT = {"id": "dojo/SAT-v0", "weight": 3.0, "kwargs": {"n_vars": [3, 4], "k": [2, 2]}}
CRAFT = {"id": "dojo/TextCraft-v0", "weight": 1.0, "kwargs": {"depths": [1], "max_turns": 5}}


def test_task_ids_name_one_world_and_its_task():
    env = gym.make("dojo/Mixture-v0", worlds=[SAT, CRAFT]).unwrapped
    sat = gym.make("dojo/SAT-v0", **SAT["kwargs"]).unwrapped
    try:
        obs, info = env.reset(seed=0, options={"task_id": 7 * 2 + 0})  # task 7 of world 0
        assert info["world"] == "dojo/SAT-v0" and info["task_id"] == 14
        assert obs == sat.reset(seed=0, options={"task_id": 7})[0]
        _, info = env.reset(seed=0, options={"task_id": 3 * 2 + 1})  # task 3 of world 1
        assert info["world"] == "dojo/TextCraft-v0" and info["task_id"] == 7
        assert env.world_of(7) == "dojo/TextCraft-v0"
        # the expert's moves reach the world and win, with the mixture's task id kept on every step
        while True:
            _, _, terminated, truncated, info = env.step(info["expert_action"])
            assert info["task_id"] == 7
            if terminated or truncated:
                break
        assert info["won"]
    finally:
        env.close()
        sat.close()


def test_seeds_pick_worlds_by_weight():
    env = gym.make("dojo/Mixture-v0", worlds=[SAT, CRAFT]).unwrapped
    try:
        worlds = [env.reset(seed=s)[1]["world"] for s in range(400)]
    finally:
        env.close()
    share = np.mean([w == "dojo/SAT-v0" for w in worlds])
    assert 0.68 < share < 0.82  # weight 3 : 1


@pytest.mark.parametrize(
    ("worlds", "match"),
    [
        ([], "non-empty list"),
        ([{"id": "dojo/SAT-v0", "weight": 0}], "positive number"),
        ([{"id": "dojo/SAT-v0", "share": 1}], "unknown keys share"),
        ([SAT, SAT], "once"),
    ],
)
def test_bad_worlds_are_refused(worlds, match):
    with pytest.raises(EnvInputError, match=match):
        gym.make("dojo/Mixture-v0", worlds=worlds)
    with pytest.raises(SpecError, match=match):
        spec_from_raw(lm_spec({"algo": "sft"}, env={"worlds": worlds}), [], source="test")


def test_a_list_of_worlds_trains_one_model_and_reports_each_world(tmp_path):
    raw = lm_spec(
        {
            "algo": "pipeline",
            "prompt": {"template": "act", "show_actions": False},
            "stages": [
                {"algo": "sft", "demo_episodes": 24, "epochs": 1, "batch_size": 8},
                {"algo": "grpo", "group_size": 2, "groups": 2},
            ],
        },
        iterations=1,
    )
    raw["env"] = [SAT, CRAFT]
    raw["train"]["eval_episodes"] = 12
    spec = spec_from_raw(raw, [], source="test")
    assert spec.env.id == "dojo/Mixture-v0" and spec.env.kwargs["worlds"][0]["weight"] == 3.0

    run = rldojo.train(raw, out=tmp_path)
    stages = json.loads((run.path / "s0" / "result.json").read_text())["stages"]
    for row in stages:
        worlds = row["worlds"]
        assert set(worlds) <= {"dojo/SAT-v0", "dojo/TextCraft-v0"} and worlds
        assert sum(part["episodes"] for part in worlds.values()) == row["episodes"] == 12
        for part in worlds.values():
            assert 0.0 <= part["success_low"] <= part["success"] <= part["success_high"] <= 1.0
    table = (run.path / "s0" / "stages.md").read_text()
    assert "| sft · dojo/SAT-v0 (" in table

    # rldojo eval lists each world as an env of its own beside the mixture
    from rldojo.run.evaluate_run import evaluate_run

    played = evaluate_run(run.path, None).played
    assert "dojo/Mixture-v0" in played and "dojo/SAT-v0" in played
    assert sum(len(played[w]) for w in played if w != "dojo/Mixture-v0") == len(played["dojo/Mixture-v0"])

    # ... and so do eval.json and compare's Pareto frontier, world by world
    from typer.testing import CliRunner

    from rldojo.cli import app
    from rldojo.evaluate.compare import compare

    outs = [tmp_path / name / "eval.json" for name in ("a", "b")]
    for out, which in zip(outs, ("best", "last"), strict=True):
        result = CliRunner().invoke(app, ["eval", str(run.path), "--ckpt", which, "--out", str(out)])
        assert result.exit_code == 0, result.output
    envs = json.loads(outs[0].read_text())["envs"]
    assert {"dojo/Mixture-v0", "dojo/SAT-v0"} <= set(envs)
    compared = compare(outs, out_dir=tmp_path / "cmp", metric="success")
    assert "dojo/SAT-v0" in compared.winners
