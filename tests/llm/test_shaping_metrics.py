"""Shaping you can see: the native return, the bonus and each shaping term in every RL iteration's row."""

import pytest

from rldojo.llm.rollout import SHAPING_TERMS
from rldojo.run.agents import build_lm_agent, make_text_envs
from rldojo.run.spec import spec_from_raw

from .test_sft import lm_spec


def _rows(shaping: dict | None) -> list[dict]:
    raw = lm_spec({"algo": "grpo", "group_size": 2, "groups": 2}, max_new_tokens=6, iterations=2)
    raw["agent"]["generation"]["action_mode"] = "choose"  # actions from the world's list: mostly valid
    if shaping is not None:
        raw["env"]["shaping"] = shaping
    spec = spec_from_raw(raw, [], source="test")
    agent = build_lm_agent(spec, 0, make_text_envs(spec, spec.env.num_envs, shaped=True))  # as a session does
    trainer = agent.begin_stage(0)
    return [report.metrics for report in trainer.steps()]


def test_rows_split_the_training_reward_into_native_return_and_each_term():
    rows = _rows({"valid_action": 0.5, "state_change": 0.25})
    for row in rows:
        assert row["reward_mean"] == pytest.approx(row["native_return"] + row["shaping_bonus"])
        terms = sum(row[f"shaping_{term}"] for term in SHAPING_TERMS)
        assert row["shaping_bonus"] == pytest.approx(terms)
        assert row["shaping_task_keyword"] == 0.0  # weight 0: never paid
    assert any(row["shaping_valid_action"] > 0 for row in rows)


def test_without_shaping_the_bonus_is_zero():
    for row in _rows(None):
        assert row["shaping_bonus"] == 0.0 and row["native_return"] == row["reward_mean"]
