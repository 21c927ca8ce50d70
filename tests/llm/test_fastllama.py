"""The lean Llama forward (rldojo.llm.fastllama) against transformers' own: same tokens, same
log-probabilities, left padding and prefix reuse included."""

import pytest
import torch

from rldojo.llm.fastllama import KVCache, LlamaRunner
from rldojo.llm.generate import HFBackend, SamplingParams, left_pad, positions, sample_tokens

from .conversations import play_turns_alike, sample_prompts


def _pair(lm):
    fast = HFBackend(lm.model, lm.tokenizer, lm.chat, fast=True)
    generic = HFBackend(lm.model, lm.tokenizer, lm.chat, fast=False)
    assert isinstance(fast._runner(), LlamaRunner) and not isinstance(generic._runner(), LlamaRunner)
    return fast, generic


def _logprobs(completions):
    return torch.tensor([lp for c in completions for lp in c.logprobs])


def _llama(tokenizer, **overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=48,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(overrides)
    torch.manual_seed(1)
    return LlamaForCausalLM(LlamaConfig(**settings)).eval()


def test_runner_logits_equal_the_model_forward_on_a_left_padded_batch(tiny_lm):
    model = tiny_lm.model.eval()
    runner = LlamaRunner(model)
    runner.refresh()
    ids, mask = left_pad(sample_prompts(tiny_lm), tiny_lm.tokenizer.pad_token_id)
    pos = positions(mask)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    cache = runner.new_cache(ids.shape[0], 4)  # too small on purpose: the cache grows
    got = runner.forward(ids, mask, pos, cache, keep=ids.shape[1])
    real = mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    assert cache.length == ids.shape[1] and cache.capacity >= ids.shape[1]
    # One more token per row on top of the cache gives the full forward's last logits.
    nxt = torch.tensor([[5], [6], [7]])
    mask2 = torch.cat([mask, torch.ones((3, 1), dtype=torch.long)], dim=1)
    step = runner.forward(nxt, mask2, pos[:, -1:] + 1, cache)
    with torch.no_grad():
        full = model(input_ids=torch.cat([ids, nxt], 1), attention_mask=mask2, position_ids=positions(mask2)).logits
    torch.testing.assert_close(step[:, -1], full[:, -1], atol=1e-5, rtol=1e-5)


def test_fast_and_generic_paths_agree_greedy_and_sampled(tiny_lm):
    fast, generic = _pair(tiny_lm)
    prompts = sample_prompts(tiny_lm)
    stop = frozenset(tiny_lm.chat.stop_ids)
    for temperature, top_p in ((0.0, 1.0), (1.0, 1.0), (0.8, 0.9)):
        params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=12, stop_ids=stop)
        a = fast.generate(prompts, params, torch.Generator().manual_seed(7))
        b = generic.generate(prompts, params, torch.Generator().manual_seed(7))
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
        assert [(c.finish_reason, c.stopped_by_token, c.text) for c in a] == [
            (c.finish_reason, c.stopped_by_token, c.text) for c in b
        ]
        torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=1e-5, rtol=0)


def test_fast_path_left_padded_batch_equals_one_row_at_a_time(tiny_lm):
    fast, _ = _pair(tiny_lm)
    prompts = sample_prompts(tiny_lm)
    assert len({len(p) for p in prompts}) == 3  # three different lengths: real left padding
    params = SamplingParams(temperature=0.0, max_new_tokens=10)
    together = fast.generate(prompts, params)
    alone = [fast.generate([p], params)[0] for p in prompts]
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]
    torch.testing.assert_close(_logprobs(together), _logprobs(alone), atol=1e-5, rtol=0)


def test_rows_that_stop_early_do_not_change_the_others(tiny_lm):
    """A row ended by a stop token keeps feeding masked padding; the other rows are unaffected."""
    fast, generic = _pair(tiny_lm)
    prompts = sample_prompts(tiny_lm)
    free = fast.generate(prompts, SamplingParams(temperature=0.0, max_new_tokens=10))
    stop_at = free[0].token_ids[2]
    params = SamplingParams(temperature=0.0, max_new_tokens=10, stop_ids=frozenset({stop_at}))
    for backend in (fast, generic):
        out = backend.generate(prompts, params)
        assert out[0].token_ids == free[0].token_ids[: free[0].token_ids.index(stop_at) + 1]
        assert out[0].stopped_by_token and out[0].finish_reason == "stop"
        for c, f in zip(out[1:], free[1:]):
            cut = f.token_ids.index(stop_at) + 1 if stop_at in f.token_ids else len(f.token_ids)
            assert c.token_ids == f.token_ids[:cut]


