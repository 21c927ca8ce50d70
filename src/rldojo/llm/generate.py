"""Batched generation behind a backend interface: token ids and per-token log-probabilities.

`GenerationBackend` is all the trainers and the rollout use: `generate` (sample replies to many
prompts at once) and `score` (log-likelihood of candidate continuations, for `choose` mode). The
`hf` backend runs the transformers model itself: one prefill of the left-padded batch, then one
token per forward pass with a KV cache. A vLLM backend would implement the same two methods.

Log-probabilities are those of the temperature-scaled distribution before top-p truncation (the
distribution the trainers recompute), and of the untempered one when decoding greedily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch

from rldojo.llm.chat import ChatFormat


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one batch of replies."""

    temperature: float = 1.0
    """0 decodes greedily."""
    top_p: float = 1.0
    max_new_tokens: int = 32
    stop_ids: frozenset[int] = frozenset()
    """Token ids that end a reply (kept as its last token)."""
    stop_strings: tuple[str, ...] = ()
    """Strings that end a reply (the token that completes one is kept)."""


@dataclass
class Completion:
    """One generated reply."""

    token_ids: list[int]
    logprobs: list[float]
    """Log-probability of each token under the sampling distribution (see the module docstring)."""
    text: str
    """The decoded reply, cut before a stop string if one ended it."""
    finish_reason: str = "length"
    """`stop` (stop token or string) or `length` (max_new_tokens)."""
    stopped_by_token: bool = False
    """Whether the last token is a stop token (the reply is closed)."""


class GenerationBackend(ABC):
    """What the rollout and the trainers need from an inference engine."""

    @abstractmethod
    def generate(self, prompts: list[list[int]], params: SamplingParams,
                 generator: torch.Generator | None = None) -> list[Completion]:
        """Sample one reply per prompt (prompts are token id lists of any lengths)."""

    @abstractmethod
    def score(self, contexts: list[list[int]], candidates: list[list[list[int]]]) -> list[list[list[float]]]:
        """Log-probability of each token of each candidate continuation of its context."""

    def sync_weights(self) -> None:
        """Called after each optimisation step; an external engine would reload the weights here."""


def left_pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), both (batch, longest), padded on the left."""
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if seq:
            ids[row, longest - len(seq):] = torch.tensor(seq, dtype=torch.long)
            mask[row, longest - len(seq):] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding."""
    return (mask.cumsum(-1) - 1).clamp_(min=0)


