"""model.dtype, gradient_checkpointing, attn_implementation and load_in on the CPU."""

import math

import pytest
import torch

from rldojo.errors import SpecError, UserError
from rldojo.llm.batch import TrainForwards, make_batch, token_logprobs
from rldojo.run.spec import spec_from_raw

from .test_sft import build, lm_spec

SFT = {"algo": "sft", "demo_episodes": 24, "epochs": 2, "batch_size": 6, "optim": {"lr": 1e-2}}


def _with_model(agent: dict, **model) -> dict:
    raw = lm_spec(agent, max_new_tokens=8)
    raw["agent"]["model"].update(model)
    return raw


def test_bfloat16_trains_on_the_cpu():
    agent = build(_with_model(SFT, dtype="bfloat16"))
    assert {p.dtype for p in agent.lm.model.parameters()} == {torch.bfloat16}
    trainer = agent.begin_stage(0)
    before = trainer.validation_loss()
    for _ in trainer.steps():
        pass
    after = trainer.validation_loss()
    assert math.isfinite(after) and after < before
    # generation and a GRPO step run in bfloat16 too
    grpo = build(_with_model({"algo": "grpo", "group_size": 2, "groups": 2}, dtype="bfloat16"))
    row = next(iter(grpo.begin_stage(0).steps())).metrics
    assert math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])


def test_gradient_checkpointing_gives_the_same_log_probs_and_gradients():
    plain = build(_with_model(SFT))
    checkpointed = build(_with_model(SFT, gradient_checkpointing=True))
    checkpointed.lm.model.load_state_dict(plain.lm.model.state_dict())
    episodes = plain.begin_stage(0).train[:4]
    pad = plain.actor.backend.pad_id
    grads = []
    for agent in (plain, checkpointed):
        forward = TrainForwards()(agent.lm.model)
        assert (forward is agent.lm.model) == (agent is checkpointed)  # the lean forward keeps activations
        agent.lm.model.train()
        logp, _ = token_logprobs(forward, make_batch(episodes, pad), 1.0)
        (logp * make_batch(episodes, pad).mask).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in agent.lm.model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


def test_eager_attention_matches_sdpa():
    sdpa = build(_with_model(SFT))
    eager = build(_with_model(SFT, attn_implementation="eager"))
    eager.lm.model.load_state_dict(sdpa.lm.model.state_dict())
    ids = torch.arange(5, 25)[None]
    with torch.no_grad():
        torch.testing.assert_close(sdpa.lm.model(ids).logits, eager.lm.model(ids).logits, rtol=1e-4, atol=1e-4)


def test_settings_this_machine_cannot_honour_are_clear_errors():
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="float16 needs a CUDA GPU"):
            build(_with_model(SFT, dtype="float16"))
        with pytest.raises(UserError, match="flash_attention_2 needs a CUDA GPU"):
            build(_with_model(SFT, attn_implementation="flash_attention_2"))
    with pytest.raises(SpecError, match="only LoRA training"):
        spec_from_raw(_with_model(SFT, load_in="4bit"), [], source="test")


def test_a_quantised_base_needs_bitsandbytes_and_a_gpu(tmp_path):
    import importlib.util

    build(_with_model(SFT)).lm.export(tmp_path / "model")
    raw = _with_model(SFT, path=str(tmp_path / "model"), lora={"r": 4, "alpha": 8}, load_in="8bit")
    need = "not installed" if importlib.util.find_spec("bitsandbytes") is None else "needs a CUDA GPU"
    if importlib.util.find_spec("bitsandbytes") is not None and torch.cuda.is_available():
        pytest.skip("bitsandbytes and a GPU are here: the quantised load itself is for the GPU check")
    with pytest.raises(UserError, match=f"load_in: 8bit .*{need}"):
        build(raw)
