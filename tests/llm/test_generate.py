import torch

from rldojo.llm.generate import HFBackend, SamplingParams, sample_tokens

from .conversations import play_turns_alike, sample_prompts


def _full_forward_logprobs(model, ids: list[int]) -> torch.Tensor:
    """log p(ids[i] | ids[:i]) for i >= 1 from one plain forward pass (no cache, no padding)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float()
    return torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)


def test_batched_generation_logprobs_match_a_plain_forward_pass(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    prompts = sample_prompts(tiny_lm)
    out = backend.generate(
        prompts, SamplingParams(temperature=1.0, max_new_tokens=10), torch.Generator().manual_seed(0)
    )
    for prompt, completion in zip(prompts, out):
        assert len(completion.token_ids) == len(completion.logprobs) == 10
        expected = _full_forward_logprobs(tiny_lm.model, prompt + completion.token_ids)[-10:]
        torch.testing.assert_close(torch.tensor(completion.logprobs), expected, atol=1e-4, rtol=0)


def test_left_padding_does_not_change_greedy_replies(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    prompts = sample_prompts(tiny_lm)
    params = SamplingParams(temperature=0.0, max_new_tokens=8)
    together = backend.generate(prompts, params)
    alone = [backend.generate([p], params)[0] for p in prompts]
    assert [c.token_ids for c in together] == [c.token_ids for c in alone]


def test_stop_tokens_and_stop_strings_end_a_reply(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    prompt = sample_prompts(tiny_lm)[:1]
    free = backend.generate(prompt, SamplingParams(temperature=0.0, max_new_tokens=12))[0]
    stop_at = free.token_ids[3]
    stopped = backend.generate(
        prompt, SamplingParams(temperature=0.0, max_new_tokens=12, stop_ids=frozenset({stop_at}))
    )[0]
    first = free.token_ids.index(stop_at)
    assert stopped.token_ids == free.token_ids[: first + 1] and stopped.stopped_by_token
    assert stopped.finish_reason == "stop" and free.finish_reason == "length"
    text = tiny_lm.tokenizer.decode(free.token_ids[2:4])
    if text.strip():
        cut = backend.generate(
            prompt, SamplingParams(temperature=0.0, max_new_tokens=12, stop_strings=(text.strip(),))
        )[0]
        assert len(cut.token_ids) <= 4 and text.strip() not in cut.text


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    seen = set()
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        token, logprob = sample_tokens(logits, 1.0, 0.7, gen)
        seen.add(int(token))
        assert float(logprob) == torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))[int(token)].item()
    assert seen == {0, 1}  # 0.5 + 0.3 reaches 0.7; 0.15 and 0.05 are cut


def test_candidate_scores_match_a_plain_forward_pass(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    contexts = sample_prompts(tiny_lm)
    candidates = [
        [tiny_lm.chat.reply_ids(f"Action: {a}") for a in actions]
        for actions in (
            ["get 1 poppy", "inventory"],
            ["craft 1 sea lantern using 4 prismarine shard"],
            ["a", "bb", "ccc ddd"],
        )
    ]
    scores = backend.score(contexts, candidates)
    for context, cands, per_context in zip(contexts, candidates, scores):
        for cand, per_token in zip(cands, per_context):
            expected = _full_forward_logprobs(tiny_lm.model, context + cand)[-len(cand) :]
            torch.testing.assert_close(torch.tensor(per_token), expected, atol=1e-4, rtol=0)


def test_prefix_reuse_across_turns_gives_the_same_replies_and_logprobs(tiny_lm):
    """A conversation continued with its cache key costs only its new tokens, and nothing changes."""
    cached = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    plain = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    contexts, keys = play_turns_alike(tiny_lm, cached, plain, atol=1e-4)
    assert cached.reused_tokens > 0 and plain.reused_tokens == 0
    # Scoring reuses the same prefixes and agrees with a cold backend.
    cands = [[tiny_lm.chat.reply_ids("Action: inventory"), tiny_lm.chat.reply_ids("Action: get 1 poppy")]] * 3
    warm, cold = cached.score(contexts, cands, cache_keys=keys), plain.score(contexts, cands)

    def flat(scores):
        return torch.tensor([lp for per_context in scores for cand in per_context for lp in cand])

    torch.testing.assert_close(flat(warm), flat(cold), atol=1e-4, rtol=0)
    # A changed weight empties the cache: no stale keys and values are ever used.
    before = cached.reused_tokens
    with torch.no_grad():
        next(tiny_lm.model.parameters()).add_(0.01)
    cached.generate(
        contexts, SamplingParams(temperature=1.0, max_new_tokens=6), torch.Generator().manual_seed(0), cache_keys=keys
    )
    assert cached.reused_tokens == before


def test_identical_prompts_share_one_prefill_and_still_sample_independently(tiny_lm):
    backend = HFBackend(tiny_lm.model, tiny_lm.tokenizer, tiny_lm.chat)
    prompt = sample_prompts(tiny_lm)[1]
    out = backend.generate(
        [prompt] * 4 + [sample_prompts(tiny_lm)[0]],
        SamplingParams(temperature=1.0, max_new_tokens=8),
        torch.Generator().manual_seed(3),
    )
    assert len({tuple(c.token_ids) for c in out[:4]}) > 1  # one prefill, four different samples
    for completion, context in zip(out, [prompt] * 4 + [sample_prompts(tiny_lm)[0]]):
        expected = _full_forward_logprobs(tiny_lm.model, context + completion.token_ids)[-8:]
        torch.testing.assert_close(torch.tensor(completion.logprobs), expected, atol=1e-4, rtol=0)
