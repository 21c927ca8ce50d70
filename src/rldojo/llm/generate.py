"""Batched generation behind a backend interface: token ids and per-token log-probabilities.

`GenerationBackend` is all the trainers and the rollout use: `generate` (sample replies to many
prompts at once) and `score` (log-likelihood of candidate continuations, for `choose` mode). The
`hf` backend runs the transformers model itself: one prefill of the left-padded batch, then one
token per forward pass with a KV cache. A vLLM backend would implement the same two methods.

The forward passes go through a runner: `LlamaRunner` (rldojo.llm.fastllama), a lean tensor-op
forward with preallocated key/value buffers, for plain Llama-architecture models such as rldojo's
tiny model; transformers' own forward with a growing `DynamicCache` for every other model. Both
give the same results up to float rounding. The decode loop keeps its per-row state in tensors
(sampled tokens, log-probabilities, live rows) and reads them back once at the end.

Log-probabilities are those of the temperature-scaled distribution before top-p truncation (the
distribution the trainers recompute), and of the untempered one when decoding greedily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

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
    explore: float = 0.0
    """`choose` mode: share of turns whose action is drawn uniformly from the listed ones."""


@dataclass
class Completion:
    """One generated reply."""

    token_ids: list[int]
    logprobs: list[float]
    """Log-probability of each token under the sampling distribution (see the module docstring)."""
    text: str
    """The decoded reply, cut before a stop string if one ended it."""
    finish_reason: str = "length"
    """`stop` (stop token or string), `length` (max_new_tokens) or, in `choose` mode, `explore` (the
    action was drawn uniformly from the listed ones, `generation.explore`)."""
    stopped_by_token: bool = False
    """Whether the last token is a stop token (the reply is closed)."""


class GenerationBackend(ABC):
    """What the rollout and the trainers need from an inference engine."""

    @abstractmethod
    def generate(
        self,
        prompts: list[list[int]],
        params: SamplingParams,
        generator: torch.Generator | None = None,
        cache_keys: list[Hashable] | None = None,
    ) -> list[Completion]:
        """Sample one reply per prompt (prompts are token id lists of any lengths). Rows with the
        same `cache_keys` entry across calls continue one conversation; a backend may reuse
        their common prefix (a hint: results must not depend on it)."""

    @abstractmethod
    def score(
        self, contexts: list[list[int]], candidates: list[list[list[int]]], cache_keys: list[Hashable] | None = None
    ) -> list[list[list[float]]]:
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
            ids[row, longest - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, longest - len(seq) :] = 1
    return ids, mask


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding."""
    return (mask.cumsum(-1) - 1).clamp_(min=0)


def sample_tokens(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row of (batch, vocab) logits -> (tokens, their log-probabilities).

    Sampling inverts each row's cumulative distribution at one uniform draw (a sorted search):
    the same distribution as `torch.multinomial`, at a fraction of its cost on CPU."""
    logits = logits.float()
    if temperature <= 0:
        logprobs = torch.log_softmax(logits, dim=-1)
        tokens = logits.argmax(dim=-1)
        return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
    logprobs = torch.log_softmax(logits / temperature if temperature != 1.0 else logits, dim=-1)
    probs = logprobs.exp()
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # Keep a token while the mass before it is below top_p (the first token always stays).
        drop = probs.cumsum(-1) - probs >= top_p
        probs = probs.masked_fill(drop, 0.0)
    cdf = probs.cumsum(-1)
    draw = torch.rand((cdf.shape[0], 1), generator=generator, dtype=cdf.dtype, device=cdf.device) * cdf[:, -1:]
    # The first index whose cumulative mass exceeds the draw (a zero-probability token never is).
    choice = torch.searchsorted(cdf, draw, right=True).clamp_(max=cdf.shape[-1] - 1)
    tokens = (order.gather(-1, choice) if order is not None else choice).squeeze(-1)
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


class _HFRunner:
    """Forward passes through transformers' own model call (any causal LM)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model

    def refresh(self) -> None:
        """Nothing to prepare: the model call reads its weights itself."""

    def new_cache(self, batch: int, capacity: int):
        return _growing_cache()

    def cache_from(self, data: list[tuple[torch.Tensor, torch.Tensor]], reserve: int):
        return _growing_cache(data)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor, cache, keep: int = 1) -> torch.Tensor:
        device = next(self.model.parameters()).device
        out = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=pos.to(device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=keep,
        )
        return out.logits


