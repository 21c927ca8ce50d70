"""Micro-batches sized by a token budget: the packing, and updates equal to one big micro-batch's."""

import copy

import numpy as np
import pytest
import torch

from rldojo.errors import UserError
from rldojo.llm.batch import make_batch, micro_batches, padded_length
from rldojo.llm.rollout import Episode
from rldojo.run.spec import spec_from_raw

from .test_sft import build, lm_spec


def episode(prompt: int, reply: int) -> Episode:
    """`prompt` context tokens, then `reply` model tokens."""
    return Episode(token_ids=[1] * (prompt + reply), mask=[0] * prompt + [1] * reply, logprobs=[0.0] * (prompt + reply))


# ---- the splitter -------------------------------------------------------------------------------
def test_padded_length_is_what_make_batch_pads_to():
    eps = [episode(3, 9), episode(7, 2), episode(5, 5)]
    # rows align on their first trained token: 7 columns before it, then the longest tail of 9
    assert padded_length(eps) == 7 + 9 == make_batch(eps, pad_id=0).ids.shape[1]


def test_without_a_budget_runs_of_micro_batch_size_in_order():
    eps = [episode(2, 2) for _ in range(7)]
    assert micro_batches(eps, 3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_budget_packs_longest_first_within_rows_x_longest():
    lengths = [10, 40, 12, 38, 10, 90]  # prompt 0: each episode's padded length is its length
    eps = [episode(0, n) for n in lengths]
    packed = micro_batches(eps, max_rows=16, max_tokens=100)
    # 90 alone (2 x 90 > 100); 40 + 38 (2 x 40 = 80; a third makes 120); 12 + 10 + 10 (3 x 12 = 36)
    assert packed == [[5], [1, 3], [2, 0, 4]]
    for idx in packed:
        assert len(idx) * padded_length([eps[i] for i in idx]) <= 100
    assert sorted(i for idx in packed for i in idx) == list(range(len(eps)))


def test_the_row_cap_still_holds_under_a_budget():
    eps = [episode(0, 5) for _ in range(5)]
    assert micro_batches(eps, max_rows=2, max_tokens=1000) == [[0, 1], [2, 3], [4]]


def test_the_budget_counts_the_alignment_on_the_first_trained_token():
    # alone each is 10 columns; together 8 (latest first trained token) + 8 (longest tail) = 16
    eps = [episode(8, 2), episode(2, 8)]
    assert micro_batches(eps, max_rows=4, max_tokens=31) == [[0], [1]]
    assert micro_batches(eps, max_rows=4, max_tokens=32) == [[0, 1]]


def test_an_episode_over_the_budget_is_a_micro_batch_of_its_own_and_is_reported(monkeypatch):
    from loguru import logger

    import rldojo.llm.batch as batch_module

    monkeypatch.setattr(batch_module, "_warned_over_budget", False)
    said: list[str] = []
    sink = logger.add(lambda message: said.append(str(message)), level="WARNING")
    try:
        eps = [episode(0, 5), episode(0, 50), episode(0, 6)]
        assert micro_batches(eps, max_rows=8, max_tokens=20) == [[1], [2, 0]]
        micro_batches(eps, max_rows=8, max_tokens=20)
    finally:
        logger.remove(sink)
    assert len(said) == 1 and "longer than micro_batch_tokens=20" in said[0]


@pytest.mark.parametrize("algo", ["grpo", "sft", "lm_ppo", "apo"])
def test_a_budget_of_zero_tokens_is_refused(algo):
    with pytest.raises(UserError, match="micro_batch_tokens"):
        spec_from_raw(lm_spec({"algo": algo, "micro_batch_tokens": 0}), [], source="test")


def test_a_pipeline_stage_takes_a_budget_too():
    raw = lm_spec({"algo": "pipeline", "stages": [{"algo": "grpo", "micro_batch_tokens": 512}]})
    assert spec_from_raw(raw, [], source="test").agent.stages[0].micro_batch_tokens == 512


# ---- updates equal to one big micro-batch's ---------------------------------------------------------
SGD = {"name": "sgd", "lr": 0.5, "schedule": "constant"}  # weights move by the gradient itself


def rl_agent(algo: str, extra: dict):
    raw = lm_spec({"algo": algo, "group_size": 4, "groups": 2, "optim": SGD, **extra}, max_new_tokens=12, iterations=1)
    return build(raw)


def played_episodes(agent, count: int) -> list[Episode]:
    from rldojo.llm.tasks import EpisodeStart

    agent.begin_stage(0)
    starts = [EpisodeStart(seed=100 + i, task_id=i // 4, group=i // 4) for i in range(count)]
    episodes = agent.play(starts)
    rng = np.random.default_rng(0)
    for ep in episodes:  # rewards that vary within each group, so every advantage moves the weights
        ep.rewards = [float(rng.normal())]
    return episodes


def weights_after(agent, start: dict, update) -> dict[str, torch.Tensor]:
    agent.lm.model.load_state_dict(start)
    torch.manual_seed(0)  # the same fresh value head for LM-PPO
    update()
    return {name: p.detach().clone() for name, p in agent.lm.model.named_parameters()}


def assert_same_weights(one: dict, other: dict, start: dict) -> None:
    moved = max(float((one[name] - start[name]).abs().max()) for name in one)
    assert moved > 1e-3  # the update did something
    for name in one:
        torch.testing.assert_close(one[name], other[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("algo", ["grpo", "lm_ppo"])
def test_an_rl_update_under_a_token_budget_equals_one_big_micro_batch(algo):
    extra = {"minibatches": 2, "max_grad_norm": None}
    extra.update({"epochs": 1, "beta": 0.05} if algo == "grpo" else {"ppo_epochs": 1, "critic_warmup": 0})
    agent = rl_agent(algo, extra)
    episodes = played_episodes(agent, 8)
    lengths = sorted(padded_length([ep]) for ep in episodes)
    assert lengths[0] < lengths[-1]  # episodes of several lengths, so the packing matters
    start = copy.deepcopy(agent.lm.model.state_dict())
    base = agent.cfg

    def run(**update):
        params = base.model_copy(update=update)
        agent.lm.model.load_state_dict(start)
        return lambda: params.build_trainer(agent).update(list(episodes))

    budget = 2 * padded_length(episodes)  # at least two episodes to a micro-batch, not all eight
    big = weights_after(agent, start, run(micro_batch_size=64))
    packed = micro_batches(episodes, 64, budget)
    assert 1 < len(packed) < len(episodes)
    budgeted = weights_after(agent, start, run(micro_batch_size=64, micro_batch_tokens=budget))
    assert_same_weights(big, budgeted, start)


def test_an_sft_step_under_a_token_budget_equals_one_big_micro_batch():
    agent = build(
        lm_spec(
            {"algo": "sft", "demo_episodes": 12, "epochs": 1, "batch_size": 10, "optim": SGD, "max_grad_norm": None}
        )
    )
    agent.begin_stage(0)
    start = copy.deepcopy(agent.lm.model.state_dict())
    base = agent.cfg

    def one_step(**update):
        def step():
            trainer = base.model_copy(update=update).build_trainer(agent)
            next(iter(trainer.steps()))
            step.trainer = trainer

        return step

    train = base.build_trainer(agent).train
    budget = 2 * padded_length(train)  # at least two demonstrations to a micro-batch, not the whole batch
    assert len(micro_batches(train[:10], 64, budget)) > 1
    big = weights_after(agent, start, one_step(micro_batch_size=64))
    budgeted = weights_after(agent, start, one_step(micro_batch_size=64, micro_batch_tokens=budget))
    assert_same_weights(big, budgeted, start)
