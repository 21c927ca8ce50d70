"""PPO: Proximal Policy Optimization with a clipped surrogate (Schulman et al., 2017).

Collect `rollout_steps` steps from every env, compute GAE advantages, then run `epochs` passes of
minibatch gradient steps on

    loss = -min(ratio * A, clip(ratio, 1 - clip, 1 + clip) * A)      (policy)
           + vf_coef * (V - R)^2   [or the clipped value loss]       (value)
           - ent_coef * entropy                                      (exploration)

with ratio = pi(a|s) / pi_old(a|s). Discrete actions use a categorical head, continuous ones a
diagonal Gaussian. Implementation details follow "The 37 implementation details of PPO":
orthogonal init, advantage normalisation per minibatch, grad-norm clipping, linear annealing of
the learning rate and the clip range, bootstrapping truncated episodes.
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


class PPOConfig(StrictModel):
    """`agent:` section for `algo: ppo`."""

    algo: Literal["ppo"] = "ppo"
    """Algorithm name."""
    gamma: float = Field(0.99, gt=0, le=1)
    """Discount factor."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    """GAE lambda: 0 is one-step TD advantages, 1 is Monte-Carlo returns."""
    rollout_steps: int = Field(128, ge=1)
    """Steps collected from each env per update (a batch is rollout_steps x num_envs)."""
    minibatch_size: int = Field(256, ge=1)
    """Transitions per gradient step; the batch is split into minibatches of this size."""
    epochs: int = Field(10, ge=1)
    """Passes over the batch per update."""
    clip: float = Field(0.2, gt=0, lt=1)
    """Clip range epsilon of the probability ratio."""
    clip_schedule: Literal["constant", "linear"] = "constant"
    """`linear` anneals the clip range to 0 over the frame budget."""
    value_clip: float | None = Field(None, gt=0)
    """Clip the value update to +-value_clip around the old prediction (None: plain MSE)."""
    vf_coef: float = Field(0.5, ge=0)
    """Weight of the value loss."""
    ent_coef: float = Field(0.0, ge=0)
    """Weight of the entropy bonus."""
    max_grad_norm: float | None = Field(0.5, gt=0)
    """Clip the global gradient norm to this (None: no clipping)."""
    normalize_advantages: bool = True
    """Normalise advantages to zero mean, unit std within each minibatch."""
    target_kl: float | None = Field(None, gt=0)
    """Stop the epochs early once the approximate KL to the old policy exceeds this."""
    sil: SILConfig | None = None
    """Self-imitation learning on top of PPO (PPO+SIL); None turns it off."""
    net: NetConfig = Field(default_factory=NetConfig)
    """Actor-critic network."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    """Optimizer for actor and critic together."""


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean()) / (x.std() + 1e-8)


def approx_kl(ratio: torch.Tensor) -> float:
    """KL(old || new) from probability ratios, the low-variance k3 estimator: E[(r - 1) - log r]."""
    return float(((ratio - 1) - ratio.log()).mean())


class PPO(TensorAgent):
    metric_names = ("loss", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction",
                    "explained_variance", "grad_norm", "clip")

    def __init__(self, cfg: PPOConfig, obs_space: gym.Space, action_space: gym.Space, num_envs: int,
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

    # ---- acting -------------------------------------------------------------------------------
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
    def observe(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                next_obs: np.ndarray, final_obs: np.ndarray) -> bool:
        if self.sil is not None:
            step = self.buffer.step
            self.sil.record(self.buffer.obs[step], self.buffer.actions[step], rewards, terminated | truncated)
        rewards = rewards.astype(np.float32)
        cut = truncated & ~terminated
        if cut.any():  # a time limit is not the end of the task: bootstrap from the last state
            last_values = self.net.value(encode_obs(final_obs[cut], self.obs_space)).numpy()
            rewards = rewards.copy()
            rewards[cut] += self.cfg.gamma * last_values
        self.buffer.add_env_step(rewards, terminated | truncated)
        self.frames += self.num_envs
        if self.buffer.full:  # bootstraps the end of the rollout
            self._last_obs = encode_obs(next_obs, self.obs_space)
        return self.buffer.full

    # ---- learning -----------------------------------------------------------------------------
    def update(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        lr = scheduled(cfg.optim.lr, cfg.optim.schedule, progress)
        clip = scheduled(cfg.clip, cfg.clip_schedule, progress)
        set_lr(self.optimizer, lr)

        with torch.no_grad():
            last_values = self.net.value(self._last_obs).numpy()
        advantages, returns = self.buffer.advantages_and_returns(last_values, cfg.gamma, cfg.gae_lambda)
        batch = self.buffer.flat_tensors(advantages, returns)
        batch_size = batch["obs"].shape[0]
        minibatch = min(cfg.minibatch_size, batch_size)

        if cfg.normalize_advantages and minibatch == batch_size > 1:
            batch["advantages"] = normalize(batch["advantages"])  # same for every epoch: do it once

        ratios, losses, grad_norms = [], [], []
        for _epoch in range(cfg.epochs):
            order = torch.randperm(batch_size, generator=self.generator)
            for start in range(0, batch_size - minibatch + 1, minibatch):
                mb = batch if minibatch == batch_size else {k: v[order[start:start + minibatch]]
                                                              for k, v in batch.items()}
                adv, ret, old_values = mb["advantages"], mb["returns"], mb["values"]
                if cfg.normalize_advantages and minibatch < batch_size and minibatch > 1:
                    adv = normalize(adv)

                head_out, values = self.net(mb["obs"])
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

                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.max_grad_norm is not None:
                    grad_norms.append(torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.max_grad_norm))
                self.optimizer.step()
                ratios.append(ratio.detach())
                losses.append(torch.stack([loss, policy_loss, value_loss]).detach())
            if cfg.target_kl is not None and approx_kl(ratios[-1]) > cfg.target_kl:
                break

        self.buffer.reset()
        self.updates += 1
        # Diagnostics over every minibatch of the update, computed once at the end.
        all_ratios = torch.cat(ratios)
        with torch.no_grad():
            entropy = float(self.net.head.entropy(self.net.policy(batch["obs"])).mean())
        loss_means = torch.stack(losses).mean(0).tolist()
        var_returns = float(np.var(returns))
        explained = float("nan") if var_returns == 0 else 1.0 - float(np.var(returns - self.buffer.values)) / var_returns
        metrics = dict(zip(("loss", "policy_loss", "value_loss"), loss_means))
        metrics.update(entropy=entropy, approx_kl=approx_kl(all_ratios),
                       clip_fraction=float(((all_ratios - 1).abs() > clip).float().mean()),
                       grad_norm=float(torch.stack(grad_norms).mean()) if grad_norms else float("nan"))
        if self.sil is not None:
            metrics.update(self.sil.train(self.generator, cfg.max_grad_norm))
        metrics.update(explained_variance=explained, clip=clip)
        return metrics

    # ---- checkpointing ------------------------------------------------------------------------
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {} if self.sil is None else {"sil": self.sil.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if self.sil is not None and "sil" in state:
            self.sil.load_state_dict(state["sil"])
