"""A2C: synchronous advantage actor-critic (Mnih et al., 2016, the synchronous variant).

Every `rollout_steps` vector steps, one gradient step on

    loss = -mean(log pi(a|s) * A) + vf_coef * 0.5 * mean((V(s) - R)^2) - ent_coef * mean(entropy)

with A from GAE(gamma, gae_lambda) (gae_lambda = 1 gives n-step returns) and R = A + V(s).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from rldojo.algos.actor_critic_agent import ActorCriticAgent, ActorCriticConfig
from rldojo.config import OptimConfig, section_field
from rldojo.nets.optim import gradient_step


class A2CConfig(ActorCriticConfig):
    """`agent:` section for `algo: a2c`."""

    algo: Literal["a2c"] = "a2c"
    """Algorithm name."""
    gae_lambda: float = Field(1.0, ge=0, le=1)
    """GAE lambda; 1.0 gives plain n-step returns over the rollout."""
    rollout_steps: int = Field(5, ge=1)
    """Steps per env between updates (the n of n-step)."""
    normalize_advantages: bool = False
    """Normalise advantages within each batch."""
    optim: OptimConfig = section_field(OptimConfig, name="rmsprop", lr=7e-4)
    """Optimizer (RMSprop, as in the A3C paper and SB3)."""


class A2C(ActorCriticAgent):
    metric_names = ("loss", "policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm")

    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        advantages, returns = self.buffer.advantages_and_returns(self.last_values(), cfg.gamma, cfg.gae_lambda)
        batch, head_out, values = self.evaluate(self.buffer.sequence_tensors(advantages, returns), None)
        adv = batch["advantages"]
        if cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)

        log_probs = self.net.head.log_prob(head_out, batch["actions"])
        entropy = self.net.head.entropy(head_out).mean()
        policy_loss = -(log_probs * adv).mean()
        value_loss = 0.5 * (values - batch["returns"]).pow(2).mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy

        norm = gradient_step(self.optimizer, self.params, loss, cfg.max_grad_norm)
        grad_norm = float("nan") if norm is None else float(norm)

        self.buffer.reset()
        self.updates += 1
        var_returns = float(np.var(returns))
        explained = float("nan") if var_returns == 0 else 1 - float(np.var(returns - self.buffer.values)) / var_returns
        metrics = {
            "loss": float(loss.detach()),
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "entropy": float(entropy.detach()),
            "explained_variance": explained,
            "grad_norm": grad_norm,
        }
        metrics.update(self.sil_update(cfg.max_grad_norm))
        return metrics
