"""The lean forward (rldojo.llm.fastllama) on Qwen2 models (Llama plus q/k/v biases), against
transformers' own forward: same tokens and log-probabilities, greedy and sampled, float32 and bfloat16.

bfloat16: both paths run the same ops in the same order except that q, k, v (and gate, up) are
fused into one product each, so their logits may differ by bfloat16 rounding. On the CPU (torch
2.13) they agree exactly for these models; the tests require equal tokens over 8 new tokens per row
(greedy and sampled), logits within 2e-2 and log-probabilities within 0.05, so that another
kernel's rounding (a GPU's) still passes.
"""

import pytest
import torch

from rldojo.llm.fastllama import LlamaRunner, LlamaTrainForward
from rldojo.llm.generate import HFBackend, SamplingParams, left_pad, positions

from .conversations import play_turns_alike, sample_prompts

BF16_LOGPROB_TOL = 0.05


def _qwen2(tokenizer, dtype=torch.float32, **overrides):
    """A tiny random Qwen2 model (built here, nothing downloaded) whose q/k/v biases are not zero
    (transformers initialises them to zero, which would not test them)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    settings = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in Qwen2.5
        intermediate_size=96,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.1,  # peaked distributions: greedy choices are not near-ties
        pad_token_id=tokenizer.pad_token_id,
    )
    settings.update(overrides)
    torch.manual_seed(3)
    model = Qwen2ForCausalLM(Qwen2Config(**settings))
    with torch.no_grad():
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0.0, 0.3)
    return model.to(dtype).eval()


def _lm(model, tokenizer):
    from rldojo.llm.chat import ChatFormat
    from rldojo.llm.model import LanguageModel

    return LanguageModel(model=model, tokenizer=tokenizer, chat=ChatFormat.for_tokenizer(tokenizer), max_model_len=1024)


def _pair(lm):
    fast = HFBackend(lm.model, lm.tokenizer, lm.chat, fast=True)
    generic = HFBackend(lm.model, lm.tokenizer, lm.chat, fast=False)
    assert isinstance(fast._runner(), LlamaRunner) and not isinstance(generic._runner(), LlamaRunner)
    return fast, generic


def _logprobs(completions):
    return torch.tensor([lp for c in completions for lp in c.logprobs])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_runner_logits_equal_the_qwen2_forward(textcraft_tokenizer, dtype):
    model = _qwen2(textcraft_tokenizer, dtype)
    assert LlamaRunner.supports(model)
    runner = LlamaRunner(model)
    runner.refresh()
    lm = _lm(model, textcraft_tokenizer)
    ids, mask = left_pad(sample_prompts(lm), textcraft_tokenizer.pad_token_id)
    pos = positions(mask)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    cache = runner.new_cache(ids.shape[0], 4)  # too small on purpose: the cache grows
    got = runner.forward(ids, mask, pos, cache, keep=ids.shape[1])
    assert got.dtype == dtype and cache.keys[0].dtype == dtype
    real = mask.bool()
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got[real].float(), expected[real].float(), atol=tol, rtol=tol)
    # One more token per row on top of the cache gives the full forward's last logits.
    nxt = torch.tensor([[5], [6], [7]])
    mask2 = torch.cat([mask, torch.ones((3, 1), dtype=torch.long)], dim=1)
    step = runner.forward(nxt, mask2, pos[:, -1:] + 1, cache)
    with torch.no_grad():
        full = model(input_ids=torch.cat([ids, nxt], 1), attention_mask=mask2, position_ids=positions(mask2)).logits
    torch.testing.assert_close(step[:, -1].float(), full[:, -1].float(), atol=tol, rtol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_and_generic_paths_agree_greedy_and_sampled(textcraft_tokenizer, dtype):
    lm = _lm(_qwen2(textcraft_tokenizer, dtype), textcraft_tokenizer)
    fast, generic = _pair(lm)
    prompts = sample_prompts(lm)
    stop = frozenset(lm.chat.stop_ids)
    new_tokens = 12 if dtype == torch.float32 else 8
    tol = 1e-5 if dtype == torch.float32 else BF16_LOGPROB_TOL
    for temperature, top_p in ((0.0, 1.0), (1.0, 1.0), (0.8, 0.9)):
        params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=new_tokens, stop_ids=stop)
        a = fast.generate(prompts, params, torch.Generator().manual_seed(7))
        b = generic.generate(prompts, params, torch.Generator().manual_seed(7))
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
        assert sum(len(c.token_ids) for c in a) > len(prompts)  # more than one token per row compared
        assert [(c.finish_reason, c.text) for c in a] == [(c.finish_reason, c.text) for c in b]
        torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=tol, rtol=0)


def test_prefix_reuse_and_scores_match_the_generic_path(textcraft_tokenizer):
    lm = _lm(_qwen2(textcraft_tokenizer), textcraft_tokenizer)
    fast, generic = _pair(lm)
    contexts, keys = play_turns_alike(lm, fast, generic, atol=1e-5)
    assert fast.reused_tokens > 0
    cands = [[lm.chat.reply_ids("Action: inventory"), lm.chat.reply_ids("Action: get 1 poppy")]] * 3
    warm, cold = fast.score(contexts, cands, cache_keys=keys), generic.score(contexts, cands)
    flat = [torch.tensor([lp for per in s for cand in per for lp in cand]) for s in (warm, cold)]
    torch.testing.assert_close(flat[0], flat[1], atol=1e-5, rtol=0)


def test_training_stand_in_gives_the_same_logprobs_and_bias_gradients(textcraft_tokenizer):
    from rldojo.llm.batch import make_batch, token_logprobs
    from rldojo.llm.rollout import EpisodeBuilder

    model = _qwen2(textcraft_tokenizer)
    lm = _lm(model, textcraft_tokenizer)
    out = HFBackend(model, textcraft_tokenizer, lm.chat).generate(
        sample_prompts(lm), SamplingParams(temperature=1.0, max_new_tokens=6), torch.Generator().manual_seed(3)
    )
    episodes = []
    for i, (prompt, completion) in enumerate(zip(sample_prompts(lm), out)):
        builder = EpisodeBuilder(prompt, task_id=i, group=i)
        builder.add_reply(completion.token_ids, completion.logprobs)
        episodes.append(builder.episode)
    batch = make_batch(episodes, textcraft_tokenizer.pad_token_id)
    assert LlamaTrainForward.supports(model)
    model.train()
    grads = []
    for forward in (model, LlamaTrainForward(model)):
        model.zero_grad(set_to_none=True)
        logp, _ = token_logprobs(forward, batch, 1.0)
        (logp * batch.mask).sum().backward()
        grads.append((logp.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (lp_a, grads_a), (lp_b, grads_b) = grads
    torch.testing.assert_close(lp_b, lp_a, atol=1e-5, rtol=1e-5)
    assert any("q_proj.bias" in name for name in grads_a) and grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-4, msg=name)


def test_llama_with_attention_biases_matches_the_model(textcraft_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=len(textcraft_tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=48,
        attention_bias=True,  # q, k, v and o all have biases
        initializer_range=0.1,
        pad_token_id=textcraft_tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.bias.normal_(0.0, 0.3)
            layer.self_attn.k_proj.bias.normal_(0.0, 0.3)
    lm = _lm(model, textcraft_tokenizer)
    fast, generic = _pair(lm)
    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    a, b = fast.generate(sample_prompts(lm), params), generic.generate(sample_prompts(lm), params)
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=1e-5, rtol=0)


def test_sliding_window_and_adapters_take_the_generic_path(textcraft_tokenizer):
    # Qwen2.5's configs ship use_sliding_window: false; on, some layers attend to a band only.
    sliding = _qwen2(textcraft_tokenizer, use_sliding_window=True, sliding_window=16, max_window_layers=1)
    assert sliding.config.layer_types == ["full_attention", "sliding_attention"]
    assert not LlamaRunner.supports(sliding) and not LlamaTrainForward.supports(sliding)
    # All layers full although the flag is on: still refused (the flag alone says the model wants a window).
    assert not LlamaRunner.supports(_qwen2(textcraft_tokenizer, use_sliding_window=True, max_window_layers=8))
    assert not LlamaRunner.supports(_qwen2(textcraft_tokenizer, hidden_act="gelu"))
    lm = _lm(_qwen2(textcraft_tokenizer), textcraft_tokenizer)
    from rldojo.llm.config import LoraSettings

    lm.add_adapters(LoraSettings(r=2, alpha=4, dropout=0.0))
    assert not LlamaRunner.supports(lm.model)
    backend = HFBackend(lm.model, lm.tokenizer, lm.chat)
    assert not isinstance(backend._runner(), LlamaRunner)
    out = backend.generate(sample_prompts(lm), SamplingParams(temperature=0.0, max_new_tokens=4))
    assert all(len(c.token_ids) == 4 for c in out)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fast_path_on_cuda_matches_the_generic_path(textcraft_tokenizer, dtype):
    lm = _lm(_qwen2(textcraft_tokenizer, dtype).to("cuda"), textcraft_tokenizer)
    fast, generic = _pair(lm)
    tol = 1e-4 if dtype == torch.float32 else BF16_LOGPROB_TOL
    params = SamplingParams(temperature=1.0, max_new_tokens=8)
    a = fast.generate(sample_prompts(lm), params, torch.Generator("cuda").manual_seed(7))
    b = generic.generate(sample_prompts(lm), params, torch.Generator("cuda").manual_seed(7))
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=tol, rtol=0)


def test_grouped_heads_repeated_as_on_cuda_give_the_same_results(textcraft_tokenizer, monkeypatch):
    """The CUDA branch (key/value heads repeated before attention), run on the CPU."""
    from rldojo.llm import fastllama

    lm = _lm(_qwen2(textcraft_tokenizer), textcraft_tokenizer)
    fast, generic = _pair(lm)
    params = SamplingParams(temperature=1.0, max_new_tokens=8)
    b = generic.generate(sample_prompts(lm), params, torch.Generator().manual_seed(5))
    calls = []
    monkeypatch.setattr(fastllama, "_expand_grouped_heads", lambda device: calls.append(device) or True)
    a = fast.generate(sample_prompts(lm), params, torch.Generator().manual_seed(5))
    assert calls  # the branch ran
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    torch.testing.assert_close(_logprobs(a), _logprobs(b), atol=1e-5, rtol=0)
