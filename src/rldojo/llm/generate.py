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
from collections.abc import Hashable
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
    def generate(self, prompts: list[list[int]], params: SamplingParams, generator: torch.Generator | None = None,
                 cache_keys: list[Hashable] | None = None) -> list[Completion]:
        """Sample one reply per prompt (prompts are token id lists of any lengths). Rows with the
        same `cache_keys` entry across calls continue one conversation; a backend may reuse
        their common prefix (a hint: results must not depend on it)."""

    @abstractmethod
    def score(self, contexts: list[list[int]], candidates: list[list[list[int]]],
              cache_keys: list[Hashable] | None = None) -> list[list[list[float]]]:
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


def _growing_cache(data: list[tuple[torch.Tensor, torch.Tensor]] | None = None):
    """A transformers DynamicCache whose layers grow into preallocated buffers (amortised), instead
    of concatenating the whole cache at every generated token."""
    from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

    class GrowingLayer(DynamicLayer):
        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
                self._view = None
            fresh = self._view is None or self.keys is not self._view  # e.g. after batch_select_indices
            length = 0 if self.keys.numel() == 0 else self.keys.shape[-2]
            need = length + key_states.shape[-2]
            if fresh or need > self._kbuf.shape[-2]:
                batch, heads, _, dim = key_states.shape
                capacity = need + max(64, need // 2)
                kbuf = key_states.new_empty((batch, heads, capacity, dim))
                vbuf = value_states.new_empty((batch, heads, capacity, dim))
                if length:
                    kbuf[:, :, :length] = self.keys
                    vbuf[:, :, :length] = self.values
                self._kbuf, self._vbuf = kbuf, vbuf
            self._kbuf[:, :, length:need] = key_states
            self._vbuf[:, :, length:need] = value_states
            self.keys, self.values = self._kbuf[:, :, :need], self._vbuf[:, :, :need]
            self._view = self.keys
            return self.keys, self.values

    class GrowingCache(DynamicCache):
        def __init__(self) -> None:
            layers = []
            for keys, values in data or []:
                layer = GrowingLayer()
                layer.update(keys, values)
                layers.append(layer)
            if layers:
                Cache.__init__(self, layers=layers)
            else:
                Cache.__init__(self, layer_class_to_replicate=GrowingLayer)

    return GrowingCache()


@dataclass
class _Prefix:
    """A conversation's tokens and their keys and values, per layer (heads, tokens, head_dim)."""

    ids: list[int]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]


