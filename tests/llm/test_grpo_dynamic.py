"""GRPO's dynamic sampling (DAPO): groups without reward variance are dropped and replaced."""

import math

import gymnasium as gym
import numpy as np

from rldojo.envs.text.protocol import TextEnv, WorldStep

from .test_sft import build, lm_spec


class HalfFlat(TextEnv):
    """Even tasks: every reply wins (a group learns nothing). Odd tasks: only the red door wins."""

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    @property
    def num_tasks(self) -> int:
        return 1000

    def _load_task(self, task_id, rng):
        self.flat = task_id % 2 == 0
        return "Open the winning door.", "You see a blue door and a red door."

    def _step_world(self, action: str) -> WorldStep:
        won = self.flat or action == "open red door"
        return WorldStep(observation="Done.", reward=float(won), won=won, done=True)

    def _available_actions(self) -> list[str]:
        return ["open blue door", "open red door"]

    def _expert_action(self) -> str:
        return "open red door"


HALF_FLAT = "rldojo-test/HalfFlat-v0"
if HALF_FLAT not in gym.registry:
    gym.register(HALF_FLAT, entry_point=HalfFlat)


def _trainer(dynamic: bool, iterations: int = 3):
    raw = lm_spec(
        {"algo": "grpo", "groups": 2, "group_size": 8, "dynamic_sampling": dynamic, "max_sampling_rounds": 6},
        env={"id": HALF_FLAT, "num_envs": 8},
        max_new_tokens=8,
        iterations=iterations,
    )
    raw["agent"]["generation"]["action_mode"] = "choose"
    raw["agent"]["model"]["max_model_len"] = 256
    agent = build(raw)
    return agent.begin_stage(0)


def test_flat_groups_are_dropped_and_replaced():
    trainer = _trainer(dynamic=True)
    for report in trainer.steps():
        played = report.episodes
        by_group: dict[int, list[float]] = {}
        for ep in played:
            by_group.setdefault(ep.group, []).append(ep.reward)
        flat = [g for g, rewards in by_group.items() if len(set(rewards)) == 1]
        varied = [g for g, rewards in by_group.items() if len(set(rewards)) > 1]
        # every even task is flat, so more than the 2 groups asked for were played ...
        assert len(by_group) > 2 and flat
        assert report.metrics["adv_zero_groups"] == len(flat) / len(by_group)
        # ... and the update used the varied ones only, up to the 2 asked for
        assert report.metrics["groups_used"] == min(2, len(varied))
        assert math.isfinite(report.metrics["loss"])
        # success and return are those of every episode played
        assert report.metrics["success"] == np.mean([ep.won for ep in played])


def test_without_dynamic_sampling_one_round_is_played():
    trainer = _trainer(dynamic=False, iterations=2)
    for report in trainer.steps():
        assert len(report.episodes) == 16
        assert report.metrics["groups_used"] == 2
