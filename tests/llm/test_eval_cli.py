"""`rldojo eval` on a language-model run: held-out tasks, native rewards, eval.json per env."""

import json

import pytest
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import spec_from_raw

from .test_sft import lm_spec

GRPO = {"algo": "grpo", "group_size": 2, "groups": 2, "micro_batch_size": 8, "optim": {"lr": 1e-3}}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file

    raw = lm_spec(GRPO, max_new_tokens=6, iterations=1)
    raw["env"]["shaping"] = {"valid_action": 0.5}  # training is shaped; eval must report the native reward
    spec = spec_from_raw(raw, [], source="test")
    run_dir = new_run_dir(spec, tmp_path_factory.mktemp("runs"))
    write_spec_file(run_dir, spec, None)
    assert run_trial(spec, run_dir, show_progress=False)["status"] == "done"
    return run_dir


def _eval(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)], env={"COLUMNS": "200"})


def test_eval_plays_held_out_tasks_and_writes_native_rewards(lm_run, tmp_path):
    from rldojo.run.evaluate_run import evaluate_run

    out = tmp_path / "eval.json"
    result = _eval(lm_run, "--episodes", "4", "--seed", "11", "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    row = report["envs"]["dojo/TextCraft-v0"]
    assert row["episodes"] == 4 and report["what"]["algo"] == "grpo" and report["what"]["deterministic"] is True
    assert row["returns"] == [float(s) for s in row["success"]]  # TextCraft's native reward: 1 on a win
    # The same call from Python plays the same held-out tasks (seeded draws, greedy-or-seeded sampling).
    _, played, _ = evaluate_run(lm_run, None, 4, seed=11)
    assert [ep["return"] for ep in played["dojo/TextCraft-v0"]] == row["returns"]


def test_eval_of_a_language_model_on_a_non_text_env_exits_2(lm_run, tmp_path):
    out = tmp_path / "eval.json"
    result = _eval(lm_run, "--envs", "CartPole-v1", "--episodes", "2", "--out", out)
    assert result.exit_code == 2 and "not a text world" in result.output and not out.exists()
