"""The exact policy of `choose` mode: log-probabilities of each turn's choice among the listed actions.

In `choose` mode the model does not write its action: it scores every action the world lists by
the summed log-probability of that action's reply tokens, s_k = sum_j log p(c_kj | context, c_k<j),
and samples from softmax(s / T). The action is the choice, so the policy gradient is that of the
choice's log-probability,

    log pi(k | context) = s_k / T - logsumexp_i(s_i / T),

whose normaliser reaches every candidate: lowering a bad choice raises the others. (Training the
chosen reply's tokens alone would lower s_k by moving probability to tokens no listed action uses.)

One forward pass per episode scores every candidate of every turn with gradients: the episode's
own ids (the chosen replies are in them), then each other candidate appended after them, at the
positions its turn's reply would take and attending only to the context before that turn and to
its own earlier tokens (a tree-shaped attention mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from rldojo.llm.rollout import Episode


@dataclass
class ChoiceBatch:
    """Episodes with their candidates laid out for one forward pass."""

    ids: torch.Tensor
    """(batch, length) the episode's ids, then the other candidates' ids, then padding."""
    positions: torch.Tensor
    """(batch, length) position ids (a candidate's token sits where its turn's reply does)."""
    attention: torch.Tensor
    """(batch, 1, length, length) bool: which columns each row attends to."""
    keep: int
    """Logits are needed for the last `keep` columns (from the first reply on)."""
    token_row: torch.Tensor
    """(tokens,) batch row of each candidate token."""
    token_col: torch.Tensor
    """(tokens,) column (within the kept logits) whose logits predict that token."""
    token_id: torch.Tensor
    """(tokens,) the candidate token."""
    token_candidate: torch.Tensor
    """(tokens,) index of its candidate in the flat list of candidates."""
    candidate_turn: torch.Tensor
    """(candidates,) row of the candidate's turn in the (episodes, max_turns) grid (flattened)."""
    candidate_slot: torch.Tensor
    """(candidates,) the candidate's place in its turn's list."""
    chosen_slot: torch.Tensor
    """(episodes, max_turns) the chosen candidate of each turn (0 where there is no turn)."""
    turn_mask: torch.Tensor
    """(episodes, max_turns) float, 1 on real turns."""
    max_candidates: int


def has_choices(episode: Episode) -> bool:
    """Whether every turn of `episode` was a choice with its candidates recorded."""
    return bool(episode.choices) and len(episode.choices) == episode.turns


def make_choice_batch(episodes: list[Episode], pad_id: int) -> ChoiceBatch:
    """Lay out `episodes` (each with `choices`) for `choice_logprobs`."""
    rows = len(episodes)
    max_turns = max(ep.turns for ep in episodes)
    layouts = []
    for ep in episodes:
        extra: list[tuple[int, int, list[int]]] = []  # (turn, slot, ids) of the candidates not chosen
        for turn, (candidates, pick) in enumerate(ep.choices):
            extra += [(turn, slot, ids) for slot, ids in enumerate(candidates) if slot != pick]
        layouts.append((ep, extra, len(ep) + sum(len(ids) for _, _, ids in extra)))
    length = max(total for _, _, total in layouts)
    first_reply = min(ep.turn_spans[0][0] for ep in episodes)
    keep = length - (first_reply - 1)
    offset = length - keep  # column of the first kept logit
    ids = torch.full((rows, length), pad_id, dtype=torch.long)
    positions = torch.zeros((rows, length), dtype=torch.long)
    attention = torch.zeros((rows, 1, length, length), dtype=torch.bool)
    token_row, token_col, token_id, token_candidate = [], [], [], []
    candidate_turn, candidate_slot = [], []
    chosen_slot = torch.zeros((rows, max_turns), dtype=torch.long)
    turn_mask = torch.zeros((rows, max_turns), dtype=torch.float32)
    max_candidates = 1
    causal = torch.ones((length, length), dtype=torch.bool).tril_()
    for row, (ep, extra, total) in enumerate(layouts):
        base = len(ep)
        ids[row, :base] = torch.tensor(ep.token_ids, dtype=torch.long)
        positions[row, :base] = torch.arange(base)
        attention[row, 0, :base, :base] = causal[:base, :base]
        attention[row, 0, total:, :] = torch.eye(length, dtype=torch.bool)[total:]  # padding sees itself
        flat_of: dict[tuple[int, int], int] = {}
        for turn, (candidates, pick) in enumerate(ep.choices):
            chosen_slot[row, turn], turn_mask[row, turn] = pick, 1.0
            max_candidates = max(max_candidates, len(candidates))
            for slot in range(len(candidates)):
                flat_of[(turn, slot)] = len(candidate_turn)
                candidate_turn.append(row * max_turns + turn)
                candidate_slot.append(slot)
            start, end = ep.turn_spans[turn]
            for j in range(end - start):  # the chosen reply's tokens, predicted in place
                token_row.append(row)
                token_col.append(start + j - 1 - offset)
                token_id.append(ep.token_ids[start + j])
                token_candidate.append(flat_of[(turn, pick)])
        column = base
        for turn, slot, cand in extra:
            start = ep.turn_spans[turn][0]
            span = len(cand)
            ids[row, column : column + span] = torch.tensor(cand, dtype=torch.long)
            positions[row, column : column + span] = torch.arange(start, start + span)
            block = attention[row, 0, column : column + span]
            block[:, :start] = True  # the context before the turn's reply
            block[:, column : column + span] = causal[:span, :span]
            for j in range(span):
                token_row.append(row)
                # the first token is predicted from the context's last column, the rest from their own
                token_col.append((start - 1 if j == 0 else column + j - 1) - offset)
                token_id.append(cand[j])
                token_candidate.append(flat_of[(turn, slot)])
            column += span
    return ChoiceBatch(
        ids=ids,
        positions=positions,
        attention=attention,
        keep=keep,
        token_row=torch.tensor(token_row, dtype=torch.long),
        token_col=torch.tensor(token_col, dtype=torch.long),
        token_id=torch.tensor(token_id, dtype=torch.long),
        token_candidate=torch.tensor(token_candidate, dtype=torch.long),
        candidate_turn=torch.tensor(candidate_turn, dtype=torch.long),
        candidate_slot=torch.tensor(candidate_slot, dtype=torch.long),
        chosen_slot=chosen_slot,
        turn_mask=turn_mask,
        max_candidates=max_candidates,
    )