def sample_tokens(logits: torch.Tensor, temperature: float, top_p: float,
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row of (batch, vocab) logits -> (tokens, their log-probabilities)."""
    logits = logits.float()
    if temperature <= 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        tokens = logits.argmax(dim=-1)
        return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
    logprobs = torch.log_softmax(logits / temperature, dim=-1)
    probs = logprobs.exp()
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep a token while the mass before it is below top_p (the first token always stays).
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_probs, 1, generator=generator)
        tokens = order.gather(-1, choice).squeeze(-1)
    else:
        tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)


@dataclass
class _Row:
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    text: str = ""
    done: bool = False
    reason: str = "length"
    by_token: bool = False
    stop: str | None = None


class HFBackend(GenerationBackend):
    """Generation with the transformers model in this process (CPU or one GPU)."""

    def __init__(self, model: torch.nn.Module, tokenizer, chat: ChatFormat | None = None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.chat = chat

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache, keep: int = 1):
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=pos.to(self.device), past_key_values=cache, use_cache=True,
                         logits_to_keep=keep)
        return out.logits, out.past_key_values

    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], params: SamplingParams,
                 generator: torch.Generator | None = None) -> list[Completion]:
        from transformers import DynamicCache

        if not prompts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            ids, mask = left_pad(prompts, self.pad_id)
            pos = positions(mask)
            logits, cache = self._forward(ids, mask, pos, DynamicCache())
            rows = [_Row() for _ in prompts]
            next_pos = pos[:, -1:] + 1
            for _ in range(params.max_new_tokens):
                tokens, logprobs = sample_tokens(logits[:, -1, :], params.temperature, params.top_p, generator)
                tokens_list, logprob_list = tokens.tolist(), logprobs.tolist()
                for row, token, logprob in zip(rows, tokens_list, logprob_list):
                    if row.done:
                        continue
                    row.tokens.append(token)
                    row.logprobs.append(logprob)
                    if token in params.stop_ids:
                        row.done, row.reason, row.by_token = True, "stop", True
                    elif params.stop_strings:
                        self._check_stop_strings(row, token, params.stop_strings)
                if all(row.done for row in rows):
                    break
                tokens[torch.tensor([row.done for row in rows])] = self.pad_id
                mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype)], dim=1)
                logits, cache = self._forward(tokens[:, None].cpu(), mask, next_pos, cache)
                next_pos = next_pos + 1
        finally:
            self.model.train(was_training)
        return [self._completion(row) for row in rows]

    def _check_stop_strings(self, row: _Row, token: int, stop_strings: tuple[str, ...]) -> None:
        row.text += self.tokenizer.decode([token], skip_special_tokens=False)
        for stop in stop_strings:
            if row.text.find(stop, max(0, len(row.text) - len(stop) - 64)) >= 0:
                row.done, row.reason, row.stop = True, "stop", stop
                return

    def _completion(self, row: _Row) -> Completion:
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if row.stop is not None and row.stop in text:
            text = text[: text.index(row.stop)]
        return Completion(token_ids=row.tokens, logprobs=row.logprobs, text=text, finish_reason=row.reason,
                          stopped_by_token=row.by_token)

    @torch.inference_mode()
    def score(self, contexts: list[list[int]], candidates: list[list[list[int]]]) -> list[list[list[float]]]:
        """Prefill each context once, then run every candidate on a copy of its context's cache."""
        from transformers import DynamicCache

        if not contexts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            ids, mask = left_pad(contexts, self.pad_id)
            pos = positions(mask)
            logits, cache = self._forward(ids, mask, pos, DynamicCache())
            first = torch.log_softmax(logits[:, -1, :].float(), dim=-1)  # (contexts, vocab)
            owner = [i for i, cands in enumerate(candidates) for _ in cands]
            flat = [cand for cands in candidates for cand in cands]
            if not flat:
                return [[] for _ in contexts]
            index = torch.tensor(owner, dtype=torch.long, device=self.device)
            cache.batch_select_indices(index)
            longest = max(len(c) for c in flat)
            cand_ids = torch.full((len(flat), longest), self.pad_id, dtype=torch.long)
            cand_mask = torch.zeros((len(flat), longest), dtype=torch.long)
            for row, cand in enumerate(flat):
                cand_ids[row, :len(cand)] = torch.tensor(cand, dtype=torch.long)
                cand_mask[row, :len(cand)] = 1
            full_mask = torch.cat([mask[owner], cand_mask], dim=1)
            cand_pos = pos[owner, -1:] + 1 + torch.arange(longest)[None, :]
            cand_logits, _ = self._forward(cand_ids, full_mask, cand_pos, cache, keep=longest)
            # Token k of a candidate is predicted by the context's last logits (k = 0) or by
            # the candidate's own position k - 1.
            logprobs = torch.log_softmax(cand_logits[:, :-1, :].float(), dim=-1)
            first_lp = first[owner].gather(-1, cand_ids[:, :1].to(self.device))  # (rows, 1)
            rest_lp = logprobs.gather(-1, cand_ids[:, 1:, None].to(self.device)).squeeze(-1)
            per_token = torch.cat([first_lp, rest_lp], dim=1).cpu().tolist()
        finally:
            self.model.train(was_training)
        out: list[list[list[float]]] = [[] for _ in contexts]
        for i, cand, values in zip(owner, flat, per_token):
            out[i].append(values[:len(cand)])
        return out
