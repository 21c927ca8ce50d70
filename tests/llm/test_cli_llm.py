"""The shipped LLM pipeline specs run through the CLI (`rldojo dev`) with a tiny budget."""

import json

import pytest
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import load_spec

from .conftest import TEST_TINY


@pytest.mark.parametrize("spec_name", ["llm/textcraft_sft_grpo", "llm/babyai_sft_grpo", "llm/sat_sft_grpo"])
def test_shipped_llm_specs_pass_dev_with_a_tiny_budget(tmp_path, spec_name):
    spec = load_spec(spec_name)
    tiny = [f"agent.model.tiny.{key}={value}" for key, value in TEST_TINY.items()]
    small = [
        "agent.stages.0.demo_episodes=8",
        "agent.stages.0.epochs=1",
        "agent.stages.1.groups=1",
        "agent.stages.1.group_size=2",
        "train.iterations=1",
        "train.eval_episodes=2",
        "env.num_envs=2",
        "agent.generation.max_new_tokens=4",
        "agent.model.max_model_len=1024",
        "track.tensorboard=false",
        "track.plots=false",
    ]
    args = ["dev", spec_name, "--runs-dir", str(tmp_path), "-q"]
    for item in tiny + small:
        args += ["--set", item]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.glob(f"{spec.name}-dev_*")
    trial = json.loads((run_dir / "trial.json").read_text())
    assert trial["status"] == "done"
    assert [s["stage"] for s in trial["sessions"][0]["stages"]] == ["base", "sft", "grpo"]


def test_a_spec_asking_for_more_context_than_the_tiny_model_has_fails_before_any_run_folder(tmp_path):
    result = CliRunner().invoke(
        app,
        ["train", "llm/sat_sft_grpo", "--runs-dir", str(tmp_path), "-q", "--set", "agent.model.max_model_len=8192"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "max_model_len=8192 asks for more context than the tiny model" in result.output
    assert not list(tmp_path.iterdir())
