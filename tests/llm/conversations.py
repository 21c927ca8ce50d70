"""Shared helpers of the generation tests: sample prompts and a three-turn conversation played by
two backends side by side."""

import torch

from rldojo.llm.generate import GenerationBackend, SamplingParams


def sample_prompts(lm) -> list[list[int]]:
    """Three prompts of different lengths (left padding matters)."""
    return [lm.chat.prompt_ids(None, text) for text in ("Goal: craft red dye.", "Goal: craft sea lantern. " * 4, "hi")]


def play_turns_alike(
    lm, keyed: GenerationBackend, other: GenerationBackend, atol: float, turns: int = 3
) -> tuple[list[list[int]], list[tuple]]:
    """Play `turns` turns of the sample prompts with both backends (only `keyed` gets cache keys, so it
    may reuse each conversation's prefix) and check that every reply and log-probability agree.
    Returns the conversations' contexts after the last turn and their cache keys."""
    contexts = sample_prompts(lm)
    keys = [("slot", i) for i in range(len(contexts))]
    params = SamplingParams(temperature=1.0, max_new_tokens=6)
    for turn in range(turns):
        a = keyed.generate(contexts, params, torch.Generator().manual_seed(turn), cache_keys=keys)
        b = other.generate(contexts, params, torch.Generator().manual_seed(turn))
        assert [c.token_ids for c in a] == [c.token_ids for c in b]
        torch.testing.assert_close(
            torch.tensor([lp for c in a for lp in c.logprobs]),
            torch.tensor([lp for c in b for lp in c.logprobs]),
            atol=atol,
            rtol=0,
        )
        # Next turn: the reply and a new user message of a different length per row are appended.
        contexts = [
            ctx + c.token_ids + lm.chat.turn_ids("Got it. " * (i + 1), c.stopped_by_token)
            for i, (ctx, c) in enumerate(zip(contexts, a))
        ]
    return contexts, keys
