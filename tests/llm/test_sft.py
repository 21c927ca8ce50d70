import json

import gymnasium as gym
import pytest

from rldojo.errors import UserError
from rldojo.run.spec import spec_from_raw

from .conftest import TEST_TINY


def lm_spec(agent: dict, env: dict | None = None, max_new_tokens: int = 16, **train) -> dict:
    return {
        "name": "llm_test",
        "env": env or {"id": "dojo/TextCraft-v0", "num_envs": 8, "kwargs": {"depths": [1], "max_turns": 5}},
        "agent": {
            "model": {"path": "tiny", "max_model_len": 768, "tiny": TEST_TINY},
            "generation": {"max_new_tokens": max_new_tokens},
            **agent,
        },
        "train": {"eval_episodes": 4, **train},
        "meta": {"sessions": 1, "seed": 0},
        "track": {"tensorboard": False, "plots": False},
    }


def build(raw: dict):
    from rldojo.run.agents import build_lm_agent, make_text_envs

    spec = spec_from_raw(raw, [], source="test")
    return build_lm_agent(spec, 0, make_text_envs(spec, spec.env.num_envs))


def test_sft_lowers_the_validation_loss_and_keeps_the_best_weights():
    agent = build(
        lm_spec(
            {
                "algo": "sft",
                "demo_episodes": 40,
                "epochs": 4,
                "batch_size": 6,
                "micro_batch_size": 3,
                "optim": {"lr": 1e-2, "schedule": "cosine", "warmup": 0.1},
            }
        )
    )
    trainer = agent.begin_stage(0)
    assert len(trainer.val) == 4 and len(trainer.train) == 36
    assert all(ep.won and ep.generated_tokens > 0 for ep in trainer.train + trainer.val)
    before = trainer.validation_loss()
    reports = list(trainer.steps())
    assert len(reports) == 4 * 6 and sum(r.frames for r in reports) == 4 * sum(ep.turns for ep in trainer.train)
    lrs = [r.lr for r in reports]
    assert lrs[0] < lrs[2] and lrs[-1] < 0.05 * max(lrs)  # warm-up, then cosine decay toward 0
    agent.end_stage()
    after = trainer.validation_loss()
    assert after < 0.8 * before
    assert after == pytest.approx(trainer.best_val, rel=1e-4)


def test_sft_on_chat_transcripts_trains_only_assistant_tokens(tmp_path):
    path = tmp_path / "chats.jsonl"
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"Goal: item {i}"},
                {"role": "assistant", "content": f"Action: get {i} poppy"},
                {"role": "user", "content": "Got it."},
                {"role": "assistant", "content": "Action: inventory"},
            ]
        }
        for i in range(12)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    agent = build(lm_spec({"algo": "sft", "demos": str(path), "epochs": 2, "batch_size": 4}))
    trainer = agent.begin_stage(0)
    demos = trainer.train + trainer.val
    assert len(demos) == 12 and all(ep.turns == 2 for ep in demos)
    tok = agent.lm.tokenizer
    for ep in demos:
        trained = tok.decode([t for t, m in zip(ep.token_ids, ep.mask) if m], skip_special_tokens=True)
        assert trained.startswith("Action: get") and trained.endswith("Action: inventory") and "Goal" not in trained
    list(trainer.steps())

    path.write_text(json.dumps({"messages": [{"role": "assistant", "content": "x"}]}) + "\n")
    with pytest.raises(UserError, match=r"line 1: messages must be .*alternating"):
        agent.begin_stage(0)


def test_sft_needs_an_expert_or_a_transcript_file():
    with pytest.raises(UserError, match="neither `expert` nor an existing JSONL"):
        build(lm_spec({"algo": "sft", "demos": "/no/such/file.jsonl"})).begin_stage(0)


def test_language_model_agents_refuse_tensor_envs():
    from rldojo.run.agents import build_agent

    spec = spec_from_raw(lm_spec({"algo": "grpo"}, env={"id": "CartPole-v1", "num_envs": 2}), [], source="test")
    env = gym.make("CartPole-v1")
    with pytest.raises(TypeError, match="needs a text env"):
        build_agent(spec, env.observation_space, env.action_space, 2, 0)


def test_noisy_expert_replaces_the_given_share_of_actions_by_listed_ones():
    from rldojo.algos.sft import noisy_expert

    info = {"expert_action": "get 1 stick", "available_actions": ["get 1 stick", "get 2 wool", "inventory"]}
    assert all(noisy_expert(0.0, 0)(info) == "get 1 stick" for _ in range(50))
    always = noisy_expert(1.0, 0)
    drawn = [always(info) for _ in range(300)]
    assert set(drawn) == set(info["available_actions"])  # uniform over the listed actions
    half = noisy_expert(0.5, 0)
    swapped = sum(half(info) != "get 1 stick" for _ in range(3000)) / 3000
    assert abs(swapped - 0.5 * 2 / 3) < 0.04  # a draw may land on the expert's own action
    assert noisy_expert(1.0, 0)({"expert_action": None, "available_actions": ["x"]}) is None  # the end stays


def test_noisy_demonstrations_show_detours_and_still_win():
    def demos(noise):
        agent = build(lm_spec({"algo": "sft", "demo_episodes": 30, "demo_noise": noise}))
        return agent.begin_stage(0).train

    clean, noisy = demos(0.0), demos(0.3)
    assert all(ep.won for ep in clean + noisy)
    # detours cost turns: the noisy expert's wins take longer on average
    assert sum(ep.turns for ep in noisy) / len(noisy) > sum(ep.turns for ep in clean) / len(clean)