class HFBackend(GenerationBackend):
    """Generation with the transformers model in this process (CPU or one GPU).

    Prefix caching: a row given a `cache_key` keeps its keys and values after the call; the next
    call with that key whose prompt starts with the same tokens only runs the new tokens (a
    multi-turn episode's next turn costs its new observation, not the whole context again). The
    cache is checked token by token and emptied whenever the weights change (parameter versions),
    so reuse never changes a result.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, chat: ChatFormat | None = None,
                 max_cached: int = 256) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.chat = chat
        self.max_cached = max_cached
        self._prefixes: dict[Hashable, _Prefix] = {}
        self._weights_version: tuple | None = None
        self.reused_tokens = 0
        """Prompt tokens served from the prefix cache (for throughput reports)."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def sync_weights(self) -> None:
        self._prefixes.clear()

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache, keep: int = 1):
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                         position_ids=pos.to(self.device), past_key_values=cache, use_cache=True,
                         logits_to_keep=keep)
        return out.logits, out.past_key_values

    # ---- prefix cache -------------------------------------------------------------------------
    def _check_weights(self) -> None:
        version = (id(self.model), sum(p._version for p in self.model.parameters()))
        if version != self._weights_version:
            self._prefixes.clear()
            self._weights_version = version

    def _prefill(self, prompts: list[list[int]], keys: list[Hashable] | None):
        """Run the prompts (reusing cached prefixes) -> (last logits, cache, mask, next positions)."""
        self._check_weights()
        reuse: list[_Prefix | None] = [None] * len(prompts)
        if keys is not None:
            for i, (prompt, key) in enumerate(zip(prompts, keys)):
                prefix = self._prefixes.get(key) if key is not None else None
                if prefix is not None and len(prefix.ids) < len(prompt) and prompt[:len(prefix.ids)] == prefix.ids:
                    reuse[i] = prefix
        if not any(reuse):
            # Identical prompts (a GRPO group's first turn) are run once and their cache shared.
            firsts: dict[tuple, int] = {}
            owner = [firsts.setdefault(tuple(prompt), len(firsts)) for prompt in prompts]
            unique = [list(prompt) for prompt in firsts]
            ids, mask = left_pad(unique, self.pad_id)
            pos = positions(mask)
            logits, cache = self._forward(ids, mask, pos, _growing_cache())
            if len(unique) < len(prompts):
                index = torch.tensor(owner, dtype=torch.long)
                cache.batch_select_indices(index.to(self.device))
                logits, mask, pos = logits[index.to(logits.device)], mask[index], pos[index]
            return logits, cache, mask, pos[:, -1:] + 1
        cached = [len(r.ids) if r is not None else 0 for r in reuse]
        width = max(cached)
        new = [prompt[c:] for prompt, c in zip(prompts, cached)]
        ids, new_mask = left_pad(new, self.pad_id)
        old_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        layers = len(next(r for r in reuse if r is not None).keys)
        template = next(r for r in reuse if r is not None)
        data = []
        for layer in range(layers):
            heads, _, dim = template.keys[layer].shape
            k = template.keys[layer].new_zeros((len(prompts), heads, width, dim))
            v = template.values[layer].new_zeros((len(prompts), heads, width, dim))
            for row, prefix in enumerate(reuse):
                if prefix is not None:
                    k[row, :, width - cached[row]:] = prefix.keys[layer]
                    v[row, :, width - cached[row]:] = prefix.values[layer]
            data.append((k, v))
        for row, c in enumerate(cached):
            old_mask[row, width - c:] = 1
        cache = _growing_cache(data)
        mask = torch.cat([old_mask, new_mask], dim=1)
        pos = (torch.tensor(cached)[:, None] + new_mask.cumsum(-1) - 1).clamp_(min=0)
        logits, cache = self._forward(ids, mask, pos, cache)
        self.reused_tokens += sum(cached)
        return logits, cache, mask, pos[:, -1:] + 1

    def _store(self, keys: list[Hashable] | None, cache, mask: torch.Tensor, fed: list[list[int]]) -> None:
        """Keep each keyed row's real (unmasked) keys and values; `fed` are the tokens they hold."""
        if keys is None:
            return
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        for row, key in enumerate(keys):
            if key is None:
                continue
            columns = mask[row].nonzero().squeeze(-1).to(self.device)
            if len(columns) != len(fed[row]):  # never expected; then simply do not cache
                self._prefixes.pop(key, None)
                continue
            self._prefixes.pop(key, None)
            self._prefixes[key] = _Prefix(ids=list(fed[row]),
                                          keys=[k[row].index_select(1, columns) for k, _ in layers],
                                          values=[v[row].index_select(1, columns) for _, v in layers])
        while len(self._prefixes) > self.max_cached:
            self._prefixes.pop(next(iter(self._prefixes)))

    # ---- generation -------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: list[list[int]], params: SamplingParams, generator: torch.Generator | None = None,
                 cache_keys: list[Hashable] | None = None) -> list[Completion]:
        if not prompts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            logits, cache, mask, next_pos = self._prefill(prompts, cache_keys)
            rows = [_Row() for _ in prompts]
            for step in range(params.max_new_tokens):
                tokens, logprobs = sample_tokens(logits[:, -1, :], params.temperature, params.top_p, generator)
                for row, token, logprob in zip(rows, tokens.tolist(), logprobs.tolist()):
                    if row.done:
                        continue
                    row.tokens.append(token)
                    row.logprobs.append(logprob)
                    if token in params.stop_ids:
                        row.done, row.reason, row.by_token = True, "stop", True
                    elif params.stop_strings:
                        self._check_stop_strings(row, token, params.stop_strings)
                if all(row.done for row in rows) or step == params.max_new_tokens - 1:
                    break
                # Rows that are done feed padding that nothing attends to.
                alive = torch.tensor([not row.done for row in rows])
                tokens = torch.where(alive.to(tokens.device), tokens, torch.full_like(tokens, self.pad_id))
                mask = torch.cat([mask, alive[:, None].to(mask.dtype)], dim=1)
                logits, cache = self._forward(tokens[:, None].cpu(), mask, next_pos, cache)
                next_pos = next_pos + 1
            # Every reply token but the last was fed to the model: that is what the cache holds.
            self._store(cache_keys, cache, mask, [prompt + row.tokens[:-1] for prompt, row in zip(prompts, rows)])
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
    def score(self, contexts: list[list[int]], candidates: list[list[list[int]]],
              cache_keys: list[Hashable] | None = None) -> list[list[list[float]]]:
        """Prefill each context once (reusing cached prefixes), then run every candidate on a copy
        of its context's cache."""
        if not contexts:
            return []
        was_training = self.model.training
        self.model.eval()
        try:
            logits, cache, mask, next_pos = self._prefill(contexts, cache_keys)
            self._store(cache_keys, cache, mask, contexts)
            first = torch.log_softmax(logits[:, -1, :].float(), dim=-1)  # (contexts, vocab)
            owner = [i for i, cands in enumerate(candidates) for _ in cands]
            flat = [cand for cands in candidates for cand in cands]
            if not flat:
                return [[] for _ in contexts]
            cache.batch_select_indices(torch.tensor(owner, dtype=torch.long, device=self.device))
            longest = max(len(c) for c in flat)
            cand_ids = torch.full((len(flat), longest), self.pad_id, dtype=torch.long)
            cand_mask = torch.zeros((len(flat), longest), dtype=torch.long)
            for row, cand in enumerate(flat):
                cand_ids[row, :len(cand)] = torch.tensor(cand, dtype=torch.long)
                cand_mask[row, :len(cand)] = 1
            full_mask = torch.cat([mask[owner], cand_mask], dim=1)
            cand_pos = next_pos[owner] + torch.arange(longest)[None, :]
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
