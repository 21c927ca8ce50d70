"""A2C: synchronous advantage actor-critic (Mnih et al., 2016, the synchronous variant).

Every `rollout_steps` vector steps, one gradient step on

    loss = -mean(log pi(a|s) * A) + vf_coef * mean((V(s) - R)^2) - ent_coef * mean(entropy)

with A from GAE(gamma, gae_lambda) (gae_lambda = 1 gives n-step returns) and R = A + V(s).
"""

from __future__ import annotations

from typing import Literal

import gymnasium as gym
import numpy as np
import torch
from pydantic import Field

from rldojo.algos.base import TensorAgent
from rldojo.algos.sil import SelfImitation, SILConfig
from rldojo.config import NetConfig, OptimConfig, StrictModel
from rldojo.memory.rollout import RolloutBuffer
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer, scheduled, set_lr
from rldojo.nets.policy import to_env_actions


class A2CConfig(StrictModel):
    """`agent:` section for `algo: a2c`."""

    algo: Literal["a2c"] = "a2c"
    """Algorithm name."""
    gamma: float = Field(0.99, gt=0, le=1)
    """Discount factor."""
    gae_lambda: float = Field(1.0, ge=0, le=1)
    """GAE lambda; 1.0 gives plain n-step returns over the rollout."""
    rollout_steps: int = Field(5, ge=1)
    """Steps per env between updates (the n of n-step)."""
    vf_coef: float = Field(0.5, ge=0)
    """Weight of the value loss."""
    ent_coef: float = Field(0.0, ge=0)
    """Weight of the entropy bonus."""
    max_grad_norm: float | None = Field(0.5, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    normalize_advantages: bool = False
    """Normalise advantages within each batch."""
    sil: SILConfig | None = None
    """Self-imitation learning on top of A2C (A2C+SIL); None turns it off."""
    net: NetConfig = Field(default_factory=NetConfig)
    """Actor-critic network."""
    optim: OptimConfig = Field(default_factory=lambda: OptimConfig(name="rmsprop", lr=7e-4))
    """Optimizer (RMSprop, as in the A3C paper and SB3)."""


class A2C(TensorAgent):
    metric_names = ("loss", "policy_loss", "value_loss", "entropy", "explained_variance", "grad_norm")

    def __init__(self, cfg: A2CConfig, obs_space: gym.Space, action_space: gym.Space, num_envs: int,
                 total_frames: int, seed: int) -> None:
        super().__init__(obs_space, action_space, num_envs, total_frames, seed)
        self.cfg = cfg
        self.net = ActorCritic(obs_space, action_space, cfg.net)
        self.optimizer = build_optimizer(self.net.parameters(), cfg.optim)
        action_shape = () if self.net.head.discrete else (self.net.head.out_dim,)
        action_dtype = np.int64 if self.net.head.discrete else np.float32
        self.buffer = RolloutBuffer(cfg.rollout_steps, num_envs, self.net.obs_dim, action_shape, action_dtype)
        self.sil = None if cfg.sil is None else SelfImitation(cfg.sil, self.net, self.optimizer, num_envs,
                                                              self.net.obs_dim, action_shape, action_dtype, cfg.gamma,
                                                              self.rng)
        if self.sil is not None:
            self.metric_names = self.metric_names + ("sil_loss", "sil_valid")
        self._last_obs: torch.Tensor | None = None

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_t = encode_obs(obs, self.obs_space)
        head_out, values = self.net(obs_t)
        actions, log_probs = self.net.head.sample(head_out, self.generator)
        self.buffer.add_policy_step(obs_t.numpy(), actions.numpy(), log_probs.numpy(), values.numpy())
        return to_env_actions(actions, self.action_space)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        head_out = self.net.policy(encode_obs(obs, self.obs_space))
        return to_env_actions(self.net.head.mode(head_out), self.action_space)

    @torch.no_grad()
    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        step = self.buffer.step
        if self.sil is not None:
            self.sil.record(self.buffer.obs[step], self.buffer.actions[step], rewards, terminated | truncated)
        rewards = rewards.astype(np.float32)
        cut = truncated & ~terminated
        if cut.any():  # bootstrap time-limit cuts from the episode's last state
            rewards = rewards.copy()
            rewards[cut] += self.cfg.gamma * self.net.value(encode_obs(final_obs[cut], self.obs_space)).numpy()
        self.buffer.add_env_step(rewards, terminated | truncated)
        self.frames += self.num_envs
        if self.buffer.full:
            self._last_obs = encode_obs(next_obs, self.obs_space)
        return self.buffer.full

    def update(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        set_lr(self.optimizer, scheduled(cfg.optim.lr, cfg.optim.schedule, progress))
        with torch.no_grad():
            last_values = self.net.value(self._last_obs).numpy()
        advantages, returns = self.buffer.advantages_and_returns(last_values, cfg.gamma, cfg.gae_lambda)
        batch = self.buffer.flat_tensors(advantages, returns)
        adv = batch["advantages"]
        if cfg.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)

        head_out, values = self.net(batch["obs"])
        log_probs = self.net.head.log_prob(head_out, batch["actions"])
        entropy = self.net.head.entropy(head_out).mean()
        policy_loss = -(log_probs * adv).mean()
        value_loss = 0.5 * (values - batch["returns"]).pow(2).mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float("nan")
        if cfg.max_grad_norm is not None:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.max_grad_norm))
        self.optimizer.step()

        self.buffer.reset()
        self.updates += 1
        var_returns = float(np.var(returns))
        explained = float("nan") if var_returns == 0 else 1 - float(np.var(returns - self.buffer.values)) / var_returns
        metrics = {"loss": float(loss.detach()), "policy_loss": float(policy_loss.detach()),
                   "value_loss": float(value_loss.detach()), "entropy": float(entropy.detach()),
                   "explained_variance": explained, "grad_norm": grad_norm}
        if self.sil is not None:
            metrics.update(self.sil.train(self.generator, cfg.max_grad_norm))
        return metrics

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {} if self.sil is None else {"sil": self.sil.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if self.sil is not None and "sil" in state:
            self.sil.load_state_dict(state["sil"])
