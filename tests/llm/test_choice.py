"""`choose` mode's exact policy: every candidate of every turn scored in one tree-masked forward pass."""

import gymnasium as gym
import pytest
import torch

from rldojo.llm.choice import choice_entropy, choice_logprobs, has_choices, make_choice_batch
from rldojo.llm.fastllama import LlamaTrainForward
from rldojo.llm.generate import HFBackend, SamplingParams
from rldojo.llm.prompts import make_template
from rldojo.llm.rollout import Actor, play
from rldojo.llm.tasks import EpisodeStart


def _choose_actor(lm):
    return Actor(
        backend=HFBackend(lm.model, lm.tokenizer, lm.chat),
        chat=lm.chat,
        template=make_template("act", None, True, False),
        max_model_len=1024,
        action_mode="choose",
    )


def _choose_episodes(lm, count=3, max_turns=3):
    actor = _choose_actor(lm)
    envs = [gym.make("dojo/TextCraft-v0", depths=(1,), max_turns=max_turns) for _ in range(2)]
    starts = [EpisodeStart(seed=s, task_id=3 + s) for s in range(count)]
    return play(
        actor, envs, starts, SamplingParams(temperature=1.0, max_new_tokens=8), torch.Generator().manual_seed(1)
    )


def _brute_force(model, ep, temperature):
    """Each turn's choice log-probabilities, every candidate run on its own after its context."""
    out = []
    for (start, _), (candidates, _pick) in zip(ep.turn_spans, ep.choices):
        scores = []
        for cand in candidates:
            ids = torch.tensor([ep.token_ids[:start] + cand])
            logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            scores.append(sum(logp[start - 1 + j, tok] for j, tok in enumerate(cand)))
        out.append(torch.log_softmax(torch.stack(scores) / temperature, dim=0))
    return out


@pytest.mark.parametrize("lean", [True, False])
def test_choice_logprobs_and_gradients_equal_scoring_each_candidate_alone(tiny_lm, lean):
    model = tiny_lm.model
    episodes = _choose_episodes(tiny_lm)
    assert all(has_choices(ep) for ep in episodes)
    assert any(len(c) > 2 for ep in episodes for c, _ in ep.choices)  # real choices among several actions
    forward = LlamaTrainForward(model) if lean else model
    batch = make_choice_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    chosen, log_policy = choice_logprobs(forward, batch, temperature=0.7)
    weights = torch.linspace(0.5, 1.5, chosen.numel()).view_as(chosen)
    model.zero_grad()
    (chosen * weights * batch.turn_mask).sum().backward()
    fast_grad = {n: p.grad.clone() for n, p in model.named_parameters()}

    model.zero_grad()
    total = 0.0
    for row, ep in enumerate(episodes):
        for turn, (expected, (candidates, pick)) in enumerate(zip(_brute_force(model, ep, 0.7), ep.choices)):
            k = len(candidates)
            torch.testing.assert_close(log_policy[row, turn, :k], expected, rtol=1e-4, atol=1e-5)
            assert torch.isinf(log_policy[row, turn, k:]).all()
            torch.testing.assert_close(chosen[row, turn], expected[pick], rtol=1e-4, atol=1e-5)
            total = total + weights[row, turn] * expected[pick]
        assert (batch.turn_mask[row, ep.turns :] == 0).all() and (chosen[row, ep.turns :] == 0).all()
    total.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(fast_grad[name], param.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_the_chosen_reply_is_in_the_episode_and_the_rollout_sampled_from_the_same_policy(tiny_lm):
    episodes = _choose_episodes(tiny_lm, count=2)
    batch = make_choice_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    with torch.no_grad():
        chosen, log_policy = choice_logprobs(LlamaTrainForward(tiny_lm.model), batch, temperature=1.0)
    for row, ep in enumerate(episodes):
        for turn, ((start, end), (candidates, pick)) in enumerate(zip(ep.turn_spans, ep.choices)):
            assert ep.token_ids[start:end] == candidates[pick]
            # the rollout kept the chosen reply's token log-probabilities: their sum is its score
            score = sum(ep.logprobs[start:end])
            others = torch.logsumexp(log_policy[row, turn, : len(candidates)], 0)
            assert abs(float(others)) < 1e-5  # a distribution
            assert chosen[row, turn] <= 0
            assert score < 0
    entropy = choice_entropy(log_policy)
    assert (entropy[batch.turn_mask > 0] > 0).all() and (entropy[batch.turn_mask == 0] == 0).all()


def test_lowering_a_choice_raises_the_other_candidates(tiny_lm):
    """The exact gradient moves probability to the other listed actions, not to unlisted tokens."""
    model = tiny_lm.model
    episodes = _choose_episodes(tiny_lm, count=1, max_turns=1)
    batch = make_choice_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    forward = LlamaTrainForward(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    # a high temperature: the random model's choice is far from certain
    before, policy_before = choice_logprobs(forward, batch, temperature=20.0)
    before.sum().backward()  # descending on log pi(chosen): the step of a negative advantage
    optimizer.step()
    with torch.no_grad():
        after, policy_after = choice_logprobs(forward, batch, temperature=20.0)
    pick = episodes[0].choices[0][1]
    assert after[0, 0] < before[0, 0] - 1e-3
    k = len(episodes[0].choices[0][0])
    others_before = policy_before[0, 0, :k].exp().sum() - policy_before[0, 0, pick].exp()
    others_after = policy_after[0, 0, :k].exp().sum() - policy_after[0, 0, pick].exp()
    assert others_after > others_before + 1e-3


def test_exploration_draws_listed_actions_uniformly_and_is_logged(tiny_lm):
    from collections import Counter

    from rldojo.llm.rollout import episode_metrics

    actor = _choose_actor(tiny_lm)
    env = gym.make("dojo/TextCraft-v0", depths=(1,), max_turns=1)
    starts = [EpisodeStart(seed=s, task_id=3) for s in range(300)]

    def first_actions(explore):
        params = SamplingParams(temperature=1.0, max_new_tokens=8, explore=explore)
        episodes = play(actor, [env], starts, params, torch.Generator().manual_seed(0))
        return episodes, Counter(ep.actions[0] for ep in episodes)

    _, greedy_like = first_actions(0.0)
    explored, counts = first_actions(1.0)
    listed = env.reset(seed=0, options={"task_id": 3})[1]["available_actions"]
    # the random model nearly always picks one action; exploring spreads turns over every listed one
    assert max(greedy_like.values()) > 0.9 * len(starts)
    assert set(counts) == set(listed) and max(counts.values()) < 2 * len(starts) / len(listed)
    assert episode_metrics(explored)["explored"] == 1.0
    assert all(has_choices(ep) for ep in explored)  # explored turns are trained like the model's


def test_exploration_needs_choose_mode():
    from pydantic import ValidationError

    from rldojo.llm.config import GenerationConfig

    assert GenerationConfig(action_mode="choose", explore=0.1).explore == 0.1
    with pytest.raises(ValidationError, match="needs action_mode: choose"):
        GenerationConfig(explore=0.1)
