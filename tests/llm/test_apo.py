"""A*PO (`algo: apo`): V*, both losses and their gradients by hand, the V* cache, resume, and learning."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import pytest
import torch

from rldojo.algos.apo import (
    PG_VSTAR_CLIP,
    APOParams,
    apo_loss,
    optimal_value,
    pg_vstar_advantages,
    pg_vstar_loss,
    read_vstar_cache,
)
from rldojo.envs.text.protocol import NOTHING_HAPPENS, TextEnv, WorldStep
from rldojo.errors import SpecError, UserError
from rldojo.run import interrupt
from rldojo.run.spec import spec_from_raw
from rldojo.track.tracker import read_metrics

from .test_sft import build, lm_spec

DOORS_ID = "test/TwoDoors-v0"


class TwoDoors(TextEnv):
    """One turn: open the red door (reward 1, won) or the blue one (0). Every `locked_every`-th task
    (ids with id % locked_every == 1) rewards neither door: no policy solves it."""

    has_expert = True

    def __init__(self, locked_every: int = 0, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.locked_every = locked_every

    @property
    def num_tasks(self) -> int:
        return 64

    def _load_task(self, task_id, rng):
        self._locked = bool(self.locked_every) and task_id % self.locked_every == 1
        red, blue = "open red door", "open blue door"
        self._doors = [red, blue] if task_id % 2 else [blue, red]  # the listed order tells nothing
        return "Open the red door.", f"Room {task_id}: a red door and a blue door."

    def _step_world(self, action: str) -> WorldStep:
        if action not in self._doors:
            return WorldStep(observation=NOTHING_HAPPENS, valid=False)
        won = action == "open red door" and not self._locked
        return WorldStep(observation="The door opens.", reward=float(won), won=won, done=not won)

    def _available_actions(self) -> list[str]:
        return list(self._doors)

    def _expert_action(self) -> str:
        return "open red door"


if DOORS_ID not in gym.registry:
    gym.register(DOORS_ID, entry_point=TwoDoors)


def doors_spec(agent: dict, locked_every: int = 0, **train) -> dict:
    """A one-turn world where the model chooses between the two listed actions."""
    raw = lm_spec(
        {"algo": "apo", **agent},
        env={"id": DOORS_ID, "num_envs": 8, "kwargs": {"locked_every": locked_every}},
        max_new_tokens=8,
        **train,
    )
    raw["agent"]["generation"]["action_mode"] = "choose"
    raw["agent"]["model"]["max_model_len"] = 256
    return raw


# ---- the math ---------------------------------------------------------------------------------
def test_vstar_is_a_soft_maximum_of_the_k_returns():
    rewards = torch.tensor([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.2, 0.9, 0.4, 0.1]])
    by_hand = 0.5 * math.log((2 + 2 * math.exp(2.0)) / 4)  # beta1 * ln mean exp(r / beta1)
    vstar = optimal_value(rewards, 0.5)
    assert float(vstar[0]) == pytest.approx(by_hand) and float(vstar[1]) == 0.0
    torch.testing.assert_close(optimal_value(rewards, 1e-4), rewards.max(dim=1).values.double(), atol=2e-4, rtol=0)
    torch.testing.assert_close(optimal_value(rewards, 1e4), rewards.mean(dim=1).double(), atol=1e-4, rtol=0)
    assert (optimal_value(rewards, 0.5) >= rewards.mean(dim=1)).all()  # between the mean and the max
    assert (optimal_value(rewards, 0.5) <= rewards.max(dim=1).values).all()
    huge = optimal_value(torch.tensor([1000.0, 0.0]), 0.01)  # exp(1e5) overflows; logsumexp does not
    assert float(huge) == pytest.approx(1000.0 - 0.01 * math.log(2))


def toy_episodes():
    """Two episodes' token log-probabilities under pi and pi_ref; mask 1 on the model's tokens."""
    logp = torch.tensor([[-1.0, -0.5, -2.0, -0.1], [-0.3, -1.2, -0.7, -0.9]])
    ref = torch.tensor([[-1.2, -0.4, -2.0, -0.6], [-0.5, -1.0, -0.2, -0.9]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0]])
    rewards, vstar = torch.tensor([1.0, 0.0]), torch.tensor([0.7, 0.4])
    return logp, ref, mask, rewards, vstar


def test_apo_loss_and_its_gradient_by_hand():
    logp, ref, mask, rewards, vstar = toy_episodes()
    beta2 = 0.3
    delta = [(-1.0 + 1.2) + (-0.5 + 0.4) + (-0.1 + 0.6), (-1.2 + 1.0) + (-0.7 + 0.2) + 0.0]  # masked sums
    advantage = [1.0 - 0.7, 0.0 - 0.4]
    residual = [beta2 * d - a for d, a in zip(delta, advantage)]
    leaf = logp.clone().requires_grad_(True)
    loss, log_ratio = apo_loss(leaf, ref, mask, rewards, vstar, beta2)
    torch.testing.assert_close(log_ratio, torch.tensor(delta))
    assert float(loss.detach()) == pytest.approx(sum(r * r for r in residual) / 2, rel=1e-6)
    loss.backward()
    # d/d logp_t of mean_i (beta2 * delta_i - A_i)^2 = 2 * beta2 * (beta2 * delta_i - A_i) * mask_t / N
    closed_form = 2 * beta2 * torch.tensor(residual)[:, None] * mask / 2
    torch.testing.assert_close(leaf.grad, closed_form)


def test_apo_loss_over_micro_batches_adds_up_to_the_batch_and_is_a_policy_gradient_at_the_reference():
    logp, ref, mask, rewards, vstar = toy_episodes()
    full, _ = apo_loss(logp, ref, mask, rewards, vstar, 0.3)
    parts = sum(
        apo_loss(logp[i : i + 1], ref[i : i + 1], mask[i : i + 1], rewards[i : i + 1], vstar[i : i + 1], 0.3, 2)[0]
        for i in range(2)
    )
    assert float(parts) == pytest.approx(float(full))
    leaf = ref.clone().requires_grad_(True)  # pi = pi_ref: the gradient is -2 beta2 (r - V*) per token
    apo_loss(leaf, ref, mask, rewards, vstar, 0.3)[0].backward()
    torch.testing.assert_close(leaf.grad, -2 * 0.3 * (rewards - vstar)[:, None] * mask / 2)


def test_pg_vstar_normalises_clips_and_weights_the_episode_log_probability():
    advantages = torch.tensor([1.0, 3.0, -1.0, 5.0])
    normalised, clipped = pg_vstar_advantages(advantages)
    by_hand = (advantages - 2.0) / math.sqrt((1 + 1 + 9 + 9) / 4)  # mean 2, population std sqrt(5)
    torch.testing.assert_close(normalised, by_hand, rtol=1e-5, atol=1e-6)
    assert not clipped.any()
    outlier = torch.tensor([0.0] * 40 + [1.0])  # z of the outlier: (1 - 1/41) / sqrt(40) * 41 = 6.3
    normalised, clipped = pg_vstar_advantages(outlier)
    assert float(normalised[-1]) == PG_VSTAR_CLIP and clipped.tolist() == [False] * 40 + [True]
    assert float(normalised[0]) == pytest.approx(-(1 / 41) / math.sqrt(40 / 41**2), rel=1e-4)
    assert pg_vstar_advantages(torch.zeros(3))[0].tolist() == [0.0, 0.0, 0.0]  # equal returns: no signal
    logp, _, mask, _, _ = toy_episodes()
    weights = torch.tensor([1.5, -0.5])
    leaf = logp.clone().requires_grad_(True)
    loss = pg_vstar_loss(leaf, mask, weights, beta=0.2)
    sums = (logp * mask).sum(dim=1)
    assert float(loss.detach()) == pytest.approx(float(-0.2 * (weights * sums).sum() / 2))
    loss.backward()
    torch.testing.assert_close(leaf.grad, -0.2 * weights[:, None] * mask / 2)


def test_the_section_refuses_what_it_would_not_use():
    assert APOParams().model_dump(include={"k", "beta1", "beta2", "loss"}) == {
        "k": 8,
        "beta1": 0.5,
        "beta2": 1e-3,
        "loss": "apo",
    }
    with pytest.raises(SpecError, match="beta1"):
        spec_from_raw(doors_spec({"loss": "pg_vstar", "beta1": 0.2}), [], source="test")
    with pytest.raises(SpecError, match="vstar_cache"):
        spec_from_raw(doors_spec({"vstar_cache": "/no/such/vstar.json"}), [], source="test")
    spec = spec_from_raw(doors_spec({"num_tasks": 100, "k": 8}), [], source="test")
    dev = spec.agent.scaled_for_dev()
    assert (dev.num_tasks, dev.k, dev.tasks_per_iteration) == (4, 2, 2)


# ---- the V* cache and resume ------------------------------------------------------------------
def doors_agent(tmp_path, **agent):
    raw = doors_spec({"num_tasks": 4, "k": 3, "tasks_per_iteration": 2, **agent}, locked_every=4, iterations=2)
    built = build(raw)
    built.runtime.session_dir = tmp_path
    return built


def test_phase_one_is_cached_and_an_interrupted_phase_one_reuses_the_cache(tmp_path):
    first = doors_agent(tmp_path).begin_stage(0)
    report = next(first.steps())  # one phase-1 step: 2 tasks x 3 reference episodes
    assert not report.iteration and report.frames == 6 and report.metrics["apo_phase"] == 1
    cache = json.loads((tmp_path / "vstar.json").read_text())
    assert cache["k"] == 3 and cache["env_id"] == DOORS_ID and len(cache["tasks"]) == 2
    row = cache["tasks"][0]
    assert set(row) == {"task_id", "seed", "vstar", "rewards"} and len(row["rewards"]) == 3
    assert row["vstar"] == pytest.approx(float(optimal_value(torch.tensor(row["rewards"]), 0.5)))

    again = doors_agent(tmp_path).begin_stage(0)  # same seed: the same tasks, half of them cached
    reports = list(again.steps())
    phase_one = [r for r in reports if not r.iteration]
    assert sum(r.frames for r in phase_one) == 2 * 3  # only the two tasks not in the cache are played
    assert [r.frames for r in reports if r.iteration] == [2, 2]
    assert read_vstar_cache(tmp_path / "vstar.json")["rewards"][(row["task_id"], row["seed"])] == row["rewards"]
    facts = again.finish()
    assert facts["vstar_tasks"] == 4 and facts["vstar_k"] == 3
    assert facts["unsolved_share"] >= 0.25  # task ids with id % 4 == 1 are locked: no episode solves them
    assert {"vstar_mean", "vstar_std", "vstar_max"} <= set(facts)

    # A finished cache given as vstar_cache replaces phase 1; one of another k is refused.
    given = tmp_path / "given.json"
    given.write_text((tmp_path / "vstar.json").read_text())
    reused = doors_agent(tmp_path / "other", vstar_cache=str(given), drop_unsolved=True).begin_stage(0)
    reports = list(reused.steps())
    assert all(r.iteration for r in reports) and len(reports) == 2
    unsolved = {(t, s) for t, s in reused.rewards if max(reused.rewards[(t, s)]) <= 0}
    played = {ep.task_id for r in reports for ep in r.episodes}
    assert unsolved and not played & {t for t, _ in unsolved}  # drop_unsolved: never trained on
    with pytest.raises(UserError, match="k=3"):
        next(doors_agent(tmp_path / "third", vstar_cache=str(given), k=4).begin_stage(0).steps())


def test_a_session_resumes_inside_phase_one_and_inside_phase_two(tmp_path, monkeypatch):
    from rldojo.run.session import Session

    raw = doors_spec({"num_tasks": 4, "k": 2, "tasks_per_iteration": 2}, iterations=3, checkpoint_every=1)
    spec = spec_from_raw(raw, [], source="test")
    calls = {"n": 0}

    def stop_in_each_phase() -> bool:
        calls["n"] += 1  # asked once per step: 2 phase-1 steps, then one per iteration
        return calls["n"] in (1, 3)

    interrupt.install()
    try:
        monkeypatch.setattr(interrupt, "requested", stop_in_each_phase)
        first = Session(spec, tmp_path, 0).run()
        cached = json.loads((tmp_path / "s0/vstar.json").read_text())["tasks"]
        second = Session(spec, tmp_path, 0).run()
        done = Session(spec, tmp_path, 0).run()
    finally:
        interrupt.restore()
    assert first["status"] == second["status"] == "interrupted" and len(cached) == 2
    assert done["status"] == "done" and done["resumes"] == 2
    assert [s["stage"] for s in done["stages"]] == ["base", "apo"] and done["stages"][1]["vstar_tasks"] == 4
    assert done["episodes"] == 4 * 2 + 3 * 2  # nothing played twice
    final = json.loads((tmp_path / "s0/vstar.json").read_text())["tasks"]
    assert final[:2] == cached  # the interrupted phase 1's estimates were kept, not recomputed
    metrics = read_metrics(tmp_path / "s0/metrics.csv")
    phases = [p for p in metrics["apo_phase"] if p == p]
    assert phases == [1, 1, 2, 2, 2] and metrics["frame"] == sorted(metrics["frame"])


# ---- it learns --------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["apo", "pg_vstar"])
def test_apo_learns_to_open_the_rewarded_door(loss):
    raw = doors_spec(
        {
            "loss": loss,
            "num_tasks": 16,
            "k": 4,
            "tasks_per_iteration": 16,
            "optim": {"lr": 2e-3},
            **({"beta2": 0.05} if loss == "apo" else {}),
        },
        iterations=12,
    )
    agent = build(raw)
    trainer = agent.begin_stage(0)
    reports = list(trainer.steps())
    (reference,) = [r for r in reports if not r.iteration]  # phase 1: 16 tasks x 4 episodes of pi_ref
    after = sum(r.metrics["success"] for r in reports[-3:]) / 3
    assert after > 0.85 and after > reference.metrics["success"] + 0.2, (reference.metrics["success"], after)
    if loss == "apo":
        assert reports[-1].metrics["log_ratio_mean"] > 0  # pi moved away from pi_ref toward the reward
