"""Observation and reward normalisation (and Atari reward clipping) around any tensor agent.

`NormalizedAgent` sits between the Session and an agent: observations are standardised with
running statistics (updated on every training observation, clipped to +-obs_clip), and training
rewards are divided by the running std of the discounted return (SB3 VecNormalize's scheme,
clipped to +-reward_clip) or replaced by their sign (Atari). The env itself is untouched, so
returns in metrics and evaluation are the env's own. The statistics are saved in the agent's
checkpoint and frozen during greedy play (evaluation, enjoy), so a loaded agent sees its inputs
exactly as at the end of training.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rldojo.algos.base import TensorAgent
from rldojo.memory.running_stats import RunningMeanStd


class NormalizedAgent(TensorAgent):
    """Wraps `agent`; every other attribute is the wrapped agent's."""

    def __init__(
        self,
        agent: TensorAgent,
        *,
        normalize_obs: bool = False,
        normalize_reward: bool = False,
        obs_clip: float = 10.0,
        reward_clip: float = 10.0,
        gamma: float = 0.99,
        sign_rewards: bool = False,
        epsilon: float = 1e-8,
    ) -> None:
        space = agent.obs_space
        if normalize_obs and not (isinstance(space, gym.spaces.Box) and np.issubdtype(space.dtype, np.floating)):
            raise TypeError(
                f"env.normalize_obs standardises float Box observations, got {space}; images are "
                "scaled by the CNN, discrete observations are one-hot already. Set normalize_obs: false"
            )
        self.agent = agent
        self.obs_rms = RunningMeanStd(space.shape) if normalize_obs else None
        self.return_rms = RunningMeanStd(()) if normalize_reward else None
        self.obs_clip, self.reward_clip, self.gamma = obs_clip, reward_clip, gamma
        self.sign_rewards, self.epsilon = sign_rewards, epsilon
        self._returns = np.zeros(agent.num_envs, dtype=np.float64)  # discounted return so far, per env

    def __getattr__(self, name: str) -> Any:  # only called for attributes this wrapper lacks
        agent = self.__dict__.get("agent")
        if agent is None:
            raise AttributeError(name)
        return getattr(agent, name)

    @property
    def metric_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.agent.metric_names

    # ---- transforms ---------------------------------------------------------------------------
    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        if self.obs_rms is None:
            return obs
        scaled = (np.asarray(obs, dtype=np.float64) - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.epsilon)
        return np.clip(scaled, -self.obs_clip, self.obs_clip).astype(np.float32)

    def transform_rewards(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        rewards = np.asarray(rewards, dtype=np.float64)
        if self.sign_rewards:
            rewards = np.sign(rewards)
        if self.return_rms is not None:
            self._returns = self._returns * self.gamma + rewards
            self.return_rms.update(self._returns)
            rewards = np.clip(
                rewards / np.sqrt(self.return_rms.var + self.epsilon), -self.reward_clip, self.reward_clip
            )
            self._returns[done] = 0.0
        return rewards.astype(np.float32)

    # ---- the agent contract -------------------------------------------------------------------
    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.obs_rms is not None:
            self.obs_rms.update(obs)
        return self.agent.act(self.normalize_obs(obs))

    def act_greedy(self, obs: np.ndarray) -> np.ndarray:
        return self.agent.act_greedy(self.normalize_obs(obs))  # frozen statistics

    def reset_greedy(self, num_envs: int) -> None:
        self.agent.reset_greedy(num_envs)

    def greedy_done(self, done: np.ndarray) -> None:
        self.agent.greedy_done(done)

    def observe(self, rewards, terminated, truncated, next_obs, final_obs) -> bool:
        rewards = self.transform_rewards(rewards, terminated | truncated)
        return self.agent.observe(
            rewards, terminated, truncated, self.normalize_obs(next_obs), self.normalize_obs(final_obs)
        )

    def update(self, progress: float) -> dict[str, float]:
        return self.agent.update(progress)  # the wrapped agent schedules its learning rates

    def learn(self, progress: float) -> dict[str, float]:
        return self.agent.learn(progress)

    def modules(self) -> dict[str, torch.nn.Module]:
        return self.agent.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.agent.optimizers()

    def current_lr(self) -> float:
        return self.agent.current_lr()

    def state_dict(self) -> dict:
        state = self.agent.state_dict()
        state["normalizer"] = {
            "obs": None if self.obs_rms is None else self.obs_rms.state_dict(),
            "return": None if self.return_rms is None else self.return_rms.state_dict(),
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state)
        saved = state.get("normalizer") or {}
        for name, stats in (("obs", self.obs_rms), ("return", self.return_rms)):
            if stats is not None and saved.get(name) is not None:
                stats.load_state_dict(saved[name])
        self._returns[:] = 0.0  # the env is rebuilt on resume: returns in progress start over
