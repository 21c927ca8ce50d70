"""PPO: Proximal Policy Optimization with a clipped surrogate (Schulman et al., 2017).

Collect `rollout_steps` steps from every env, compute GAE advantages, then run `epochs` passes of
minibatch gradient steps on

    loss = -min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A)      (policy)
           + vf_coef * 0.5 * (V - R)^2   [or the clipped value loss] (value)
           - ent_coef * entropy                                      (exploration)

with ratio = pi(a|s) / pi_old(a|s). Discrete actions use a categorical head, continuous ones a
diagonal Gaussian. Implementation details follow "The 37 implementation details of PPO":
orthogonal init, advantage normalisation per minibatch, grad-norm clipping, linear annealing of
the learning rate and the clip range, bootstrapping truncated episodes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from rldojo.algos.actor_critic_agent import ActorCriticAgent, ActorCriticConfig
from rldojo.config import OptimConfig, section_field
from rldojo.nets.optim import gradient_step, scheduled


class PPOConfig(ActorCriticConfig):
    """`agent:` section for `algo: ppo`."""

    algo: Literal["ppo"] = "ppo"
    """Algorithm name."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    """GAE lambda: 0 is one-step TD advantages, 1 is Monte-Carlo returns."""
    rollout_steps: int = Field(128, ge=1)
    """Steps collected from each env per update (a batch is rollout_steps x num_envs)."""
    minibatch_size: int = Field(256, ge=1)
    """Transitions per gradient step; the batch is split into minibatches of this size. Recurrent nets
    train on whole env sequences: minibatch_size / rollout_steps envs per minibatch (at least one)."""
    epochs: int = Field(10, ge=1)
    """Passes over the batch per update."""
    clip: float = Field(0.2, gt=0, lt=1)
    """Clip range epsilon of the probability ratio."""
    clip_schedule: Literal["constant", "linear"] = "constant"
    """`linear` anneals the clip range to 0 over the frame budget."""
    value_clip: float | None = Field(None, gt=0)
    """Clip the value update to +-value_clip around the old prediction (None: plain MSE)."""
    normalize_advantages: bool = True
    """Normalise advantages to zero mean, unit std within each minibatch."""
    target_kl: float | None = Field(None, gt=0)
    """Stop the epochs early once the approximate KL to the old policy exceeds this."""
    optim: OptimConfig = section_field(OptimConfig)
    """Optimizer for actor and critic together."""


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / (x.std() + 1e-8)


def approx_kl(ratio: torch.Tensor) -> float:
    """KL(old || new) from probability ratios, the low-variance k3 estimator: E[(r - 1) - log r]."""
    return float(((ratio - 1) - ratio.log()).mean())


class PPO(ActorCriticAgent):
    metric_names = (
        "loss",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "grad_norm",
        "clip",
    )

    # ---- learning -----------------------------------------------------------------------------
    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        clip = scheduled(cfg.clip, cfg.clip_schedule, progress)

        advantages, returns = self.buffer.advantages_and_returns(self.last_values(), cfg.gamma, cfg.gae_lambda)
        data = self.buffer.sequence_tensors(advantages, returns)
        steps, num_envs = advantages.shape
        batch_size = steps * num_envs
        if self.recurrent:  # minibatches of whole env sequences, about minibatch_size transitions each
            units, per_minibatch = num_envs, max(1, min(num_envs, round(cfg.minibatch_size / steps)))
        else:
            units, per_minibatch = batch_size, min(cfg.minibatch_size, batch_size)
        whole = per_minibatch == units
        minibatch = per_minibatch * (steps if self.recurrent else 1)

        if cfg.normalize_advantages and whole and batch_size > 1:
            data["advantages"] = normalize(data["advantages"])  # same for every epoch: do it once

        ratios, losses, grad_norms = [], [], []
        for _epoch in range(cfg.epochs):
            order = None if whole else torch.randperm(units, generator=self.generator, device=self.device)
            for start in range(0, units - per_minibatch + 1, per_minibatch):
                mb, head_out, values = self.evaluate(data, None if whole else order[start : start + per_minibatch])
                adv, ret, old_values = mb["advantages"], mb["returns"], mb["values"]
                if cfg.normalize_advantages and not whole and minibatch > 1:
                    adv = normalize(adv)

                ratio = (self.net.head.log_prob(head_out, mb["actions"]) - mb["log_probs"]).exp()
                policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()
                if cfg.value_clip is None:
                    value_loss = 0.5 * (values - ret).pow(2).mean()
                else:
                    clipped = old_values + (values - old_values).clamp(-cfg.value_clip, cfg.value_clip)
                    value_loss = 0.5 * torch.max((values - ret).pow(2), (clipped - ret).pow(2)).mean()
                loss = policy_loss + cfg.vf_coef * value_loss
                if cfg.ent_coef > 0:
                    loss = loss - cfg.ent_coef * self.net.head.entropy(head_out).mean()

                grad_norm = gradient_step(self.optimizer, self.params, loss, cfg.max_grad_norm)
                if grad_norm is not None:
                    grad_norms.append(grad_norm)
                ratios.append(ratio.detach())
                losses.append(torch.stack([loss, policy_loss, value_loss]).detach())
            if cfg.target_kl is not None and approx_kl(ratios[-1]) > cfg.target_kl:
                break

        self.buffer.reset()
        self.updates += 1
        # Diagnostics over every minibatch of the update, computed once at the end.
        all_ratios = torch.cat(ratios)
        with torch.no_grad():
            entropy = float(self.net.head.entropy(self.evaluate(data, None)[1]).mean())
        loss_means = torch.stack(losses).mean(0).tolist()
        var_returns = float(np.var(returns))
        explained = (
            float("nan") if var_returns == 0 else 1.0 - float(np.var(returns - self.buffer.values)) / var_returns
        )
        metrics = dict(zip(("loss", "policy_loss", "value_loss"), loss_means))
        metrics.update(
            entropy=entropy,
            approx_kl=approx_kl(all_ratios),
            clip_fraction=float(((all_ratios - 1).abs() > clip).float().mean()),
            grad_norm=float(torch.stack(grad_norms).mean()) if grad_norms else float("nan"),
        )
        metrics.update(self.sil_update(cfg.max_grad_norm))
        metrics.update(explained_variance=explained, clip=clip)
        return metrics
