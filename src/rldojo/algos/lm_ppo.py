"""PPO with a learned critic for language-model agents (Ouyang et al., 2022; RAGEN, Wang et al., 2025).

Each iteration plays `groups` training tasks `group_size` times each (as GRPO draws them). A value
head (a 2-layer MLP) reads the last hidden state of the policy's trunk (`critic: shared`) or of a
separate trainable copy of it (`critic: separate`). Values are per token: V_t is read from the
position that predicts token t, like the token's log-probability. Only the model's own tokens (the
mask) are states; env text between turns is context, not a step.

Rewards and advantages (`gae_level`), with the reference KL as a reward penalty (`kl_mode: reward`,
k1 estimator kl_t = logp_old(t) - logp_ref(t)):

    token  r_t = R_k on the last token of turn k (0 elsewhere) - kl_coef * kl_t
           delta_t = r_t + gamma * V_{t+1} - V_t           over the model's tokens in order
           A_t = delta_t + gamma * lam * A_{t+1},  G_t = A_t + V_t      (value targets: every token)
    turn   one value per turn, V_k = V at turn k's last token; r_k = R_k - kl_coef * sum_turn kl_t
           A_k = GAE over turns, every token of turn k gets A_k;  G_k = A_k + V_k at that token

The episode's end is terminal (V = 0 after it; truncated episodes are not bootstrapped). Advantages
are whitened over the batch's tokens (`normalize_advantages`). With r = pi(t) / pi_old(t):

    policy  l_t = -min(r * A_t, clip(r, 1 - clip_low, 1 + clip_high) * A_t)
    value   v_t = 0.5 * max((V - G)^2, (V_old + clip(V - V_old, -value_clip, value_clip) - G)^2)
    loss    = mean_tokens(l_t - ent_coef * H_t + kl_coef * KL3_t) + vf_coef * mean_value_tokens(v_t)

KL3_t = exp(ref - logp) - (ref - logp) - 1 appears only with `kl_mode: loss`. Means are over the
minibatch's tokens (value tokens: every model token, or each turn's last token at turn level), so
gradient accumulation over micro-batches gives the minibatch's gradient. pi_old, V_old and the
reference log-probabilities come from one pass without gradients before the first step. The policy
and the critic have their own optimizers (`optim`, `critic_optim`), stepped together; the first
`critic_warmup` iterations step only the critic. `filter_top_fraction` (RAGEN) trains only on the
groups whose rewards vary most (by standard deviation).

In `choose` mode the chosen reply's tokens are trained like generated ones: the gradient of the
choice's normaliser over the other candidates is left out (GRPO trains the exact choice).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterator
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from rldojo.algos.grpo import kl_k3
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
from rldojo.config import OptimConfig, refuse_set_keys, section_field
from rldojo.llm.batch import TokenBatch
from rldojo.llm.fastllama import LlamaRunner, LlamaTrainForward
from rldojo.nets.mlp import mlp
from rldojo.nets.optim import (
    all_gather_objects,
    all_reduce_sums,
    build_optimizer,
    load_optimizer_state,
    lr_factor,
    set_lr_factor,
    step_accumulated,
)

LM_PPO_METRICS: tuple[str, ...] = (
    *EPISODE_METRICS,
    "loss",
    "policy_loss",
    "value_loss",
    "explained_variance",
    "value_mean",
    "clip_frac",
    "clip_frac_low",
    "clip_frac_high",
    "value_clip_frac",
    "approx_kl",
    "kl",
    "entropy",
    "adv_mean",
    "adv_std",
    "kept_groups",
    "grad_norm",
    "critic_grad_norm",
    *ITERATION_METRICS,
)


class LMPPOParams(StageParams):
    """Hyperparameters of PPO with a value head (a stage of its own or part of a pipeline)."""

    metric_names: ClassVar[tuple[str, ...]] = LM_PPO_METRICS
    summary: ClassVar[str] = "PPO with a learned value head for language-model agents"

    algo: Literal["lm_ppo"] = "lm_ppo"
    """Algorithm name."""
    group_size: int = Field(4, ge=1)
    """Episodes per task (groups matter only to `filter_top_fraction`)."""
    groups: int = Field(4, ge=1)
    """Tasks per iteration (the batch is groups x group_size episodes)."""
    ppo_epochs: int = Field(2, ge=1)
    """Passes over each batch."""
    minibatches: int = Field(2, ge=1)
    """Optimizer steps per pass (the batch is split into this many minibatches of episodes)."""
    micro_batch_size: int = Field(16, ge=1)
    """Episodes per forward pass (gradients accumulate within a minibatch)."""
    micro_batch_tokens: int | None = Field(None, ge=1)
    """Token budget of a forward pass (None: micro_batch_size episodes each): micro-batches are packed
    so that episodes x the longest of them (padded) stays within it, at most micro_batch_size
    episodes each; an episode longer than the budget is a micro-batch of its own. Gradients are the
    same either way; long multi-turn episodes then fit in memory."""
    gamma: float = Field(1.0, ge=0, le=1)
    """Discount per step of `gae_level` (per token or per turn)."""
    lam: float = Field(0.95, ge=0, le=1)
    """GAE lambda: 0 is one-step TD advantages, 1 is Monte-Carlo returns minus the value."""
    gae_level: Literal["token", "turn"] = "token"
    """`token`: GAE over the model's tokens, a turn's reward on its last token; `turn`: one value per
    turn (at its last token), GAE over turns, each token gets its turn's advantage (RAGEN)."""
    normalize_advantages: bool = True
    """Whiten advantages (zero mean, unit std) over the batch's trained tokens."""
    clip_low: float = Field(0.2, gt=0, lt=1)
    """Lower clip range of the probability ratio (1 - clip_low)."""
    clip_high: float = Field(0.28, gt=0, le=10)
    """Upper clip range of the probability ratio (1 + clip_high; DAPO's clip-higher)."""
    vf_coef: float = Field(0.5, gt=0, le=100)
    """Weight of the value loss (which is 0.5 x squared error, CleanRL's convention)."""
    value_clip: float | None = Field(0.2, gt=0, le=1000)
    """Clip the value update to +-value_clip around V_old (None: plain squared error)."""
    ent_coef: float = Field(0.0, ge=0, le=10)
    """Weight of the entropy bonus (the entropy of each trained token's distribution)."""
    kl_coef: float = Field(0.0, ge=0, le=100)
    """Weight of the KL to the reference model (the model as the stage starts; 0: none is kept)."""
    kl_mode: Literal["reward", "loss"] = "reward"
    """`reward`: -kl_coef x (logp_old - logp_ref) is added to each token's reward; `loss`: kl_coef x
    the k3 estimate is added to each token's loss (as GRPO's beta)."""
    critic: Literal["shared", "separate"] = "shared"
    """`shared`: the value head reads the policy's trunk (the value loss trains the trunk too);
    `separate`: it reads a trainable copy of the model as the stage starts (twice the compute)."""
    value_hidden: int = Field(128, ge=1, le=65536)
    """Width of the value head's hidden layer."""
    critic_optim: OptimConfig = section_field(OptimConfig, name="adamw", lr=1.0e-3, eps=1.0e-8)
    """Optimizer of the value head (and the separate trunk); its schedule spans the stage."""
    critic_warmup: int = Field(0, ge=0)
    """First iterations that train only the critic (the policy waits for useful values)."""
    filter_top_fraction: float | None = Field(None, gt=0, le=1)
    """Train on this fraction of the groups whose rewards vary most (RAGEN's filter; None: all).
    Episode metrics still cover every episode played."""
    optim: OptimConfig = section_field(OptimConfig, name="adamw", lr=1.0e-4, eps=1.0e-8)
    """Optimizer of the policy and its schedule (spanning the policy's steps of train.iterations)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm of each step, policy and critic each (None: no clipping)."""

    @model_validator(mode="after")
    def _used_settings(self) -> LMPPOParams:
        if self.kl_coef == 0:
            refuse_set_keys(self, "lm_ppo", {"kl_mode": "kl_coef is 0, so no KL term is used"})
        if self.filter_top_fraction is not None and self.group_size < 2:
            raise ValueError(
                "filter_top_fraction ranks groups by the spread of their rewards, which needs group_size >= 2"
            )
        return self

    def scaled_for_dev(self) -> LMPPOParams:
        """One small group per iteration and at most one warm-up iteration (dev runs two)."""
        return self.model_copy(
            update={
                "group_size": min(self.group_size, 4),
                "groups": 1,
                "critic_warmup": min(self.critic_warmup, 1),
            }
        )

    def build_trainer(self, agent: LMAgent) -> StageTrainer:
        return LMPPOTrainer(self, agent)