def test_fast_path_scores_and_prefix_reuse_match_the_generic_path(tiny_lm):
    fast, generic = _pair(tiny_lm)
    contexts, keys = play_turns_alike(tiny_lm, fast, generic, atol=1e-5)
    assert fast.reused_tokens > 0
    cands = [[tiny_lm.chat.reply_ids("Action: inventory"), tiny_lm.chat.reply_ids("Action: get 1 poppy")]] * 3
    warm, cold = fast.score(contexts, cands, cache_keys=keys), generic.score(contexts, cands)
    flat = [torch.tensor([lp for per in s for cand in per for lp in cand]) for s in (warm, cold)]
    torch.testing.assert_close(flat[0], flat[1], atol=1e-5, rtol=0)


def test_weights_changed_between_calls_are_picked_up(tiny_lm):
    fast, generic = _pair(tiny_lm)
    prompts = sample_prompts(tiny_lm)[:1]
    params = SamplingParams(temperature=0.0, max_new_tokens=6)
    fast.generate(prompts, params)
    with torch.no_grad():
        for p in tiny_lm.model.parameters():
            p.mul_(1.5)
    a, b = fast.generate(prompts, params)[0], generic.generate(prompts, params)[0]
    assert a.token_ids == b.token_ids
    torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-5, rtol=0)


def test_grouped_query_attention_matches_the_model(tiny_lm):
    model = _llama(tiny_lm.tokenizer, num_key_value_heads=2)
    assert LlamaRunner.supports(model)
    fast = HFBackend(model, tiny_lm.tokenizer, tiny_lm.chat, fast=True)
    generic = HFBackend(model, tiny_lm.tokenizer, tiny_lm.chat, fast=False)
    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    a, b = fast.generate(sample_prompts(tiny_lm), params), generic.generate(sample_prompts(tiny_lm), params)
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=1e-5, rtol=0)


def test_other_architectures_take_the_generic_path(tiny_lm):
    assert LlamaRunner.supports(tiny_lm.model)
    assert not LlamaRunner.supports(_llama(tiny_lm.tokenizer, mlp_bias=True))
    assert not LlamaRunner.supports(_llama(tiny_lm.tokenizer, hidden_act="gelu"))
    assert not LlamaRunner.supports(torch.nn.Linear(2, 2))
    tiny_lm.add_adapters(_lora())
    assert not LlamaRunner.supports(tiny_lm.model)
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    assert not isinstance(backend._runner(), LlamaRunner)
    out = backend.generate(sample_prompts(tiny_lm), SamplingParams(temperature=0.0, max_new_tokens=4))
    assert all(len(c.token_ids) == 4 for c in out)
    with pytest.raises(ValueError):
        LlamaRunner(tiny_lm.model)


def test_adapters_injected_into_the_same_model_object_switch_to_the_generic_path(tiny_lm):
    from peft import LoraConfig, inject_adapter_in_model

    model = tiny_lm.model.eval()
    backend = HFBackend(model, tiny_lm.tokenizer, tiny_lm.chat)
    assert isinstance(backend._runner(), LlamaRunner)
    prompt = sample_prompts(tiny_lm)[0]
    params = SamplingParams(temperature=0.0, max_new_tokens=6)
    base = backend.generate([prompt], params)[0]
    inject_adapter_in_model(
        LoraConfig(r=2, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False), model
    )
    assert not isinstance(backend._runner(), LlamaRunner)
    out = backend.generate([prompt], params)[0]
    with torch.no_grad():
        logits = model(torch.tensor([prompt + out.token_ids])).logits[0, len(prompt) - 1 : -1]
    expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(out.token_ids)[:, None]).squeeze(-1)
    torch.testing.assert_close(torch.tensor(out.logprobs), expected, atol=1e-5, rtol=0)
    assert out.logprobs != base.logprobs  # the adapters are in use


def _lora():
    from rldojo.llm.config import LoraSettings

    return LoraSettings(r=2, alpha=4, dropout=0.0)


def test_kv_cache_grows_and_selects_rows():
    keys = [torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).view(2, 1, 3, 2)]
    cache = KVCache.from_data([(keys[0], -keys[0])], reserve=0)
    assert cache.capacity == 3
    cache.reserve(5)
    assert cache.capacity >= 8 and cache.length == 3
    torch.testing.assert_close(cache.layers[0].keys, keys[0])
    cache.batch_select_indices(torch.tensor([1, 1, 0]))
    torch.testing.assert_close(cache.layers[0].values, -keys[0][[1, 1, 0]])


