"""GRPO in `choose` mode trains the choice among listed actions (every candidate with gradients)."""

import gymnasium as gym
import numpy as np
import torch

from rldojo.envs.text.protocol import TextEnv, WorldStep

from .test_sft import build, lm_spec

DOORS = ["open blue door", "open red door", "open green door", "open grey door"]


class RedDoor(TextEnv):
    """One turn: four doors listed in a task-dependent order; only the red one wins."""

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    @property
    def num_tasks(self) -> int:
        return 1000

    def _load_task(self, task_id, rng):
        self.order = [DOORS[i] for i in np.random.default_rng(task_id).permutation(len(DOORS))]
        return "Open the winning door.", "You see four doors."

    def _step_world(self, action: str) -> WorldStep:
        won = action == "open red door"
        return WorldStep(observation="Done.", reward=float(won), won=won, done=True)

    def _available_actions(self) -> list[str]:
        return list(self.order)

    def _expert_action(self) -> str:
        return "open red door"


RED_DOOR = "rldojo-test/RedDoor-v0"
if RED_DOOR not in gym.registry:
    gym.register(RED_DOOR, entry_point=RedDoor)


def test_choose_mode_grpo_learns_to_pick_the_winning_action_from_scratch():
    raw = lm_spec(
        {"algo": "grpo", "groups": 4, "group_size": 8, "beta": 0.0, "optim": {"lr": 3e-3}},
        env={"id": RED_DOOR, "num_envs": 8},
        max_new_tokens=8,
        iterations=12,
    )
    raw["agent"]["generation"].update(action_mode="choose", temperature=2.0)
    raw["agent"]["model"]["max_model_len"] = 256
    trainer = build(raw).begin_stage(0)
    reports = list(trainer.steps())
    first, last = reports[0].metrics, reports[-1].metrics
    assert first["success"] < 0.6
    # the last iterations play the red door nearly always, and the choice's entropy (nats) fell
    assert np.mean([r.metrics["success"] for r in reports[-3:]]) > 0.9
    assert last["entropy"] < first["entropy"] and first["entropy"] <= np.log(len(DOORS)) + 1e-6


def _red_door_trainer(explore, explored_losses, iterations=1):
    raw = lm_spec(
        {"algo": "grpo", "groups": 2, "group_size": 8, "explored_losses": explored_losses, "optim": {"lr": 3e-3}},
        env={"id": RED_DOOR, "num_envs": 8},
        max_new_tokens=8,
        iterations=iterations,
    )
    raw["agent"]["generation"].update(action_mode="choose", temperature=1.0, explore=explore)
    raw["agent"]["model"]["max_model_len"] = 256
    return build(raw).begin_stage(0)


def test_explored_turns_of_losing_episodes_are_skipped_unless_asked(monkeypatch):
    import rldojo.algos.grpo as grpo

    seen = []
    real_loss = grpo.grpo_loss

    def spy(logp, old, advantages, mask, *args, **kwargs):
        seen.append((advantages.clone(), mask.clone()))
        return real_loss(logp, old, advantages, mask, *args, **kwargs)

    monkeypatch.setattr(grpo, "grpo_loss", spy)
    for explored_losses in ("skip", "train"):
        seen.clear()
        report = next(iter(_red_door_trainer(1.0, explored_losses).steps()))
        assert report.metrics["explored"] == 1.0  # every turn was drawn by the exploration
        advantages = torch.cat([a for a, _ in seen])
        trained = torch.cat([m[:, 0] for _, m in seen])
        assert (advantages < 0).any() and (advantages > 0).any()
        if explored_losses == "skip":  # only the better-than-group episodes' turns are trained
            assert torch.equal(trained, (advantages >= 0).float())
        else:
            assert (trained == 1).all()