class LMPPOConfig(LMPPOParams, LMAgentConfig):
    """`agent:` section for `algo: lm_ppo`."""


#: What an update adds up over its micro-batches (summed over the processes of a data-parallel run).
SUMMED: tuple[str, ...] = (
    "loss",
    "policy_loss",
    "value_loss",
    "tokens",
    "value_tokens",
    "low",
    "high",
    "value_clipped",
    "approx_kl",
    "entropy",
)


# ---- advantages ---------------------------------------------------------------------------------
def gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """GAE over one sequence that ends in a terminal state: (advantages, returns = advantages + values)."""
    advantages = np.zeros(len(rewards), dtype=np.float64)
    running, next_value = 0.0, 0.0
    for t in range(len(rewards) - 1, -1, -1):
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + np.asarray(values, dtype=np.float64)


def episode_advantages(
    spans: list[tuple[int, int]],
    turn_rewards: list[float],
    values: np.ndarray,
    level: str,
    gamma: float,
    lam: float,
    token_rewards: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Advantages, value targets and the value mask of one episode, each aligned with its token ids.

    `values[i]` is the value read where token i is predicted; `token_rewards[i]` a per-token reward
    (the KL penalty). A turn whose reply is empty gives its reward to the previous reply's end."""
    length = len(values)
    token_rewards = np.zeros(length) if token_rewards is None else np.asarray(token_rewards, dtype=np.float64)
    turns: list[tuple[int, int]] = []  # non-empty replies
    turn_reward: list[float] = []
    for (start, end), reward in zip(spans, turn_rewards):
        if end > start:
            turns.append((start, end))
            turn_reward.append(float(reward))
        elif turn_reward:
            turn_reward[-1] += float(reward)
    advantages, returns, value_mask = np.zeros(length), np.zeros(length), np.zeros(length)
    if not turns:
        return advantages, returns, value_mask
    if level == "token":
        positions = np.concatenate([np.arange(start, end) for start, end in turns])
        rewards = token_rewards[positions].copy()
        ends = np.cumsum([end - start for start, end in turns]) - 1  # each turn's last token in `positions`
        rewards[ends] += turn_reward
        adv, ret = gae(rewards, values[positions], gamma, lam)
        advantages[positions], returns[positions], value_mask[positions] = adv, ret, 1.0
    elif level == "turn":
        lasts = np.array([end - 1 for _, end in turns])
        rewards = np.array([r + token_rewards[start:end].sum() for r, (start, end) in zip(turn_reward, turns)])
        adv, ret = gae(rewards, values[lasts], gamma, lam)
        for (start, end), a in zip(turns, adv):
            advantages[start:end] = a
        returns[lasts], value_mask[lasts] = ret, 1.0
    else:
        raise ValueError(f"unknown gae_level {level!r}")
    return advantages, returns, value_mask


def top_groups(rewards: torch.Tensor, fraction: float) -> list[int]:
    """Indices (ascending) of the ceil(fraction x groups) groups whose rewards have the largest std;
    `rewards` is (groups, group_size). Ties keep the earlier group."""
    keep = max(1, math.ceil(fraction * rewards.shape[0]))
    spread = rewards.std(dim=1)
    order = sorted(range(rewards.shape[0]), key=lambda g: (-float(spread[g]), g))
    return sorted(order[:keep])


# ---- the objective ------------------------------------------------------------------------------
def ppo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    value_mask: torch.Tensor,
    clip_low: float,
    clip_high: float,
    vf_coef: float,
    value_clip: float | None,
    ent_coef: float = 0.0,
    entropy: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    ref_logp: torch.Tensor | None = None,
    tokens: float | None = None,
    value_tokens: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO loss of (rows, span) per-token tensors (see the module docstring).

    `tokens` and `value_tokens` are the minibatch's normalisers when it is split into micro-batches
    (default: this batch's own). Returns the loss and its parts and per-token flags for metrics."""
    tokens = float(mask.sum()) if tokens is None else tokens
    value_tokens = float(value_mask.sum()) if value_tokens is None else value_tokens
    ratio = torch.exp(logp - old_logp)
    clipped_ratio = torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    policy = -torch.min(ratio * advantages, clipped_ratio * advantages)
    per_token = policy
    if ent_coef > 0:
        per_token = per_token - ent_coef * entropy
    if kl_coef > 0:
        per_token = per_token + kl_coef * kl_k3(logp, ref_logp)
    error = (values - returns) ** 2
    if value_clip is not None:
        clipped_values = old_values + torch.clamp(values - old_values, -value_clip, value_clip)
        error = torch.max(error, (clipped_values - returns) ** 2)
    value_loss = (0.5 * error * value_mask).sum() / max(value_tokens, 1.0)
    policy_loss = (policy * mask).sum() / max(tokens, 1.0)
    loss = (per_token * mask).sum() / max(tokens, 1.0) + vf_coef * value_loss
    low = (ratio < 1 - clip_low) & (advantages < 0)  # the clip is active: the gradient is cut
    high = (ratio > 1 + clip_high) & (advantages > 0)
    value_clipped = (
        (values - old_values).abs() > value_clip if value_clip is not None else torch.zeros_like(value_mask).bool()
    )
    return loss, {
        "policy_loss": policy_loss.detach(),
        "value_loss": value_loss.detach(),
        "clipped_low": low,
        "clipped_high": high,
        "value_clipped": value_clipped,
        "approx_kl": ((ratio - 1) - torch.log(ratio)).detach(),  # k3 of KL(pi_old || pi)
    }


# ---- the critic ---------------------------------------------------------------------------------
class _RunnerWithHidden(LlamaRunner):
    """`LlamaRunner` whose output layer also gives the final (normalised) hidden state: an identity
    appended to the unembedding yields [logits | hidden] in one product, so the lean forward (same
    values and gradients as transformers', about half its autograd nodes) serves the critic too."""

    def __init__(self, model: torch.nn.Module, logits: bool) -> None:
        super().__init__(model)
        self.logits = logits

    def _gather_weights(self):
        weights = super()._gather_weights()
        head = weights.lm_head
        eye = torch.eye(head.shape[1], dtype=head.dtype, device=head.device)
        return dataclasses.replace(weights, lm_head=torch.cat([head, eye]) if self.logits else eye)


class TrunkForward(torch.nn.Module):
    """A causal LM's logits (optional) and last hidden state at the positions that predict a batch's
    targets: (rows, span, vocab) or None, and (rows, span, hidden)."""

    def __init__(self, model: torch.nn.Module, logits: bool = True) -> None:
        super().__init__()
        self.model, self.logits = model, logits
        self.fast = None
        if LlamaTrainForward.supports(model):
            self.vocab = model.lm_head.weight.shape[0]
            self.fast = LlamaTrainForward(model)
            self.fast.runner = _RunnerWithHidden(model, logits)

    def forward(self, batch: TokenBatch) -> tuple[torch.Tensor | None, torch.Tensor]:
        device = next(self.model.parameters()).device
        ids, attention, positions = batch.ids.to(device), batch.attention.to(device), batch.positions.to(device)
        keep = batch.ids.shape[1] - batch.start + 1  # from the position predicting the first target
        if self.fast is not None:
            out = self.fast(input_ids=ids, attention_mask=attention, position_ids=positions, logits_to_keep=keep)
            joined = out.logits[:, :-1]
            logits, hidden = (joined[..., : self.vocab], joined[..., self.vocab :]) if self.logits else (None, joined)
        else:
            out = self.model(
                input_ids=ids,
                attention_mask=attention,
                position_ids=positions,
                use_cache=False,
                logits_to_keep=keep if self.logits else 1,
                output_hidden_states=True,
            )
            hidden = out.hidden_states[-1][:, -keep:-1]
            logits = out.logits[:, :-1] if self.logits else None
        return logits, hidden.float()


def logprobs_and_entropy(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float, entropy_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each target and the entropy of its distribution (with its gradient when
    the entropy bonus needs it)."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    logprobs = torch.log_softmax(logits, dim=-1)
    chosen = logprobs.gather(-1, targets.to(logits.device)[..., None]).squeeze(-1)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = -(logprobs.exp() * logprobs).sum(-1)
    return chosen, entropy


# ---- the trainer --------------------------------------------------------------------------------
class LMPPOTrainer(StageTrainer):
    def __init__(self, params: LMPPOParams, agent: LMAgent) -> None:
        self.params, self.agent = params, agent
        self.runtime = agent.runtime
        lm = agent.lm
        model = lm.model
        device = next(model.parameters()).device
        self.policy_params = lm.trainable_parameters()
        self.optimizer = build_optimizer(self.policy_params, params.optim)
        self.critic_trunk: torch.nn.Module | None = None
        if params.critic == "separate":
            trunk = copy.deepcopy(model)  # the model as the stage starts, adapters folded in
            trunk = trunk.merge_and_unload() if lm.has_adapters else trunk
            trunk.requires_grad_(True).train()
            self.critic_trunk = trunk
        hidden_size = (model if self.critic_trunk is None else self.critic_trunk).config.hidden_size
        # A small last layer: values start near 0, so the first advantages are close to returns.
        self.value_head = mlp(hidden_size, [params.value_hidden], "gelu", out_dim=1, out_gain=0.01).to(device)
        self.critic_params = list(self.value_head.parameters())
        if self.critic_trunk is not None:
            self.critic_params += list(self.critic_trunk.parameters())
        self.critic_optimizer = build_optimizer(self.critic_params, params.critic_optim)
        self.iteration = 0
        self.updates = 0
        self.critic_updates = 0
        self.pad_id = agent.actor.backend.pad_id
        self.temperature = agent.cfg.generation.temperature or 1.0
        self._forwards: dict[tuple[int, bool], tuple[torch.nn.Module, TrunkForward]] = {}
        self.reference = None
        if params.kl_coef > 0 and not lm.has_adapters:
            self.reference = lm.frozen_copy()  # the model as the stage starts

    def progress(self) -> tuple[int, int | None]:
        return self.iteration, self.runtime.iterations

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _total_updates(self, warm: bool) -> int:
        """Optimizer steps of the stage, critic (`warm`: warm-up included) or policy, for schedules
        (set train.iterations with a decaying schedule; without it 1000 iterations are assumed)."""
        iterations = self.runtime.iterations or 1000
        if not warm:
            iterations = max(1, iterations - self.params.critic_warmup)
        return iterations * self.params.ppo_epochs * self.params.minibatches

    def steps(self) -> Iterator[StepReport]:
        params = self.params
        while self.runtime.iterations is None or self.iteration < self.runtime.iterations:
            starts = self.runtime.train_tasks.groups(
                params.groups, params.group_size, first_group=self.iteration * params.groups
            )
            report = rl_iteration(self.agent, starts, self.update, self.current_lr)
            self.iteration += 1
            yield report

    # ---- forwards -------------------------------------------------------------------------------
    def _forward_of(self, model: torch.nn.Module, logits: bool = True) -> TrunkForward:
        held = self._forwards.get((id(model), logits))
        if held is None or held[0] is not model:
            held = (model, TrunkForward(model, logits))
            self._forwards[(id(model), logits)] = held
        return held[1]

    def _outputs(
        self, batch: TokenBatch, policy: bool, critic: bool, trunk_grad: bool = True
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """(log-probabilities, entropies, values) of a batch's targets; the parts not asked are None.
        `trunk_grad` False keeps a shared trunk out of the value loss's graph (critic warm-up)."""
        model, params = self.agent.lm.model, self.params
        logp = entropy = values = None
        hidden = None
        if policy or (critic and self.critic_trunk is None):
            with torch.set_grad_enabled(torch.is_grad_enabled() and (policy or trunk_grad)):
                logits, hidden = self._forward_of(model, logits=policy)(batch)
            if policy:
                logp, entropy = logprobs_and_entropy(logits, batch.targets, self.temperature, params.ent_coef > 0)
        if critic:
            if self.critic_trunk is not None:
                _, hidden = self._forward_of(self.critic_trunk, logits=False)(batch)
            elif not trunk_grad:
                hidden = hidden.detach()
            values = self.value_head(hidden).squeeze(-1)
        return logp, entropy, values

    @torch.no_grad()
    def _evaluate(self, episodes: list) -> dict[str, list[list[float]]]:
        """Per-token old log-probabilities, old values and reference log-probabilities (when a KL
        term is on), each aligned with the episodes' token ids."""
        from rldojo.llm.batch import make_batch, micro_batches

        lm, params = self.agent.lm, self.params
        out: dict[str, list[list[float]]] = {name: [[] for _ in episodes] for name in ("old", "v_old", "ref")}

        def keep(name: str, idx: list[int], values: list[list[float]]) -> None:
            for i, row in zip(idx, values):
                out[name][i] = row

        for idx in micro_batches(episodes, params.micro_batch_size, params.micro_batch_tokens):
            chunk = [episodes[i] for i in idx]
            lengths = [len(ep) for ep in chunk]
            batch = make_batch(chunk, self.pad_id)
            logp, _, values = self._outputs(batch, policy=True, critic=True)
            keep("old", idx, batch.unpad(logp.cpu(), lengths))
            keep("v_old", idx, batch.unpad(values.cpu(), lengths))
            if params.kl_coef > 0:
                if self.reference is not None:
                    ref_logits, _ = self._forward_of(self.reference)(batch)
                else:
                    with lm.reference_context():
                        ref_logits, _ = self._forward_of(lm.model)(batch)
                ref, _ = logprobs_and_entropy(ref_logits, batch.targets, self.temperature, False)
                keep("ref", idx, batch.unpad(ref.cpu(), lengths))
        if params.kl_coef == 0:
            del out["ref"]
        return out

    # ---- one update -----------------------------------------------------------------------------
    def update(self, episodes: list) -> dict[str, float]:
        from rldojo.llm.batch import make_batch, micro_batches

        params = self.params
        for module in (self.agent.lm.model, self.critic_trunk, self.value_head):
            if module is not None and not module.training:
                module.train()
        kept_groups = 1.0
        if params.filter_top_fraction is not None:
            rewards = torch.tensor([ep.reward for ep in episodes], dtype=torch.float32)
            kept = top_groups(rewards.view(params.groups, params.group_size), params.filter_top_fraction)
            episodes = [ep for g in kept for ep in episodes[g * params.group_size : (g + 1) * params.group_size]]
            kept_groups = len(kept) / params.groups

        # 1. pi_old, V_old and the reference (one pass without gradients), then GAE per episode;
        # in a data-parallel run each process evaluates its share (whole groups) and all see every value
        mine = my_share(len(episodes), params.group_size)
        owned = set(mine)
        shares = all_gather_objects(self._evaluate([episodes[i] for i in mine]))
        aligned = {name: [row for share in shares for row in share[name]] for name in shares[0]}
        old_values = [np.asarray(v) for v in aligned["v_old"]]
        masks = [np.asarray(ep.mask, dtype=bool) for ep in episodes]
        kl = None  # per-token k1 estimate logp_old - logp_ref (read on the model's tokens only)
        if params.kl_coef > 0:
            kl = [np.asarray(old) - np.asarray(ref) for old, ref in zip(aligned["old"], aligned["ref"])]
        advantages, returns, value_masks = [], [], []
        for i, ep in enumerate(episodes):
            penalty = -params.kl_coef * kl[i] if kl is not None and params.kl_mode == "reward" else None
            adv, ret, vmask = episode_advantages(
                ep.turn_spans, ep.rewards, old_values[i], params.gae_level, params.gamma, params.lam, penalty
            )
            advantages.append(adv)
            returns.append(ret)
            value_masks.append(vmask)
        flat_adv = np.concatenate([a[m] for a, m in zip(advantages, masks)])
        adv_mean = float(flat_adv.mean())
        adv_std = float(flat_adv.std(ddof=1)) if len(flat_adv) > 1 else 0.0
        if params.normalize_advantages:
            advantages = [(a - adv_mean) / (adv_std + 1e-8) for a in advantages]
        at_values = [vm.astype(bool) for vm in value_masks]
        flat_ret = np.concatenate([r[v] for r, v in zip(returns, at_values)])
        flat_val = np.concatenate([v_old[v] for v_old, v in zip(old_values, at_values)])
        explained = 1 - np.var(flat_ret - flat_val) / np.var(flat_ret) if np.var(flat_ret) > 0 else math.nan
        aligned.update(
            adv=[a.tolist() for a in advantages],
            ret=[r.tolist() for r in returns],
            vmask=[v.tolist() for v in value_masks],
        )

        # 2. ppo_epochs passes of minibatch steps (the critic's alone during warm-up)
        warmup = self.iteration < params.critic_warmup
        sums: dict[str, float] = defaultdict(float)
        for name in (*SUMMED, "grad_norm", "critic_grad_norm"):  # the same keys in every process, share or none
            sums[name] = 0.0
        total_policy, total_critic = self._total_updates(warm=False), self._total_updates(warm=True)
        rng = np.random.default_rng(self.agent.seed * 1_000_003 + self.iteration)
        for _ in range(params.ppo_epochs):
            for chunk in np.array_split(rng.permutation(len(episodes)), params.minibatches):
                if len(chunk) == 0:
                    continue
                mb_tokens = float(sum(episodes[i].generated_tokens for i in chunk))
                mb_value_tokens = float(sum(value_masks[i].sum() for i in chunk))
                set_lr_factor(self.optimizer, lr_factor(self.updates, total_policy, params.optim))
                set_lr_factor(self.critic_optimizer, lr_factor(self.critic_updates, total_critic, params.critic_optim))
                local = chunk[[i in owned for i in chunk]]  # the whole chunk normalises; this process's share runs
                in_chunk = [episodes[i] for i in local]
                for positions in micro_batches(in_chunk, params.micro_batch_size, params.micro_batch_tokens):
                    idx = local[positions]
                    micro = {name: [values[i] for i in idx] for name, values in aligned.items()}
                    batch = make_batch([episodes[i] for i in idx], self.pad_id, micro)
                    logp, entropy, values = self._outputs(batch, policy=not warmup, critic=True, trunk_grad=not warmup)
                    per_token = {name: tensor.to(values.device) for name, tensor in batch.aligned.items()}
                    mask = batch.mask.to(values.device)
                    if warmup:  # the value loss alone: the old log-probabilities stand in for the policy's
                        logp, entropy = per_token["old"], torch.zeros_like(mask)
                    loss, terms = ppo_loss(
                        logp,
                        per_token["old"],
                        per_token["adv"],
                        mask,
                        values,
                        per_token["v_old"],
                        per_token["ret"],
                        per_token["vmask"],
                        params.clip_low,
                        params.clip_high,
                        params.vf_coef,
                        params.value_clip,
                        ent_coef=params.ent_coef,
                        entropy=entropy,
                        kl_coef=params.kl_coef if params.kl_mode == "loss" else 0.0,
                        ref_logp=per_token.get("ref"),
                        tokens=mb_tokens,
                        value_tokens=mb_value_tokens,
                    )
                    loss.backward()
                    vmask = per_token["vmask"]
                    sums["loss"] += float(loss.detach())
                    sums["policy_loss"] += float(terms["policy_loss"])
                    sums["value_loss"] += float(terms["value_loss"])
                    sums["tokens"] += float(mask.sum())
                    sums["value_tokens"] += float(vmask.sum())
                    sums["low"] += float((terms["clipped_low"] * mask).sum())
                    sums["high"] += float((terms["clipped_high"] * mask).sum())
                    sums["value_clipped"] += float((terms["value_clipped"] * vmask).sum())
                    sums["approx_kl"] += float((terms["approx_kl"] * mask).sum())
                    sums["entropy"] += float((entropy.detach() * mask).sum())
                if not warmup:
                    sums["grad_norm"] += step_accumulated(self.optimizer, self.policy_params, params.max_grad_norm)
                    self.updates += 1
                sums["critic_grad_norm"] += step_accumulated(
                    self.critic_optimizer, self.critic_params, params.max_grad_norm
                )
                self.critic_updates += 1
        if not warmup:
            self.agent.actor.backend.sync_weights()

        norms = {name: sums[name] for name in ("grad_norm", "critic_grad_norm")}  # the same in every process
        sums = {**all_reduce_sums({name: sums[name] for name in SUMMED}), **norms}
        steps = params.ppo_epochs * params.minibatches
        tokens, value_tokens = max(sums["tokens"], 1.0), max(sums["value_tokens"], 1.0)
        metrics = {
            "loss": sums["loss"] / steps,
            "policy_loss": sums["policy_loss"] / steps,
            "value_loss": sums["value_loss"] / steps,
            "explained_variance": float(explained),
            "value_mean": float(flat_val.mean()) if len(flat_val) else math.nan,
            "clip_frac": (sums["low"] + sums["high"]) / tokens,
            "clip_frac_low": sums["low"] / tokens,
            "clip_frac_high": sums["high"] / tokens,
            "value_clip_frac": sums["value_clipped"] / value_tokens,
            "approx_kl": sums["approx_kl"] / tokens,
            "kl": float(np.concatenate([k[m] for k, m in zip(kl, masks)]).mean()) if kl is not None else math.nan,
            "entropy": sums["entropy"] / tokens,
            "adv_mean": adv_mean,
            "adv_std": adv_std,
            "kept_groups": kept_groups,
            "grad_norm": sums["grad_norm"] / steps,
            "critic_grad_norm": sums["critic_grad_norm"] / steps,
        }
        if warmup:  # no policy step: its figures would describe the old policy against itself
            for name in (
                "policy_loss",
                "clip_frac",
                "clip_frac_low",
                "clip_frac_high",
                "approx_kl",
                "entropy",
                "grad_norm",
            ):
                metrics[name] = math.nan
        return metrics

    # ---- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "value_head": self.value_head.state_dict(),
            "critic_trunk": None if self.critic_trunk is None else self.critic_trunk.state_dict(),
            "reference": None if self.reference is None else self.reference.state_dict(),
            "iteration": self.iteration,
            "updates": self.updates,
            "critic_updates": self.critic_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        load_optimizer_state(self.optimizer, state["optimizer"])
        load_optimizer_state(self.critic_optimizer, state["critic_optimizer"])
        self.value_head.load_state_dict(state["value_head"])
        if self.critic_trunk is not None and state.get("critic_trunk") is not None:
            self.critic_trunk.load_state_dict(state["critic_trunk"])
        if self.reference is not None and state.get("reference") is not None:
            self.reference.load_state_dict(state["reference"])
        self.iteration, self.updates = int(state["iteration"]), int(state["updates"])
        self.critic_updates = int(state["critic_updates"])