def test_sampler_draws_from_the_distribution():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    logits = torch.log(probs).expand(4000, 5)
    tokens, logprobs = sample_tokens(logits, 1.0, 1.0, torch.Generator().manual_seed(0))
    freq = torch.bincount(tokens, minlength=5).float() / tokens.numel()
    torch.testing.assert_close(freq, probs, atol=0.02, rtol=0)
    assert freq[4] == 0
    torch.testing.assert_close(logprobs, torch.log(probs)[tokens])
    # The same generator state gives the same draws.
    again, _ = sample_tokens(logits, 1.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(tokens, again)


def _episodes(lm, backend):
    """Two groups of two episodes (a shared prompt each) with sampled replies of different lengths."""
    from rldojo.llm.rollout import EpisodeBuilder

    prompts = [lm.chat.prompt_ids(None, "Goal: craft red dye."), lm.chat.prompt_ids(None, "hi there")]
    out = backend.generate(
        [prompts[0]] * 2 + [prompts[1]] * 2,
        SamplingParams(temperature=1.0, max_new_tokens=7, stop_ids=frozenset(lm.chat.stop_ids)),
        torch.Generator().manual_seed(3),
    )
    episodes = []
    for i, completion in enumerate(out):
        builder = EpisodeBuilder(prompts[i // 2], task_id=i // 2, group=i // 2)
        builder.add_reply(completion.token_ids, completion.logprobs)
        episodes.append(builder.episode)
    return episodes


@pytest.mark.parametrize("share_prefix", [True, False])
def test_training_stand_in_gives_the_same_logprobs_and_gradients(tiny_lm, share_prefix):
    from rldojo.llm.batch import make_batch, token_logprobs
    from rldojo.llm.fastllama import LlamaTrainForward

    model = tiny_lm.model
    episodes = _episodes(tiny_lm, HFBackend(model, tiny_lm.tokenizer, tiny_lm.chat))
    assert len({len(ep) for ep in episodes}) > 1  # replies of different lengths: padded rows
    batch = make_batch(episodes, tiny_lm.tokenizer.pad_token_id)
    model.train()
    results = []
    for runner in (model, LlamaTrainForward(model)):
        model.zero_grad(set_to_none=True)
        logp, entropy = token_logprobs(runner, batch, 0.7, with_entropy=True, share_prefix=share_prefix)
        ((logp * batch.mask).sum() + 0.1 * (logp.exp() * batch.mask).sum()).backward()
        results.append((logp.detach(), entropy, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (lp_a, ent_a, grads_a), (lp_b, ent_b, grads_b) = results
    torch.testing.assert_close(lp_b, lp_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ent_b, ent_a, atol=1e-5, rtol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-4, msg=name)
    # The rollout's sampling log-probabilities are these too (temperature 1).
    with torch.no_grad():
        logp, _ = token_logprobs(LlamaTrainForward(model), batch, 1.0)
    torch.testing.assert_close(logp * batch.mask, batch.sampled_logprobs * batch.mask, atol=1e-5, rtol=0)


def test_training_stand_in_is_only_for_plain_llama_models(tiny_lm):
    from rldojo.llm.fastllama import LlamaTrainForward

    assert LlamaTrainForward.supports(tiny_lm.model)
    assert not LlamaTrainForward.supports(_llama(tiny_lm.tokenizer, attention_dropout=0.1))
    tiny_lm.add_adapters(_lora())
    assert not LlamaTrainForward.supports(tiny_lm.model)
    with pytest.raises(ValueError):
        LlamaTrainForward(tiny_lm.model)


def test_grpo_updates_through_the_stand_in_equal_those_through_the_model():
    """Several epochs and minibatches (old log-probabilities), a KL term (reference copy): the same
    metrics and weights whichever computes the log-probabilities (SGD: Adam would magnify
    rounding-level differences of near-zero gradients)."""
    import copy

    from rldojo.llm.fastllama import LlamaTrainForward

    from .test_sft import build, lm_spec

    agent = build(
        lm_spec(
            {
                "algo": "grpo",
                "group_size": 2,
                "groups": 2,
                "epochs": 2,
                "minibatches": 2,
                "micro_batch_size": 1,
                "beta": 0.05,
                "optim": {"name": "sgd", "lr": 0.1},
            },
            env={"id": "dojo/TextCraft-v0", "num_envs": 4, "kwargs": {"depths": [1], "max_turns": 2}},
            max_new_tokens=6,
        )
    )
    trainer = agent.begin_stage(0)
    model = agent.lm.model
    assert isinstance(trainer._forward_of(model), LlamaTrainForward)
    assert isinstance(trainer._forward_of(trainer.reference), LlamaTrainForward)
    episodes = agent.play(trainer.runtime.train_tasks.groups(2, 2, first_group=0))
    for i, ep in enumerate(episodes):  # rewards that differ within each group: non-zero advantages
        ep.rewards = [float(i % 2)] + [0.0] * (len(ep.rewards) - 1)
    start = copy.deepcopy(model.state_dict()), copy.deepcopy(trainer.optimizer.state_dict())
    fast = trainer.update(episodes)
    fast_weights = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(start[0])
    trainer.optimizer.load_state_dict(start[1])
    trainer.updates = 0
    trainer._forward_of = lambda m: m
    plain = trainer.update(episodes)
    assert fast.keys() == plain.keys()
    for key in fast:
        assert fast[key] == pytest.approx(plain[key], rel=1e-4, abs=1e-6, nan_ok=True), key
    for name, value in model.state_dict().items():
        torch.testing.assert_close(fast_weights[name], value, atol=1e-5, rtol=1e-4)
    assert any(not torch.equal(fast_weights[k], start[0][k]) for k in fast_weights)  # the weights moved
