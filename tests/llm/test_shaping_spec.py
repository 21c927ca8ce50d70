"""`env.shaping` in a spec: training envs of language-model agents are shaped, evaluation is not."""

import pytest

from rldojo.errors import SpecError, UserError
from rldojo.run.spec import spec_from_raw

from .test_sft import lm_spec

SHAPING = {"valid_action": 1.0, "state_change": 0.25}


def _shaped_spec(**shaping):
    raw = lm_spec({"algo": "grpo", "group_size": 2, "groups": 2}, max_new_tokens=6)
    raw["agent"]["generation"]["action_mode"] = "choose"  # every action is one the world lists: valid
    raw["env"]["shaping"] = shaping or SHAPING
    return spec_from_raw(raw, [], source="test")


def test_shaping_weights_are_validated_by_the_spec():
    assert _shaped_spec().env.shaping.valid_action == 1.0
    with pytest.raises(SpecError, match="valid_actoin"):
        _shaped_spec(valid_actoin=1.0)
    with pytest.raises(SpecError, match="episode_bonus_cap"):
        _shaped_spec(episode_bonus_cap=-1.0)
    assert _shaped_spec(invalid_action=-0.1).env.shaping.invalid_action == -0.1  # a penalty


def test_shaping_on_a_non_text_env_is_refused_before_anything_is_written():
    from rldojo.run.trial import preflight

    raw = {"name": "cartpole", "env": {"id": "CartPole-v1", "shaping": SHAPING}, "agent": {"algo": "ppo"}}
    with pytest.raises(UserError, match="needs a text world"):
        preflight(spec_from_raw(raw, [], source="test"))


def test_training_episodes_carry_the_bonus_and_evaluation_reports_the_native_reward():
    from rldojo.evaluate.play import play_held_out, summarize
    from rldojo.run.agents import build_lm_agent, held_out_starts, make_text_envs

    spec = _shaped_spec()
    agent = build_lm_agent(spec, 0, make_text_envs(spec, spec.env.num_envs, shaped=True))
    starts = held_out_starts(spec, 3, 4)
    trained = agent.play(starts)
    for ep in trained:  # every chosen action is valid: each turn earns at least the valid-action bonus
        assert ep.reward >= 1.0 * ep.turns + float(ep.won) - 1e-6
    evaluated = play_held_out(agent, starts, 3)
    summary = summarize(evaluated)
    for ep in evaluated:  # TextCraft's native reward: 1 for crafting the goal, else 0
        assert ep["return"] == pytest.approx(ep["success"])
    assert summary["return_mean"] == pytest.approx(sum(ep["return"] for ep in evaluated) / len(evaluated))
    assert all(env.enabled for env in agent.runtime.envs)  # shaping is back on for training


def test_envs_are_unshaped_without_the_field():
    from rldojo.envs.text import ShapedReward
    from rldojo.run.agents import make_text_envs

    spec = spec_from_raw(lm_spec({"algo": "grpo"}), [], source="test")
    assert not any(isinstance(env, ShapedReward) for env in make_text_envs(spec, 2, shaped=True))
