"""GRPO: Group Relative Policy Optimization (Shao et al., 2024), for multi-turn text agents.

Each iteration plays `groups` training tasks, each `group_size` times (same task id, different
episode seeds), and scores every episode by its total env reward R. The advantage of episode i
of group g is

    A_i = R_i - mean_g(R)            divided by std_g(R) (scale_rewards: group),
                                     by the batch's std (batch), or not at all (none)

and every token the model produced in that episode gets it. With per-token ratio
r = pi(t) / pi_old(t) the loss is

    l_t = -min(r * A, clip(r, 1 - epsilon, 1 + epsilon_high) * A) + beta * KL_t
    KL_t = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          (k3 estimator, >= 0)

aggregated over the model's tokens as (loss):
    grpo     mean over each episode's tokens, then mean over episodes
    dr_grpo  sum over tokens / (episodes * max_new_tokens * max_turns)   (Dr. GRPO, no length bias)
    dapo     sum over tokens / tokens in the batch                       (token-level mean)

With `dynamic_sampling` (DAPO), groups whose episodes all got the same reward (zero advantage,
nothing to learn) are dropped and more tasks are played, up to `max_sampling_rounds` rounds per
iteration, until `groups` groups with reward variance are in hand; the update uses those (fewer
if the rounds run out) and the episode metrics cover every episode played.

Standard deviations are the unbiased ones (as in TRL). The reference is the model at the start of
the stage: the adapters switched off with LoRA, a frozen copy otherwise, and nothing at all when
beta = 0. Each batch is used for `epochs` passes of `minibatches` optimizer steps; with one pass
of one step the old policy is the current one (ratio 1, as in TRL), otherwise pi_old is computed
before the first step.

In `choose` mode the policy is the choice among the listed actions (`rldojo.llm.choice`): the
ratio, the KL estimate and the entropy are those of each turn's choice, log pi(k) = s_k / T -
logsumexp_i(s_i / T) over the candidates' summed token log-probabilities s_i, and the losses
above aggregate over turns where they say tokens (dr_grpo's constant is then episodes x
max_turns). Every candidate is scored with gradients, so lowering a bad choice raises the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from rldojo.algos.lm_agent import LMAgent, LMAgentConfig
from rldojo.algos.stage import (
    EPISODE_METRICS,
    ITERATION_METRICS,
    StageParams,
    StageTrainer,
    StepReport,
    my_share,
    rl_iteration,
)
from rldojo.config import OptimConfig, section_field
from rldojo.llm.batch import TrainForwards
from rldojo.llm.choice import policy_logprobs, policy_logprobs_without_grad, turn_values
from rldojo.nets.optim import (
    all_reduce_sums,
    build_optimizer,
    load_optimizer_state,
    lr_factor,
    set_lr_factor,
    step_accumulated,
)

GRPO_METRICS: tuple[str, ...] = (
    *EPISODE_METRICS,
    "loss",
    "kl",
    "clip_frac",
    "entropy",
    "grad_norm",
    "adv_zero_groups",
    "groups_used",
    *ITERATION_METRICS,
)


class GRPOParams(StageParams):
    """Hyperparameters of GRPO (a stage of its own or part of a pipeline)."""

    metric_names: ClassVar[tuple[str, ...]] = GRPO_METRICS
    summary: ClassVar[str] = "Group Relative Policy Optimization for language-model agents"

    algo: Literal["grpo"] = "grpo"
    """Algorithm name."""
    group_size: int = Field(8, ge=2)
    """Episodes per task in a group (advantages are relative within the group)."""
    groups: int = Field(2, ge=1)
    """Tasks per iteration (the batch is groups x group_size episodes)."""
    epochs: int = Field(1, ge=1)
    """Passes over each batch."""
    minibatches: int = Field(1, ge=1)
    """Optimizer steps per pass (the batch is split into this many minibatches)."""
    micro_batch_size: int = Field(16, ge=1)
    """Episodes per forward pass (gradients accumulate within a minibatch)."""
    micro_batch_tokens: int | None = Field(None, ge=1)
    """Token budget of a forward pass (None: micro_batch_size episodes each): micro-batches are packed
    so that episodes x the longest of them (padded) stays within it, at most micro_batch_size
    episodes each; an episode longer than the budget is a micro-batch of its own. Gradients are the
    same either way; long multi-turn episodes then fit in memory."""
    epsilon: float = Field(0.2, gt=0, lt=1)
    """Lower clip range of the probability ratio."""
    epsilon_high: float | None = Field(None, gt=0)
    """Upper clip range (None: epsilon; DAPO's clip-higher uses e.g. 0.28)."""
    beta: float = Field(0.0, ge=0)
    """Weight of the KL penalty to the reference model (0: no reference model is kept)."""
    scale_rewards: Literal["group", "batch", "none"] = "group"
    """Divide advantages by the group's reward std, the batch's, or not at all (Dr. GRPO)."""
    loss: Literal["grpo", "dr_grpo", "dapo"] = "dapo"
    """How token losses are averaged (see the module docstring)."""
    dynamic_sampling: bool = False
    """DAPO's dynamic sampling: drop groups without reward variance and play more tasks in their place."""
    explored_losses: Literal["skip", "train"] = "skip"
    """`choose` mode with generation.explore: turns whose action the exploration drew, in episodes
    that did worse than their group (negative advantage), are left out of the loss (`skip`) or
    pushed down like the model's own (`train`). The model did not choose them, and pushing an
    action it gives ~0 probability further down moves it hardest of all (its log-probability
    gradient is unbounded), so with `train` exploring a listed action mostly lowers it."""
    max_sampling_rounds: int = Field(4, ge=1)
    """With dynamic_sampling: rounds of play per iteration at most (each plays the groups still missing)."""
    optim: OptimConfig = section_field(OptimConfig, name="adamw", lr=1.0e-4, eps=1.0e-8)
    """Optimizer and schedule (the schedule spans train.iterations)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm of each optimizer step to this (None: no clipping)."""

    def scaled_for_dev(self):
        """One small group per iteration: `rldojo dev` exercises the stage, it does not train it."""
        return self.model_copy(update={"group_size": min(self.group_size, 4), "groups": 1})

    def build_trainer(self, agent: LMAgent) -> StageTrainer:
        return GRPOTrainer(self, agent)


class GRPOConfig(GRPOParams, LMAgentConfig):
    """`agent:` section for `algo: grpo`."""


# ---- the objective ------------------------------------------------------------------------------
def group_advantages(rewards: torch.Tensor, scale: str, eps: float = 1e-4) -> torch.Tensor:
    """(groups, group_size) rewards -> advantages of the same shape."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale == "group":
        return centred / (rewards.std(dim=1, keepdim=True) + eps)
    if scale == "batch":
        return centred / (rewards.std() + eps)
    return centred


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || ref) estimate exp(ref - logp) - (ref - logp) - 1."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    loss_type: str,
    epsilon: float,
    epsilon_high: float,
    beta: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    episodes: int | None = None,
    tokens: float | None = None,
    max_tokens: int = 1,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GRPO loss of (rows, span) token log-probabilities; `advantages` is (rows,).

    `episodes` and `tokens` are the normalisers of the whole minibatch when it is split into
    micro-batches (default: this batch's own), so accumulated gradients equal the full batch's.
    Returns the loss and per-token terms (ratio, clipped flags, kl) for metrics.
    """
    episodes = episodes if episodes is not None else logp.shape[0]
    tokens = tokens if tokens is not None else float(mask.sum())
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None]
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high) * adv
    per_token = -torch.min(unclipped, clipped)
    kl = None
    if beta > 0:
        kl = kl_k3(logp, ref_logp)
        per_token = per_token + beta * kl
    if loss_type == "grpo":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).sum() / episodes
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (episodes * max_tokens)
    elif loss_type == "dapo":
        loss = (per_token * mask).sum() / max(tokens, 1.0)
    else:
        raise ValueError(f"unknown loss type {loss_type!r}")
    is_clipped = ((ratio < 1 - epsilon) & (adv < 0)) | ((ratio > 1 + epsilon_high) & (adv > 0))
    return loss, {"ratio": ratio.detach(), "clipped": is_clipped, "kl": None if kl is None else kl.detach()}


