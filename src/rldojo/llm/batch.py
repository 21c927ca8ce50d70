"""Episodes -> padded training batches, and the per-token log-probabilities the trainers need.

Rows are left-padded so that every episode's first trained token sits at the same column, and
right-padded to the longest; logits are then computed only from that column on
(`logits_to_keep`), which skips the shared prompt's output layer. Position ids skip the padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from loguru import logger

from rldojo.llm.rollout import Episode


@dataclass
class TokenBatch:
    ids: torch.Tensor
    """(batch, length) token ids."""
    attention: torch.Tensor
    """(batch, length) 1 on real tokens."""
    positions: torch.Tensor
    """(batch, length) position ids (padding skipped)."""
    targets: torch.Tensor
    """(batch, span) the tokens predicted from column `start` on."""
    mask: torch.Tensor
    """(batch, span) float, 1 where a target is trained (model-generated)."""
    sampled_logprobs: torch.Tensor
    """(batch, span) the rollout's sampling log-probabilities (0 off the mask)."""
    start: int
    """Column of the first trained token."""
    shifts: list[int]
    """Left padding of each row."""
    aligned: dict[str, torch.Tensor]
    """(batch, span) per-token values given with the episodes (e.g. old log-probabilities)."""

    def unpad(self, values: torch.Tensor, lengths: list[int]) -> list[list[float]]:
        """(batch, span) values -> one list per episode aligned with its token ids (0.0 where none)."""
        out = []
        for row, (shift, length) in enumerate(zip(self.shifts, lengths)):
            full = [0.0] * length
            for j, value in enumerate(values[row].tolist()):
                index = self.start + j - shift
                if 0 <= index < length:
                    full[index] = value
            out.append(full)
        return out


def make_batch(episodes: list[Episode], pad_id: int, aligned: dict[str, list[list[float]]] | None = None) -> TokenBatch:
    """Pad episodes into one batch; `aligned` holds per-token values (one list per episode, aligned
    with its token ids) to pad the same way."""
    firsts = [ep.mask.index(1) if 1 in ep.mask else len(ep.mask) for ep in episodes]
    start = max(firsts)
    shifts = [start - f for f in firsts]
    length = max(shift + len(ep) for shift, ep in zip(shifts, episodes))
    rows = len(episodes)
    ids = torch.full((rows, length), pad_id, dtype=torch.long)
    attention = torch.zeros((rows, length), dtype=torch.long)
    mask = torch.zeros((rows, length), dtype=torch.float32)
    sampled = torch.zeros((rows, length), dtype=torch.float32)
    for row, (shift, ep) in enumerate(zip(shifts, episodes)):
        end = shift + len(ep)
        ids[row, shift:end] = torch.tensor(ep.token_ids, dtype=torch.long)
        attention[row, shift:end] = 1
        mask[row, shift:end] = torch.tensor(ep.mask, dtype=torch.float32)
        sampled[row, shift:end] = torch.tensor(ep.logprobs, dtype=torch.float32)
    extra = {}
    for name, lists in (aligned or {}).items():
        values = torch.zeros((rows, length), dtype=torch.float32)
        for row, (shift, ep, vals) in enumerate(zip(shifts, episodes, lists)):
            values[row, shift : shift + len(ep)] = torch.tensor(vals, dtype=torch.float32)
        extra[name] = values
    positions = (attention.cumsum(-1) - 1).clamp_(min=0)
    start = max(start, 1)  # the first token of a sequence is never predicted
    return TokenBatch(
        ids=ids,
        attention=attention,
        positions=positions,
        targets=ids[:, start:],
        mask=mask[:, start:],
        sampled_logprobs=sampled[:, start:],
        start=start,
        shifts=shifts,
        aligned={name: values[:, start:] for name, values in extra.items()},
    )


def padded_length(episodes: list[Episode]) -> int:
    """Columns of `make_batch(episodes)`: the latest first trained token plus the longest stretch
    from a row's first trained token to its end (rows are aligned on that token)."""
    firsts = [ep.mask.index(1) if 1 in ep.mask else len(ep.mask) for ep in episodes]
    return max(firsts) + max(len(ep) - first for ep, first in zip(episodes, firsts))


_warned_over_budget = False


def micro_batches(episodes: list[Episode], max_rows: int, max_tokens: int | None = None) -> list[list[int]]:
    """Split `episodes` into micro-batches (lists of indices into `episodes`) for forward passes.

    Without `max_tokens`: runs of `max_rows` episodes in order, as before token budgets existed.
    With it: each micro-batch holds at most `max_rows` episodes and its padded batch (rows x
    `padded_length`, as `make_batch` pads) at most `max_tokens` token slots. The episodes are packed
    longest first, greedily: sorting puts episodes of similar length together, so a short episode
    does not pay for a long one's padding, and callers sum per-micro-batch losses normalised by the
    whole minibatch, so the order of rows changes no gradient. An episode longer than the budget
    alone forms a micro-batch of its own (it cannot be split: its tokens attend to each other)."""
    if max_tokens is None:
        return [list(range(i, min(i + max_rows, len(episodes)))) for i in range(0, len(episodes), max_rows)]
    global _warned_over_budget
    firsts = [ep.mask.index(1) if 1 in ep.mask else len(ep.mask) for ep in episodes]
    tails = [len(ep) - first for ep, first in zip(episodes, firsts)]
    order = sorted(range(len(episodes)), key=lambda i: -(firsts[i] + tails[i]))  # stable: ties keep their order
    out: list[list[int]] = []
    current: list[int] = []
    first_max = tail_max = 0
    for i in order:
        first, tail = max(first_max, firsts[i]), max(tail_max, tails[i])
        if current and (len(current) >= max_rows or (len(current) + 1) * (first + tail) > max_tokens):
            out.append(current)
            current, first, tail = [], firsts[i], tails[i]
        current.append(i)
        first_max, tail_max = first, tail
        if len(current) == 1 and first + tail > max_tokens and not _warned_over_budget:
            _warned_over_budget = True
            logger.warning(
                "an episode of {} tokens is longer than micro_batch_tokens={}: it forms a micro-batch of its "
                "own (raise micro_batch_tokens if memory allows; this is said once)",
                first + tail,
                max_tokens,
            )
    if current:
        out.append(current)
    return out