@dataclass
class _Prefix:
    """A conversation's tokens and where their keys and values are: row `row` of the batch's
    per-layer (batch, heads, columns, head_dim) tensors, at the columns where `mask` (that row's)
    is 1. Kept by reference and copied out only when the conversation continues (a single-turn
    episode's prefix is never used again, and then costs nothing)."""

    ids: list[int]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    row: int
    mask: torch.Tensor

    def layer(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(keys, values) of this conversation in layer `index`, each (heads, tokens, head_dim)."""
        columns = self.mask.nonzero().squeeze(-1).to(self.keys[index].device)
        return (
            self.keys[index][self.row].index_select(1, columns),
            self.values[index][self.row].index_select(1, columns),
        )


class HFBackend(GenerationBackend):
    """Generation with the transformers model in this process (CPU or one GPU).

    Prefix caching: a row given a `cache_key` keeps its keys and values after the call; the next
    call with that key whose prompt starts with the same tokens only runs the new tokens (a
    multi-turn episode's next turn costs its new observation, not the whole context again). The
    cache is checked token by token and emptied whenever the weights change (parameter versions),
    so reuse never changes a result.

    `fast` (default on) runs plain Llama-architecture models through `LlamaRunner`; off, or for any
    other model, every forward is transformers' own.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        chat: ChatFormat | None = None,
        max_cached: int = 256,
        fast: bool = True,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        self.chat = chat
        self.max_cached = max_cached
        self.fast = fast
        self._prefixes: dict[Hashable, _Prefix] = {}
        self._weights_version: tuple | None = None
        self._runners: dict[int, Any] = {}
        self.reused_tokens = 0
        """Prompt tokens served from the prefix cache (for throughput reports)."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def sync_weights(self) -> None:
        self._prefixes.clear()

    def _runner(self):
        """The runner of the current model (the model object may be swapped), with fresh weights."""
        from rldojo.llm.fastllama import LlamaRunner

        # Checked at every call (cheap): adapters injected into the same model object turn it off.
        fast = self.fast and LlamaRunner.supports(self.model)
        key = id(self.model)
        runner = self._runners.get(key)
        if runner is None or runner.model is not self.model or isinstance(runner, LlamaRunner) != fast:
            runner = LlamaRunner(self.model) if fast else _HFRunner(self.model)
            self._runners = {key: runner}
        runner.refresh()
        return runner

    def _enter_eval(self, runner) -> bool:
        """Switch the model to eval mode for a transformers forward (dropout off); whether it was
        training, to switch back. The lean runner has no dropout: the mode is left alone."""
        if isinstance(runner, _HFRunner) and self.model.training:
            self.model.eval()
            return True
        return False

    # ---- prefix cache -------------------------------------------------------------------------
    def _check_weights(self) -> None:
        version = (id(self.model), sum(p._version for p in self.model.parameters()))
        if version != self._weights_version:
            self._prefixes.clear()
            self._weights_version = version

    def _prefill(self, runner, prompts: list[list[int]], keys: list[Hashable] | None, reserve: int = 0):
        """Run the prompts (reusing cached prefixes) -> (last logits, cache, mask, next positions);
        the cache has room for `reserve` more tokens per row."""
        self._check_weights()
        device = self.device
        reuse: list[_Prefix | None] = [None] * len(prompts)
        if keys is not None:
            for i, (prompt, key) in enumerate(zip(prompts, keys)):
                prefix = self._prefixes.get(key) if key is not None else None
                if prefix is not None and len(prefix.ids) < len(prompt) and prompt[: len(prefix.ids)] == prefix.ids:
                    reuse[i] = prefix
        if not any(reuse):
            # Identical prompts (a GRPO group's first turn) are run once and their cache shared.
            firsts: dict[tuple, int] = {}
            owner = [firsts.setdefault(tuple(prompt), len(firsts)) for prompt in prompts]
            unique = [list(prompt) for prompt in firsts]
            ids, mask = left_pad(unique, self.pad_id)
            ids, mask = ids.to(device), mask.to(device)
            pos = positions(mask)
            cache = runner.new_cache(len(unique), ids.shape[1] + reserve)
            logits = runner.forward(ids, mask, pos, cache)
            if len(unique) < len(prompts):
                index = torch.tensor(owner, dtype=torch.long, device=device)
                cache.batch_select_indices(index)
                logits, mask, pos = logits[index], mask[index], pos[index]
            return logits, cache, mask, pos[:, -1:] + 1
        cached = [len(r.ids) if r is not None else 0 for r in reuse]
        width = max(cached)
        new = [prompt[c:] for prompt, c in zip(prompts, cached)]
        ids, new_mask = left_pad(new, self.pad_id)
        old_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        template = next(r for r in reuse if r is not None)
        data = []
        for layer in range(len(template.keys)):
            _, heads, _, dim = template.keys[layer].shape
            k = template.keys[layer].new_zeros((len(prompts), heads, width, dim))
            v = template.values[layer].new_zeros((len(prompts), heads, width, dim))
            for row, prefix in enumerate(reuse):
                if prefix is not None:
                    k[row, :, width - cached[row] :], v[row, :, width - cached[row] :] = prefix.layer(layer)
            data.append((k, v))
        for row, c in enumerate(cached):
            old_mask[row, width - c :] = 1
        cache = runner.cache_from(data, ids.shape[1] + reserve)
        mask = torch.cat([old_mask, new_mask], dim=1).to(device)
        pos = (torch.tensor(cached)[:, None] + new_mask.cumsum(-1) - 1).clamp_(min=0).to(device)
        logits = runner.forward(ids.to(device), mask, pos, cache)
        self.reused_tokens += sum(cached)
        return logits, cache, mask, pos[:, -1:] + 1

    def _store(self, keys: list[Hashable] | None, cache, mask: torch.Tensor, fed: list[list[int]]) -> None:
        """Remember each keyed row's keys and values (by reference); `fed` are the tokens they hold,
        at the columns where `mask` is 1."""
        if keys is None:
            return
        layers = cache.layers
        layer_keys, layer_values = [layer.keys for layer in layers], [layer.values for layer in layers]
        counts = mask.sum(-1).tolist()
        for row, key in enumerate(keys):
            if key is None:
                continue
            self._prefixes.pop(key, None)
            if counts[row] != len(fed[row]):  # never expected; then simply do not cache
                continue
            self._prefixes[key] = _Prefix(
                ids=list(fed[row]), keys=layer_keys, values=layer_values, row=row, mask=mask[row]
            )
        while len(self._prefixes) > self.max_cached:
            self._prefixes.pop(next(iter(self._prefixes)))

    # ---- generation -------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        prompts: list[list[int]],
        params: SamplingParams,
        generator: torch.Generator | None = None,
        cache_keys: list[Hashable] | None = None,
    ) -> list[Completion]:
        if not prompts:
            return []
        runner = self._runner()
        was_training = self._enter_eval(runner)
        try:
            steps = params.max_new_tokens
            logits, cache, mask, next_pos = self._prefill(runner, prompts, cache_keys, reserve=steps)
            device, rows, width = mask.device, len(prompts), mask.shape[1]
            # Per-row state lives in tensors; nothing is read back per token unless stop strings
            # need the text.
            full_mask = torch.zeros((rows, width + steps), dtype=mask.dtype, device=device)
            full_mask[:, :width] = mask
            out_tokens = torch.zeros((rows, steps), dtype=torch.long, device=device)
            out_logprobs = torch.zeros((rows, steps), dtype=torch.float32, device=device)
            alive = torch.ones(rows, dtype=torch.bool, device=device)
            lengths = torch.zeros(rows, dtype=torch.long, device=device)
            by_token = torch.zeros(rows, dtype=torch.bool, device=device)
            stop_ids = torch.tensor(sorted(params.stop_ids), dtype=torch.long, device=device)
            texts: list[_Row] | None = [_Row() for _ in prompts] if params.stop_strings else None
            fed = 0  # decoded tokens fed back to the model (columns after `width`)
            for step in range(steps):
                tokens, logprobs = sample_tokens(logits[:, -1, :], params.temperature, params.top_p, generator)
                out_tokens[:, step] = tokens
                out_logprobs[:, step] = logprobs
                lengths += alive
                if len(stop_ids):
                    hit = alive & torch.isin(tokens, stop_ids)
                    by_token |= hit
                    alive &= ~hit
                if texts is not None:
                    self._check_stop_strings(texts, tokens, alive, params.stop_strings)
                if step == steps - 1 or not bool(alive.any()):
                    break
                # Rows that are done feed padding that nothing attends to.
                full_mask[:, width + step] = alive
                feed = torch.where(alive, tokens, self.pad_id)
                logits = runner.forward(feed[:, None], full_mask[:, : width + step + 1], next_pos, cache)
                next_pos = next_pos + 1
                fed = step + 1
            token_lists, logprob_lists = out_tokens.tolist(), out_logprobs.tolist()
            counts, stopped = lengths.tolist(), by_token.tolist()
            replies = []
            for i in range(rows):
                row = texts[i] if texts is not None else _Row()
                row.tokens, row.logprobs = token_lists[i][: counts[i]], logprob_lists[i][: counts[i]]
                if stopped[i]:
                    row.reason, row.by_token = "stop", True
                replies.append(row)
            # Every reply token but the last was fed to the model: that is what the cache holds.
            self._store(
                cache_keys,
                cache,
                full_mask[:, : width + fed],
                [prompt + row.tokens[:-1] for prompt, row in zip(prompts, replies)],
            )
        finally:
            if was_training:
                self.model.train()
        return [self._completion(row) for row in replies]

    def _check_stop_strings(
        self, rows: list[_Row], tokens: torch.Tensor, alive: torch.Tensor, stop_strings: tuple[str, ...]
    ) -> None:
        """Append each live row's new token to its text; rows whose text now holds a stop string
        end (`alive` is updated in place). Rows that a stop token just ended are left as they are."""
        flags = alive.tolist()
        for i, (row, token) in enumerate(zip(rows, tokens.tolist())):
            if not flags[i] or row.done:
                continue
            row.text += self.tokenizer.decode([token], skip_special_tokens=False)
            for stop in stop_strings:
                if row.text.find(stop, max(0, len(row.text) - len(stop) - 64)) >= 0:
                    row.done, row.reason, row.stop = True, "stop", stop
                    alive[i] = False
                    break

    def _completion(self, row: _Row) -> Completion:
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        if row.stop is not None and row.stop in text:
            text = text[: text.index(row.stop)]
        return Completion(
            token_ids=row.tokens,
            logprobs=row.logprobs,
            text=text,
            finish_reason=row.reason,
            stopped_by_token=row.by_token,
        )

    @torch.inference_mode()
    def score(
        self, contexts: list[list[int]], candidates: list[list[list[int]]], cache_keys: list[Hashable] | None = None
    ) -> list[list[list[float]]]:
        """Prefill each context once (reusing cached prefixes), then run every candidate on a copy
        of its context's cache."""
        if not contexts:
            return []
        runner = self._runner()
        was_training = self._enter_eval(runner)
        try:
            longest = max((len(c) for cands in candidates for c in cands), default=0)
            logits, cache, mask, next_pos = self._prefill(runner, contexts, cache_keys, reserve=longest)
            self._store(cache_keys, cache, mask, contexts)
            first = torch.log_softmax(logits[:, -1, :].float(), dim=-1)  # (contexts, vocab)
            owner = [i for i, cands in enumerate(candidates) for _ in cands]
            flat = [cand for cands in candidates for cand in cands]
            if not flat:
                return [[] for _ in contexts]
            device = mask.device
            owner_index = torch.tensor(owner, dtype=torch.long, device=device)
            cache.batch_select_indices(owner_index)
            cand_ids = torch.full((len(flat), longest), self.pad_id, dtype=torch.long)
            cand_mask = torch.zeros((len(flat), longest), dtype=torch.long)
            for row, cand in enumerate(flat):
                cand_ids[row, : len(cand)] = torch.tensor(cand, dtype=torch.long)
                cand_mask[row, : len(cand)] = 1
            cand_ids = cand_ids.to(device)
            full_mask = torch.cat([mask[owner_index], cand_mask.to(device)], dim=1)
            cand_pos = next_pos[owner_index] + torch.arange(longest, device=device)[None, :]
            cand_logits = runner.forward(cand_ids, full_mask, cand_pos, cache, keep=longest)
            # Token k of a candidate is predicted by the context's last logits (k = 0) or by
            # the candidate's own position k - 1.
            logprobs = torch.log_softmax(cand_logits[:, :-1, :].float(), dim=-1)
            first_lp = first[owner_index].gather(-1, cand_ids[:, :1])  # (rows, 1)
            rest_lp = logprobs.gather(-1, cand_ids[:, 1:, None]).squeeze(-1)
            per_token = torch.cat([first_lp, rest_lp], dim=1).cpu().tolist()
        finally:
            if was_training:
                self.model.train()
        out: list[list[list[float]]] = [[] for _ in contexts]
        for i, cand, values in zip(owner, flat, per_token):
            out[i].append(values[: len(cand)])
        return out