def choice_logprobs(
    model: torch.nn.Module, batch: ChoiceBatch, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(episodes, max_turns) log-probability of each turn's chosen action under `model`'s choice
    policy softmax(scores / temperature), and (episodes, max_turns, max_candidates) the whole
    choice distribution's log-probabilities (-inf past a turn's candidates; 0 where no turn)."""
    device = next(model.parameters()).device
    out = model(
        input_ids=batch.ids.to(device),
        attention_mask=batch.attention.to(device),
        position_ids=batch.positions.to(device),
        use_cache=False,
        logits_to_keep=batch.keep,
    )
    # token log-probabilities at temperature 1, as the rollout scored them
    logits = out.logits[batch.token_row.to(device), batch.token_col.to(device)].float()
    token_lp = torch.log_softmax(logits, dim=-1).gather(-1, batch.token_id.to(device)[:, None]).squeeze(-1)
    candidates = batch.candidate_turn.shape[0]
    scores = torch.zeros(candidates, device=device, dtype=token_lp.dtype).index_add(
        0, batch.token_candidate.to(device), token_lp
    )
    rows, turns = batch.turn_mask.shape
    grid = torch.full((rows * turns, batch.max_candidates), float("-inf"), device=device, dtype=scores.dtype)
    # turns that do not exist get one zero score (a distribution of one certain choice, log-prob 0)
    grid[batch.turn_mask.view(-1).to(device) == 0, 0] = 0.0
    grid = grid.index_put((batch.candidate_turn.to(device), batch.candidate_slot.to(device)), scores)
    scale = temperature if temperature > 0 else 1.0
    log_policy = torch.log_softmax(grid / scale, dim=-1).view(rows, turns, -1)
    chosen = log_policy.gather(-1, batch.chosen_slot.to(device)[..., None]).squeeze(-1)
    return chosen, log_policy


def choice_entropy(log_policy: torch.Tensor) -> torch.Tensor:
    """(episodes, max_turns) entropy of each turn's choice distribution."""
    probs = log_policy.exp()
    return -(probs * log_policy.masked_fill(probs == 0, 0.0)).sum(-1)


def choice_logprobs_without_grad(
    model: torch.nn.Module, episodes: list[Episode], pad_id: int, temperature: float, micro_batch_size: int
) -> list[list[float]]:
    """Each turn's chosen-action log-probability under `model` (one list per episode), without
    gradients (the old policy, the reference)."""
    out: list[list[float]] = []
    with torch.no_grad():
        for first in range(0, len(episodes), micro_batch_size):
            chunk = episodes[first : first + micro_batch_size]
            chosen, _ = choice_logprobs(model, make_choice_batch(chunk, pad_id), temperature)
            out += [chosen[row, : ep.turns].tolist() for row, ep in enumerate(chunk)]
    return out


def turn_values(values: list[list[float]], turns: int) -> torch.Tensor:
    """Per-turn lists (one per episode) -> an (episodes, turns) tensor, zero-padded."""
    grid = torch.zeros((len(values), turns), dtype=torch.float32)
    for row, row_values in enumerate(values):
        grid[row, : len(row_values)] = torch.tensor(row_values, dtype=torch.float32)
    return grid


def policy_logprobs(
    forward: torch.nn.Module,
    episodes: list[Episode],
    pad_id: int,
    temperature: float,
    aligned: dict[str, list[list[float]]] | None = None,
    choice_mode: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """What a policy-gradient loss needs of a micro-batch, all (rows, span): the log-probabilities
    of the model's actions, their entropy (no gradient), the mask of what is trained, and the
    `aligned` values given per episode. Per token (`generate` mode), or per turn, of the choice
    among the listed actions (`choice_mode`)."""
    from rldojo.llm.batch import make_batch, token_logprobs

    if choice_mode:
        batch = make_choice_batch(episodes, pad_id)
        logp, log_policy = choice_logprobs(forward, batch, temperature)
        turns = batch.turn_mask.shape[1]
        given = {name: turn_values(values, turns) for name, values in (aligned or {}).items()}
        return logp, choice_entropy(log_policy.detach()), batch.turn_mask, given
    batch = make_batch(episodes, pad_id, aligned)
    logp, entropy = token_logprobs(forward, batch, temperature, with_entropy=True)
    return logp, entropy, batch.mask, batch.aligned


def policy_logprobs_without_grad(
    forward: torch.nn.Module,
    episodes: list[Episode],
    pad_id: int,
    temperature: float,
    micro_batch_size: int,
    micro_batch_tokens: int | None = None,
    choice_mode: bool = False,
) -> list[list[float]]:
    """The log-probabilities of `policy_logprobs` without gradients (old policy, reference), one list
    per episode: aligned with its token ids, or one value per turn in `choice_mode`."""
    from rldojo.llm.batch import logprobs_without_grad

    if choice_mode:
        return choice_logprobs_without_grad(forward, episodes, pad_id, temperature, micro_batch_size)
    return logprobs_without_grad(forward, episodes, pad_id, temperature, micro_batch_size, micro_batch_tokens)