def _shared_prefixes(batch: TokenBatch) -> tuple[list[int], list[int]] | None:
    """(first row of each distinct prefix, prefix index of every row) when rows share the columns
    before the first trained token (a GRPO group's common prompt); None when no two rows do."""
    prefixes = batch.ids[:, : batch.start]
    firsts: dict[tuple, int] = {}
    owner = []
    for row in range(prefixes.shape[0]):
        key = tuple(prefixes[row].tolist())
        owner.append(firsts.setdefault(key, len(firsts)))
    if len(firsts) == len(owner):
        return None
    unique_rows = [owner.index(i) for i in range(len(firsts))]
    return unique_rows, owner


def token_logprobs(
    model: torch.nn.Module,
    batch: TokenBatch,
    temperature: float = 1.0,
    with_entropy: bool = False,
    share_prefix: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probability of every target under `model` (logits divided by `temperature`), and the
    entropy of each predicted distribution when asked (no gradient through it).

    With `share_prefix`, rows whose columns before the first trained token are identical (the
    episodes of one GRPO group start from the same prompt) run that prefix once: its keys and
    values (with their gradients) are shared by the rows. The result is the same as without."""
    device = next(model.parameters()).device
    ids, attention, positions = batch.ids.to(device), batch.attention.to(device), batch.positions.to(device)
    shared = _shared_prefixes(batch) if share_prefix and batch.start > 1 else None
    if shared is None:
        keep = batch.ids.shape[1] - batch.start + 1
        out = model(
            input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=False, logits_to_keep=keep
        )
        logits = out.logits[:, :-1, :]
    else:
        from transformers import DynamicCache

        unique_rows, owner = shared
        start = batch.start
        rows = torch.tensor(unique_rows, device=device)
        owner_index = torch.tensor(owner, device=device)
        head = model(
            input_ids=ids[rows, :start],
            attention_mask=attention[rows, :start],
            position_ids=positions[rows, :start],
            past_key_values=DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
        )
        cache = head.past_key_values
        expanded = DynamicCache(
            ddp_cache_data=[
                (layer.keys.index_select(0, owner_index), layer.values.index_select(0, owner_index))
                for layer in cache.layers
            ]
        )
        tail = model(
            input_ids=ids[:, start:],
            attention_mask=attention,
            position_ids=positions[:, start:],
            past_key_values=expanded,
            use_cache=True,
        )
        logits = torch.cat([head.logits[owner_index], tail.logits[:, :-1, :]], dim=1)
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    logprobs = torch.log_softmax(logits, dim=-1)
    chosen = logprobs.gather(-1, batch.targets.to(device)[..., None]).squeeze(-1)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(logprobs.exp() * logprobs).sum(-1)
    return chosen, entropy


class TrainForwards:
    """What computes each model's log-probabilities in a trainer: for a plain Llama model (rldojo's
    tiny model) a lean stand-in with the same values and gradients (`rldojo.llm.fastllama`), else
    the model itself; built once per model and rebuilt if the model object changes."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}

    def __call__(self, model: torch.nn.Module) -> torch.nn.Module:
        from rldojo.llm.fastllama import LlamaTrainForward

        held = self._held.get(id(model))
        # gradient checkpointing lives in transformers' forward: the lean one would keep every activation
        fast = LlamaTrainForward.supports(model) and not getattr(model, "is_gradient_checkpointing", False)
        if held is None or held[0] is not model or isinstance(held[1], LlamaTrainForward) != fast:
            held = (model, LlamaTrainForward(model) if fast else model)
            self._held[id(model)] = held
        return held[1]


def logprobs_without_grad(
    forward: torch.nn.Module,
    episodes: list[Episode],
    pad_id: int,
    temperature: float,
    micro_batch_size: int,
    micro_batch_tokens: int | None = None,
) -> list[list[float]]:
    """Per-token log-probabilities of `episodes` under `forward` (aligned with each episode's ids),
    in micro-batches (`micro_batches`), without gradients (old policy, reference)."""
    out: list[list[float]] = [[] for _ in episodes]
    with torch.no_grad():
        for idx in micro_batches(episodes, micro_batch_size, micro_batch_tokens):
            chunk = [episodes[i] for i in idx]
            batch = make_batch(chunk, pad_id)
            logp, _ = token_logprobs(forward, batch, temperature)
            for i, values in zip(idx, batch.unpad(logp.cpu(), [len(ep) for ep in chunk])):
                out[i] = values
    return out
