"""REINFORCE (Williams, 1992): Monte-Carlo policy gradient on whole episodes, with an optional
learned baseline.

Once every env has finished `episodes_per_env` new episodes, one gradient step on

    loss = -mean_t( log pi(a_t|s_t) * (G_t - b(s_t)) ) - ent_coef * mean(entropy)
           + vf_coef * 0.5 * mean((V(s_t) - G_t)^2)        (baseline: true; b = V, else b = 0)

with G_t the discounted return from step t to the episode's end. Episodes still running at an
update were started by an older policy; they are dropped when they finish, so every gradient uses
on-policy episodes only. Each env contributes exactly its first `episodes_per_env` fresh episodes:
waiting for a fixed count of finished episodes instead would favour short ones.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from rldojo.algos.base import TensorAgent
from rldojo.config import AgentConfig, NetConfig, OptimConfig, net_checks, refuse_set_keys, section_field
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer, gradient_step
from rldojo.nets.policy import to_env_actions


class ReinforceConfig(AgentConfig):
    """`agent:` section for `algo: reinforce`."""

    algo: Literal["reinforce"] = "reinforce"
    """Algorithm name."""
    episodes_per_env: int = Field(1, ge=1)
    """Finished episodes each env contributes to one gradient step."""
    baseline: bool = True
    """Subtract a learned state-value baseline (lower variance, same expected gradient)."""
    vf_coef: float = Field(0.5, ge=0)
    """Weight of the baseline's value loss."""
    ent_coef: float = Field(0.0, ge=0)
    """Weight of the entropy bonus."""
    normalize_returns: bool = True
    """Normalise the advantages of each batch to zero mean and unit std."""
    max_grad_norm: float | None = Field(None, gt=0)
    """Clip the gradient norm to this (None: no clipping)."""
    net: NetConfig = section_field(NetConfig)
    """Policy (and baseline) network."""
    optim: OptimConfig = section_field(OptimConfig, lr=1e-3)
    """Optimizer."""

    _net_checks = net_checks("net")

    @model_validator(mode="after")
    def _keys_in_use(self) -> ReinforceConfig:
        if not self.baseline:
            refuse_set_keys(self, "agent", {"vf_coef": "it weighs the baseline's loss, and baseline is false"})
        return self


class Reinforce(TensorAgent):
    metric_names = ("loss", "policy_loss", "value_loss", "entropy", "episodes_used")

    def __init__(
        self, cfg: ReinforceConfig, obs_space, action_space, num_envs, total_frames, seed, device="cpu"
    ) -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        self.net = ActorCritic(obs_space, action_space, cfg.net).to(self.device)
        self.params = list(self.net.parameters())
        self.optimizer = build_optimizer(self.params, cfg.optim)
        self._running: list[list] = [[] for _ in range(num_envs)]  # per env: (obs, action, reward)
        self._stale = np.zeros(num_envs, dtype=bool)  # episode started before the last update
        self._finished: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._contributed = np.zeros(num_envs, dtype=np.int64)  # fresh episodes per env since the update
        self._obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_host = encode_obs(obs, self.obs_space)
        actions, _ = self.net.head.sample(self.net.policy(self.to_device(obs_host)), self.generator)
        self._obs, self._actions = obs_host.numpy(), self.to_numpy(actions)
        return to_env_actions(self._actions, self.action_space)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        obs_t = self.to_device(encode_obs(obs, self.obs_space))
        return to_env_actions(self.net.head.mode(self.net.policy(obs_t)), self.action_space)

    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        self.frames += self.num_envs
        for env in range(self.num_envs):
            self._running[env].append((self._obs[env], self._actions[env], float(rewards[env])))
            if terminated[env] or truncated[env]:
                if not self._stale[env] and self._contributed[env] < self.cfg.episodes_per_env:
                    self._finished.append(self._episode_arrays(self._running[env]))
                    self._contributed[env] += 1
                self._running[env], self._stale[env] = [], False
        return bool((self._contributed >= self.cfg.episodes_per_env).all())

    def _episode_arrays(self, steps: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        returns = np.zeros(len(steps), dtype=np.float32)
        running = 0.0
        for t in reversed(range(len(steps))):
            running = steps[t][2] + self.cfg.gamma * running
            returns[t] = running
        return np.stack([s[0] for s in steps]), np.stack([s[1] for s in steps]), returns

    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        obs = self.to_device(np.concatenate([e[0] for e in self._finished]))
        actions = self.to_device(np.concatenate([e[1] for e in self._finished]))
        returns = self.to_device(np.concatenate([e[2] for e in self._finished]))

        head_out, values = self.net(obs)
        log_probs = self.net.head.log_prob(head_out, actions)
        entropy = self.net.head.entropy(head_out).mean()
        advantages = returns - values.detach() if cfg.baseline else returns
        if cfg.normalize_returns and advantages.numel() > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(log_probs * advantages).mean()
        value_loss = 0.5 * (values - returns).pow(2).mean() if cfg.baseline else torch.zeros((), device=self.device)
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        gradient_step(self.optimizer, self.params, loss, cfg.max_grad_norm)

        used = len(self._finished)
        self._finished = []
        self._contributed[:] = 0
        # Episodes in progress were started by the old policy (an env that just reset has none).
        self._stale = np.array([bool(steps) for steps in self._running])
        self.updates += 1
        return {
            "loss": float(loss.detach()),
            "policy_loss": float(policy_loss.detach()),
            "value_loss": float(value_loss.detach()),
            "entropy": float(entropy.detach()),
            "episodes_used": used,
        }

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def load_extra_state(self, state: dict) -> None:
        pass  # episodes in progress at the checkpoint are dropped with the env (see Session)
