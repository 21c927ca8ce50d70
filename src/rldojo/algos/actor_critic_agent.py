"""Shared acting and storage for on-policy actor-critic agents (PPO, A2C): sample from the policy,
fill a rollout buffer, bootstrap time-limit cuts, feed self-imitation, checkpoint. Each algorithm
file keeps only its config and its `update` (the loss)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rldojo.algos.base import TensorAgent
from rldojo.algos.sil import SelfImitation
from rldojo.memory.rollout import RolloutBuffer
from rldojo.nets.actor_critic import ActorCritic
from rldojo.nets.mlp import encode_obs
from rldojo.nets.optim import build_optimizer
from rldojo.nets.policy import to_env_actions


class ActorCriticAgent(TensorAgent):
    """Needs a config with `net`, `optim`, `gamma`, `rollout_steps` and `sil`."""

    def __init__(self, cfg, obs_space: gym.Space, action_space: gym.Space, num_envs: int,
                 total_frames: int, seed: int) -> None:
        super().__init__(obs_space, action_space, num_envs, total_frames, seed)
        self.cfg = cfg
        self.net = ActorCritic(obs_space, action_space, cfg.net)
        self.optimizer = build_optimizer(self.net.parameters(), cfg.optim)
        action_shape = () if self.net.head.discrete else (self.net.head.out_dim,)
        action_dtype = np.int64 if self.net.head.discrete else np.float32
        self.buffer = RolloutBuffer(cfg.rollout_steps, num_envs, self.net.obs_dim, action_shape, action_dtype)
        self.sil = None
        if cfg.sil is not None:
            self.sil = SelfImitation(cfg.sil, self.net, self.optimizer, num_envs, self.net.obs_dim, action_shape,
                                     action_dtype, cfg.gamma, self.rng)
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
    def observe(self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray,
                next_obs: np.ndarray, final_obs: np.ndarray) -> bool:
        if self.sil is not None:
            step = self.buffer.step
            self.sil.record(self.buffer.obs[step], self.buffer.actions[step], rewards, terminated | truncated)
        rewards = rewards.astype(np.float32)
        cut = truncated & ~terminated
        if cut.any():  # a time limit is not the end of the task: bootstrap from the last state
            rewards = rewards.copy()
            rewards[cut] += self.cfg.gamma * self.net.value(encode_obs(final_obs[cut], self.obs_space)).numpy()
        self.buffer.add_env_step(rewards, terminated | truncated)
        self.frames += self.num_envs
        if self.buffer.full:  # bootstraps the end of the rollout
            self._last_obs = encode_obs(next_obs, self.obs_space)
        return self.buffer.full

    def sil_update(self, max_grad_norm: float | None) -> dict[str, float]:
        return {} if self.sil is None else self.sil.train(self.generator, max_grad_norm)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"net": self.net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}

    def extra_state(self) -> dict:
        return {} if self.sil is None else {"sil": self.sil.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if self.sil is not None and "sil" in state:
            self.sil.load_state_dict(state["sil"])