# ---- the trainer --------------------------------------------------------------------------------
class GRPOTrainer(StageTrainer):
    def __init__(self, params: GRPOParams, agent: LMAgent) -> None:
        self.params, self.agent = params, agent
        self.runtime = agent.runtime
        self.params_list = agent.lm.trainable_parameters()
        self.optimizer = build_optimizer(self.params_list, params.optim)
        self.iteration = 0
        self.updates = 0
        self.groups_played = 0
        self.zero_share = math.nan  # of the last iteration's played groups
        self.pad_id = agent.actor.backend.pad_id
        self.epsilon_high = params.epsilon_high if params.epsilon_high is not None else params.epsilon
        self.max_tokens = agent.cfg.generation.max_new_tokens * self.runtime.max_turns()
        self.temperature = agent.cfg.generation.temperature or 1.0
        # the choice among listed actions is the policy in `choose` mode (see the module docstring)
        self.choice_mode = agent.cfg.generation.action_mode == "choose"
        if self.choice_mode:
            self.max_tokens = self.runtime.max_turns()
        self._forward_of = TrainForwards()  # the lean forward of the tiny model, else the model
        self.reference = None
        if params.beta > 0 and not agent.lm.has_adapters:
            self.reference = agent.lm.frozen_copy()  # the model as the stage starts

    def progress(self) -> tuple[int, int | None]:
        return self.iteration, self.runtime.iterations

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _total_updates(self) -> int:
        """Optimizer steps of the stage, for warm-up and decay (set train.iterations with a decaying
        schedule; without it the schedule assumes 1000 iterations)."""
        iterations = self.runtime.iterations
        return (iterations or 1000) * self.params.epochs * self.params.minibatches

    def steps(self) -> Iterator[StepReport]:
        while self.runtime.iterations is None or self.iteration < self.runtime.iterations:
            report = rl_iteration(self.agent, [], self.update, self.current_lr, play=self._play_groups)
            self.iteration += 1
            yield report

    def _play_groups(self, stats) -> tuple[list, list]:
        """(the episodes to learn from, every episode played): one round of `groups` groups, or with
        dynamic sampling further rounds until `groups` groups with reward variance are in hand."""
        params, size = self.params, self.params.group_size
        kept: list = []
        played: list = []
        zero = 0
        rounds = params.max_sampling_rounds if params.dynamic_sampling else 1
        for _ in range(rounds):
            missing = params.groups - len(kept) // size
            starts = self.runtime.train_tasks.groups(missing, size, first_group=self.groups_played)
            self.groups_played += missing
            episodes = self.agent.play(starts, stats=stats)
            played += episodes
            for g in range(missing):
                group = episodes[g * size : (g + 1) * size]
                flat = len({ep.reward for ep in group}) == 1
                zero += flat
                if not (params.dynamic_sampling and flat):
                    kept += group
            if len(kept) // size >= params.groups:
                break
        self.zero_share = zero / (len(played) // size)
        return kept, played

    # ---- one update -----------------------------------------------------------------------------
    def _logprobs_of(self, model: torch.nn.Module, episodes: list, mine: list[int]) -> list[list[float]]:
        """Log-probabilities without gradients (per token, or per turn in `choose` mode) of the
        episodes `mine` this process trains on (the others' are left empty)."""
        params = self.params
        values = policy_logprobs_without_grad(
            self._forward_of(model),
            [episodes[i] for i in mine],
            self.pad_id,
            self.temperature,
            params.micro_batch_size,
            params.micro_batch_tokens,
            self.choice_mode,
        )
        out: list[list[float]] = [[] for _ in episodes]
        for i, row in zip(mine, values):
            out[i] = row
        return out

    def _trained_turns(self, episode, advantage: float) -> list[float]:
        """`choose` mode: 1 for each turn the loss trains, 0 for explored turns it skips."""
        skip = self.params.explored_losses == "skip" and advantage < 0
        return [0.0 if skip and strategy == "explore" else 1.0 for strategy in episode.strategies]

    def _trained_units(self, episode, advantage: float) -> float:
        """What the loss averages over: the model's tokens, or its trained turns in `choose` mode."""
        if self.choice_mode:
            return sum(self._trained_turns(episode, advantage))
        return episode.generated_tokens

    def update(self, episodes: list) -> dict[str, float]:
        from rldojo.llm.batch import micro_batches

        params, lm = self.params, self.agent.lm
        model = lm.model
        if not episodes:  # dynamic sampling found no group with reward variance: nothing to learn
            return {
                "loss": math.nan,
                "kl": math.nan,
                "clip_frac": math.nan,
                "entropy": math.nan,
                "grad_norm": math.nan,
                "adv_zero_groups": self.zero_share,
                "groups_used": 0.0,
            }
        if not model.training:  # generation leaves the mode alone; a full traversal costs a millisecond
            model.train()
        rewards = torch.tensor([ep.reward for ep in episodes], dtype=torch.float32)
        rewards = rewards.view(-1, params.group_size)
        advantages = group_advantages(rewards, params.scale_rewards).view(-1)
        mine = my_share(len(episodes), params.group_size)  # whole groups; all of them in a lone process
        owned = set(mine)
        aligned: dict[str, list[list[float]]] = {}
        fixed_old = params.epochs * params.minibatches > 1
        if fixed_old:
            aligned["old"] = self._logprobs_of(model, episodes, mine)
        if params.beta > 0:
            if self.reference is not None:
                aligned["ref"] = self._logprobs_of(self.reference, episodes, mine)
            else:
                with lm.reference_context():
                    aligned["ref"] = self._logprobs_of(model, episodes, mine)

        rng = np.random.default_rng(self.agent.seed * 1_000_003 + self.iteration)
        sums = {"loss": 0.0, "kl": 0.0, "clipped": 0.0, "entropy": 0.0, "tokens": 0.0, "grad_norm": 0.0}
        total_updates = self._total_updates()
        for _ in range(params.epochs):
            order = rng.permutation(len(episodes))
            for chunk in np.array_split(order, params.minibatches):
                if len(chunk) == 0:
                    continue
                mb_tokens = float(sum(self._trained_units(episodes[i], float(advantages[i])) for i in chunk))
                set_lr_factor(self.optimizer, lr_factor(self.updates, total_updates, params.optim))
                local = chunk[[i in owned for i in chunk]]  # the whole chunk normalises; this process's share runs
                in_chunk = [episodes[i] for i in local]
                for positions in micro_batches(in_chunk, params.micro_batch_size, params.micro_batch_tokens):
                    idx = local[positions]
                    micro = [episodes[i] for i in idx]
                    logp, entropy, mask, given = policy_logprobs(
                        self._forward_of(model),
                        micro,
                        self.pad_id,
                        self.temperature,
                        {k: [v[i] for i in idx] for k, v in aligned.items()},
                        self.choice_mode,
                    )
                    device = logp.device
                    if self.choice_mode:  # explored turns of worse-than-group episodes (explored_losses)
                        mask = mask * turn_values(
                            [self._trained_turns(ep, float(advantages[i])) for ep, i in zip(micro, idx)], mask.shape[1]
                        )
                    mask = mask.to(device)
                    old = given["old"].to(device) if fixed_old else logp.detach()
                    ref = given["ref"].to(device) if params.beta > 0 else None
                    loss, terms = grpo_loss(
                        logp,
                        old,
                        advantages[idx].to(device),
                        mask,
                        params.loss,
                        params.epsilon,
                        self.epsilon_high,
                        params.beta,
                        ref,
                        episodes=len(chunk),
                        tokens=mb_tokens,
                        max_tokens=self.max_tokens,
                    )
                    loss.backward()
                    sums["loss"] += float(loss.detach())
                    sums["tokens"] += float(mask.sum())
                    sums["clipped"] += float((terms["clipped"].float() * mask).sum())
                    sums["entropy"] += float((entropy * mask).sum())
                    if terms["kl"] is not None:
                        sums["kl"] += float((terms["kl"] * mask).sum())
                sums["grad_norm"] += step_accumulated(self.optimizer, self.params_list, params.max_grad_norm)
                self.updates += 1
        self.agent.actor.backend.sync_weights()
        grad_norm = sums.pop("grad_norm")  # the same in every process (the gradients were summed)
        sums = all_reduce_sums(sums)
        sums["grad_norm"] = grad_norm
        steps = params.epochs * params.minibatches
        tokens = max(sums["tokens"], 1.0)
        return {
            "loss": sums["loss"] / steps,
            "kl": sums["kl"] / tokens if params.beta > 0 else math.nan,
            "clip_frac": sums["clipped"] / tokens,
            "entropy": sums["entropy"] / tokens,
            "grad_norm": sums["grad_norm"] / steps,
            "adv_zero_groups": self.zero_share,
            "groups_used": float(rewards.shape[0]),
        }

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "iteration": self.iteration,
            "updates": self.updates,
            "groups_played": self.groups_played,
            "reference": None if self.reference is None else self.reference.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state["optimizer"])
        self.iteration, self.updates = int(state["iteration"]), int(state["updates"])
        self.groups_played = int(state.get("groups_played", self.iteration * self.params.groups))
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])
