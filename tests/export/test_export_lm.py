"""`rldojo export` for language-model runs: a Hugging Face folder that transformers loads offline
(LoRA merged), or the LoRA adapter alone for the run's base model."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from rldojo.cli import app
from rldojo.run.spec import spec_from_raw

from .conftest import train_run

pytest.importorskip("transformers")
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TINY = {
    "vocab_size": 400,
    "hidden_size": 32,
    "layers": 2,
    "heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 1024,
    "corpus_episodes": 30,
}
SFT = {"algo": "sft", "demo_episodes": 12, "epochs": 2, "batch_size": 6, "optim": {"lr": 3e-2}}


def lm_raw(model: dict, name: str = "lm_export") -> dict:
    return {
        "name": name,
        "env": {"id": "dojo/TextCraft-v0", "num_envs": 4, "kwargs": {"depths": [1], "max_turns": 5}},
        "agent": {**SFT, "model": {"max_model_len": 768, **model}, "generation": {"max_new_tokens": 8}},
        "train": {"eval_episodes": 2},
        "meta": {"sessions": 1, "seed": 0},
        "track": {"tensorboard": False, "plots": False},
    }


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    spec = spec_from_raw(lm_raw({"path": "tiny", "tiny": TINY}), [], source="test")
    return train_run(spec, tmp_path_factory.mktemp("lm-runs"))


def checkpoint_logits(run_dir, ids: torch.Tensor, which: str = "best") -> torch.Tensor:
    """Logits of the run's best checkpoint, through rldojo's own loading."""
    from rldojo.run.load import load_lm_agent, locate_checkpoint
    from rldojo.run.trial import read_run_spec

    _, ckpt = locate_checkpoint(run_dir, which)
    agent, envs = load_lm_agent(read_run_spec(run_dir), ckpt)
    for env in envs:
        env.close()
    model = agent.lm.model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits


def token_ids(folder) -> torch.Tensor:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return torch.tensor([tokenizer.encode("Goal: craft a stick. Action: get 1 oak planks")])


def test_hf_folder_loads_with_transformers_offline_and_matches_the_checkpoint(tiny_run, monkeypatch):
    from transformers import AutoModelForCausalLM

    result = cli("export", tiny_run)
    assert result.exit_code == 0, result.output
    folder = tiny_run / "export" / "model_s0_best"
    assert "as hf" in result.output and (folder / "config.json").is_file()
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    meta = json.loads((folder / "rldojo_export.json").read_text())
    assert meta["algo"] == "sft" and meta["base_model"] == "tiny" and meta["env"]["id"] == "dojo/TextCraft-v0"

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
    ids = token_ids(folder)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    torch.testing.assert_close(logits, checkpoint_logits(tiny_run, ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--adapter"], "no model.lora"),
        (["--format", "onnx"], "exported as a Hugging Face model folder"),
    ],
)
def test_lm_export_refusals_are_exit_2(tiny_run, args, message):
    result = cli("export", tiny_run, *args, "--out", tiny_run / "refused")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tiny_run / "refused").exists()


def test_lora_run_exports_merged_model_and_adapter_for_its_base(tiny_run, tmp_path):
    """A LoRA run on a local base model: the merged folder and base + adapter compute the same logits."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = tmp_path / "base"
    assert cli("export", tiny_run, "--out", base).exit_code == 0
    lora = {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "down_proj"]}
    spec = spec_from_raw(lm_raw({"path": str(base), "lora": lora}, name="lm_lora"), [], source="test")
    run_dir = train_run(spec, tmp_path / "runs")

    # best.pt is the base model's evaluation unless the stage beat it: there is no adapter in it
    refused = cli("export", run_dir, "--adapter", "--ckpt", "best", "--out", tmp_path / "none")
    if refused.exit_code != 0:
        assert refused.exit_code == 2 and "holds the base model unchanged" in " ".join(refused.output.split())
    merged_result = cli("export", run_dir, "--ckpt", "last")
    assert merged_result.exit_code == 0, merged_result.output
    assert "LoRA adapters merged" in " ".join(merged_result.output.split())
    adapter_result = cli("export", run_dir, "--adapter", "--ckpt", "last")
    assert adapter_result.exit_code == 0, adapter_result.output
    adapter = run_dir / "export" / "adapter_s0_last"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(base.resolve()) and config["r"] == 4
    assert (adapter / "adapter_model.safetensors").is_file()

    ids = token_ids(base)
    base_model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    with torch.no_grad():
        before = base_model(input_ids=ids).logits
    with_adapter = PeftModel.from_pretrained(base_model, str(adapter)).eval()
    merged = AutoModelForCausalLM.from_pretrained(str(run_dir / "export" / "model_s0_last"), local_files_only=True)
    with torch.no_grad():
        via_adapter = with_adapter(input_ids=ids).logits
        via_merged = merged.eval()(input_ids=ids).logits
    assert (via_merged - before).abs().max() > 1e-3  # training moved the model: the test can tell
    torch.testing.assert_close(via_adapter, via_merged, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(via_merged, checkpoint_logits(run_dir, ids, "last"), atol=1e-5, rtol=1e-5)


def test_adapter_of_a_checkpoint_taken_inside_a_lora_stage(tmp_path):
    """Mid-stage the checkpoint holds live peft adapters (not yet merged): the adapter and the merged
    folder come out of it the same way."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rldojo.run.agents import build_lm_agent, make_text_envs
    from rldojo.run.checkpoint import save_checkpoint
    from rldojo.run.trial import new_run_dir, write_spec_file

    tiny_spec = spec_from_raw(lm_raw({"path": "tiny", "tiny": TINY}, name="base"), [], source="test")
    base = tmp_path / "base"
    envs = make_text_envs(tiny_spec, 1)
    build_lm_agent(tiny_spec, 0, envs).lm.export(base)
    lora = {"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["q_proj", "o_proj"]}
    spec = spec_from_raw(lm_raw({"path": str(base), "lora": lora}, name="mid"), [], source="test")
    run_dir = new_run_dir(spec, tmp_path / "runs")
    write_spec_file(run_dir, spec, None)
    agent = build_lm_agent(spec, 0, envs)
    agent.begin_stage(0)
    assert agent.lm.has_adapters
    torch.manual_seed(0)
    with torch.no_grad():  # what some training steps would do: the B matrices move away from zero
        for name, param in agent.lm.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    ids = token_ids(base)
    with torch.no_grad():
        expected = agent.lm.model.eval()(input_ids=ids).logits
    ckpt = run_dir / "s0" / "ckpt" / "last.pt"
    save_checkpoint(ckpt, {"seed": 0, "frame": 0, "agent": agent.state_dict()})
    for env in envs:
        env.close()

    assert cli("export", ckpt, "--adapter", "--out", tmp_path / "adapter").exit_code == 0
    assert cli("export", ckpt, "--out", tmp_path / "merged").exit_code == 0
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 2 and sorted(config["target_modules"]) == sorted(
        f"model.layers.{i}.self_attn.{m}" for i in range(2) for m in ("q_proj", "o_proj")
    )
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(tmp_path / "adapter"))
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), local_files_only=True)
    with torch.no_grad():
        torch.testing.assert_close(with_adapter.eval()(input_ids=ids).logits, expected, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(merged.eval()(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-5)
