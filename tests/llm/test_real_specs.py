"""The real-model specs (specs/llm/real/): their tuned values, the error when MODEL_PATH is unset, and
`rldojo dev` of each with the tiny model swapped in through --set (the rest of the spec as shipped:
LoRA, bfloat16, gradient checkpointing, token-budget micro-batches)."""

import json

import pytest
import torch
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import load_spec

from .conftest import TEST_TINY

ALFWORLD = "llm/real/alfworld_grpo_lora"
AFFINE = "llm/real/affine_sft_grpo_lora"

#: The tiny test model in place of $MODEL_PATH, a small budget; Deduction prompts are long in a
#: 400-token vocabulary, hence 4096 positions; a dozen expert episodes make the tokenizer.
TINY_MODEL = [
    "agent.model.path=tiny",
    "agent.model.max_model_len=4096",
    *(
        f"agent.model.tiny.{key}={value}"
        for key, value in (TEST_TINY | {"max_position_embeddings": 4096, "corpus_episodes": 12}).items()
    ),
    "env.num_envs=2",
    "agent.generation.max_new_tokens=8",
    "train.eval_episodes=2",
    "track.tensorboard=false",
    "track.plots=false",
]


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_the_alfworld_spec_has_the_tuned_values(monkeypatch):
    monkeypatch.setenv("MODEL_PATH", "/models/Qwen2.5-7B-Instruct")
    agent = load_spec(ALFWORLD).agent
    model = agent.model
    assert model.path == "/models/Qwen2.5-7B-Instruct"
    assert (model.dtype, model.max_model_len) == ("bfloat16", 24576)
    assert (model.lora.r, model.lora.alpha, model.lora.dropout) == (24, 48, 0.05)
    assert (agent.beta, agent.group_size, agent.generation.temperature) == (0.02, 6, 0.75)
    assert agent.optim.lr == pytest.approx(3e-5)
    assert load_spec(ALFWORLD).meta.device == "auto"
    affine = load_spec(AFFINE)
    assert affine.env.id == "dojo/Mixture-v0"
    worlds = [world["id"] for world in affine.env.kwargs["worlds"]]
    assert worlds == ["dojo/SAT-v0", "dojo/Abduction-v0", "dojo/Deduction-v0"]
    assert [stage.algo for stage in affine.agent.stages] == ["sft", "grpo"]
    grpo = affine.agent.stages[1]
    assert (grpo.beta, grpo.group_size, grpo.optim.lr) == (0.02, 6, pytest.approx(3e-5))


@pytest.mark.parametrize("spec_name", [ALFWORLD, AFFINE])
def test_an_unset_model_path_is_an_exit_2_error_naming_it(tmp_path, monkeypatch, spec_name):
    monkeypatch.delenv("MODEL_PATH", raising=False)
    result = _invoke("train", spec_name, "--runs-dir", str(tmp_path), "-q")
    assert result.exit_code == 2
    assert "MODEL_PATH" in result.output and "agent.model.path" in result.output
    assert not list(tmp_path.iterdir())  # nothing was started


def test_alfworld_spec_without_alfworld_data_is_an_exit_2_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    sets = [*TINY_MODEL, "env.num_envs=1"]
    result = _invoke("dev", ALFWORLD, "--runs-dir", str(tmp_path), "-q", *(a for s in sets for a in ("--set", s)))
    assert result.exit_code == 2
    assert "ALFWORLD_DATA" in result.output and "source 'generated'" in result.output


def test_alfworld_spec_passes_dev_with_the_tiny_model(tmp_path, monkeypatch):
    """ALFWorld's game files are not here: the generated scenes (same task types and commands)."""
    monkeypatch.delenv("MODEL_PATH", raising=False)
    sets = [*TINY_MODEL, "env.kwargs.source=generated", "env.kwargs.max_turns=3"]
    result = _invoke("dev", ALFWORLD, "--runs-dir", str(tmp_path), "-q", *(a for s in sets for a in ("--set", s)))
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.glob("alfworld_grpo_lora-dev_*")
    assert json.loads((run_dir / "trial.json").read_text())["status"] == "done"
    spec = (run_dir / "spec.yaml").read_text()
    assert "bfloat16" in spec and "r: 24" in spec  # the spec's own precision and adapters were used
    rows = (run_dir / "s0" / "metrics.csv").read_text().splitlines()
    assert len(rows) >= 2 and "loss" in rows[0]


def test_affine_spec_passes_dev_with_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.delenv("MODEL_PATH", raising=False)
    sets = [*TINY_MODEL, "agent.model.dtype=float32"]
    result = _invoke("dev", AFFINE, "--runs-dir", str(tmp_path), "-q", *(a for s in sets for a in ("--set", s)))
    assert result.exit_code == 0, result.output
    (run_dir,) = tmp_path.glob("affine_sft_grpo_lora-dev_*")
    trial = json.loads((run_dir / "trial.json").read_text())
    assert trial["status"] == "done"
    assert [s["stage"] for s in trial["sessions"][0]["stages"]] == ["base", "sft", "grpo"]


def test_precision_messages_name_the_actual_obstacle(monkeypatch):
    """float16 on a machine with a GPU but meta.device cpu: the device choice is the obstacle."""
    from rldojo.errors import UserError
    from rldojo.llm.config import ModelConfig
    from rldojo.llm.model import check_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(UserError, match="meta.device resolves to cpu") as error:
        check_precision(ModelConfig(dtype="float16"), "cpu")
    assert "no usable CUDA GPU" not in str(error.value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="this machine has no usable CUDA GPU"):
        check_precision(ModelConfig(dtype="float16"), "cpu")
    check_precision(ModelConfig(dtype="float16"), "cuda")  # nothing to object to on a GPU
