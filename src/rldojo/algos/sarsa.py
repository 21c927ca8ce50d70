"""n-step SARSA with a Q-network: on-policy TD control under an epsilon-greedy policy.

Every `rollout_steps` vector steps, regress Q(s_t, a_t) onto the n-step SARSA target

    G_t = r_t + gamma r_{t+1} + ... + gamma^(n-1) r_{t+n-1} + gamma^n Q(s_{t+n}, a_{t+n})

(cut at the episode's end), where a_{t+n} is the action the policy actually took, valued by a
target copy of the Q-network refreshed every `target_update_every` updates: bootstrapping from the
network being trained makes deep SARSA diverge on CartPole (Q grows along each episode without
bound), the deadly triad that DQN's target network also answers. The last n steps of a rollout
wait for their future actions and are trained on in the next update.
Time-limit truncations bootstrap with the epsilon-greedy expectation of Q at the final state.
"""

from __future__ import annotations

import copy
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from rldojo.algos.base import TensorAgent
from rldojo.config import QLearningConfig
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer, gradient_step, scheduled
from rldojo.nets.q_network import QNetwork


class SarsaConfig(QLearningConfig):
    """`agent:` section for `algo: sarsa`."""

    algo: Literal["sarsa"] = "sarsa"
    """Algorithm name."""
    n_steps: int = Field(1, ge=1)
    """n of the n-step target (1: classic one-step SARSA)."""
    rollout_steps: int = Field(32, ge=1)
    """Vector steps between updates."""
    epochs: int = Field(1, ge=1)
    """Gradient steps per update, each on the whole batch."""
    target_update_every: int = Field(10, ge=1)
    """Updates between copies of the Q-network into the target network (1: no lag)."""
    exploration_fraction: float = Field(0.3, gt=0, le=1)
    """Share of the frame budget over which epsilon decays linearly."""


class Sarsa(TensorAgent):
    metric_names = ("loss", "q_mean", "epsilon")

    def __init__(self, cfg: SarsaConfig, obs_space, action_space, num_envs, total_frames, seed, device="cpu") -> None:
        super().__init__(cfg, obs_space, action_space, num_envs, total_frames, seed, device)
        self.q_net = QNetwork(obs_space, action_space, cfg.net).to(self.device)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.params = list(self.q_net.parameters())
        self.optimizer = build_optimizer(self.params, cfg.optim)
        self.steps: list[dict[str, np.ndarray]] = []  # per vector step: obs, actions, rewards, dones

    def epsilon(self) -> float:
        progress = self.frames / (self.cfg.exploration_fraction * self.total_frames)
        return scheduled(self.cfg.epsilon_start, "linear", progress, end=self.cfg.epsilon_end)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        obs_host = encode_obs(obs, self.obs_space)
        greedy = self.to_numpy(self.q_net(self.to_device(obs_host)).argmax(-1))
        explore = self.rng.random(len(greedy)) < self.epsilon()
        actions = np.where(explore, self.rng.integers(0, self.q_net.n_actions, len(greedy)), greedy)
        self.steps.append({"obs": obs_host.numpy(), "actions": actions})
        return actions + int(self.action_space.start)

    @torch.no_grad()
    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        q_values = self.q_net(self.to_device(encode_obs(obs, self.obs_space)))
        return self.to_numpy(q_values.argmax(-1)) + int(self.action_space.start)

    @torch.no_grad()
    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        rewards = rewards.astype(np.float32).copy()
        cut = truncated & ~terminated
        if cut.any():  # no next action at a time limit: bootstrap with the policy's expected Q
            q = self.target_net(self.to_device(encode_obs(final_obs[cut], self.obs_space)))
            eps = self.epsilon()
            rewards[cut] += self.cfg.gamma * self.to_numpy((1 - eps) * q.max(-1).values + eps * q.mean(-1))
        self.steps[-1].update(rewards=rewards, dones=(terminated | truncated).astype(np.float32))
        self.frames += self.num_envs
        return len(self.steps) - self.cfg.n_steps >= self.cfg.rollout_steps

    def _targets(self, q_taken: np.ndarray, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """n-step SARSA targets for steps 0..L-n-1 of arrays shaped [L, num_envs]."""
        n, gamma = self.cfg.n_steps, self.cfg.gamma
        count = len(rewards) - n
        targets = np.zeros((count, rewards.shape[1]), dtype=np.float32)
        alive = np.ones_like(targets)  # 0 once the episode has ended inside the n steps
        for k in range(n):
            targets += alive * gamma**k * rewards[k : k + count]
            alive *= 1.0 - dones[k : k + count]
        return targets + alive * gamma**n * q_taken[n : n + count]

    def learn(self, progress: float) -> dict[str, float]:
        cfg = self.cfg
        obs = self.to_device(np.stack([s["obs"] for s in self.steps]))  # [L, N, obs_dim]
        actions = self.to_device(np.stack([s["actions"] for s in self.steps]))  # [L, N]
        rewards = np.stack([s["rewards"] for s in self.steps])
        dones = np.stack([s["dones"] for s in self.steps])
        count = len(self.steps) - cfg.n_steps
        with torch.no_grad():
            q_taken = self.to_numpy(self.target_net(obs).gather(-1, actions.unsqueeze(-1)).squeeze(-1))
        targets = self.to_device(self._targets(q_taken, rewards, dones)).flatten()
        for _ in range(cfg.epochs):
            q = self.q_net(obs[:count].flatten(0, 1)).gather(-1, actions[:count].flatten().unsqueeze(-1)).squeeze(-1)
            # MSE, not Huber: Huber caps each sample's pull at 1, so the few terminal samples
            # (target ~ r) lose to the many bootstrapped ones and Q runs away.
            loss = torch.nn.functional.mse_loss(q, targets)
            gradient_step(self.optimizer, self.params, loss, cfg.max_grad_norm)
        self.steps = self.steps[count:]  # the last n steps still need their future actions
        self.updates += 1
        if self.updates % cfg.target_update_every == 0:
            self.target_net.load_state_dict(self.q_net.state_dict())
        return {"loss": float(loss.detach()), "q_mean": float(q.detach().mean()), "epsilon": self.epsilon()}

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"q_net": self.q_net, "target_net": self.target_net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def load_extra_state(self, state: dict) -> None:
        self.steps = []  # the env is rebuilt on resume: pending steps belong to dropped episodes
