"""`SameStepAdapter`: a batched backend that resets finished envs on the *next* step (gymnasium's
NEXT_STEP autoreset, envpool's), presented as rldojo's SAME_STEP vector env.

rldojo's trainers store clean transitions from SAME_STEP results: a step that ends an episode
returns the first observation of the next one and puts the last in `infos["final_obs"]`. A
NEXT_STEP backend instead returns the last observation and spends the following step on the reset
(ignoring that step's action). The adapter resets the finished envs at once, through the
backend's own way of resetting a subset (`_reset_rows`), so every step is a real step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rldojo.envs.errors import EnvInputError


class SameStepAdapter(VectorEnv, ABC):
    """Base of the `native` and `envpool` engines: spaces, action checks and the SAME_STEP infos.

    Subclasses implement `_reset_backend(seed, options)`, `_step_backend(actions)` and
    `_reset_rows(rows)`, and call `_setup(...)` in their constructor."""

    def _setup(
        self, env_name: str, num_envs: int, obs_space: gym.Space, act_space: gym.Space, metadata: dict[str, Any]
    ) -> None:
        self.env_name = env_name
        self.num_envs = num_envs
        self.single_observation_space = obs_space
        self.single_action_space = act_space
        self.observation_space = batch_space(obs_space, num_envs)
        self.action_space = batch_space(act_space, num_envs)
        self.autoreset_mode = AutoresetMode.SAME_STEP
        self.metadata = {**metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.render_mode = None

    # ---- what a backend provides --------------------------------------------------------------
    @abstractmethod
    def _reset_backend(self, seed: int | None, options: dict[str, Any] | None) -> np.ndarray:
        """Reset every env (seeded when `seed` is given); the first observations."""

    @abstractmethod
    def _step_backend(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every env: observations, rewards, terminated, truncated (finished envs not reset yet)."""

    @abstractmethod
    def _reset_rows(self, rows: np.ndarray) -> np.ndarray:
        """Reset the envs `rows` now; their first observations, in the order of `rows`."""

    # ---- the VectorEnv API ---------------------------------------------------------------------
    def reset(self, *, seed: int | list | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None and not isinstance(seed, (int, np.integer)):
            raise EnvInputError(
                f"reset of the {type(self).__name__} ({self.env_name}) takes one int seed (it seeds the "
                f"whole batch) or None, got {type(seed).__name__}; per-env seed lists need vectorize "
                "sync or workers"
            )
        obs = self._reset_backend(None if seed is None else int(seed), options)
        return obs, {}

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        actions = self._checked_actions(actions)
        obs, rewards, terminated, truncated = self._step_backend(actions)
        infos: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():
            rows = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in rows:
                final_obs[i] = obs[i].copy()
            obs[rows] = self._reset_rows(rows)
            infos = {
                "final_obs": final_obs,
                "_final_obs": done.copy(),
                "final_info": {},
                "_final_info": done.copy(),
            }
        return obs, np.asarray(rewards, dtype=np.float64), terminated, truncated, infos

    def _checked_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        space = self.action_space
        bad = array.shape != space.shape
        if not bad and isinstance(space, gym.spaces.MultiDiscrete):
            # Discrete choices must be whole numbers in range (bounds of Box actions are the env's to clip)
            bad = array.dtype.kind not in "iu" or array.min() < 0 or bool((array >= space.nvec).any())
        if bad:
            raise EnvInputError(
                f"step got actions of shape {array.shape} ({array.dtype}) for {self.env_name}; the "
                f"action space {space} needs shape {space.shape}"
                + (" with integers from 0 to n-1" if isinstance(space, gym.spaces.MultiDiscrete) else "")
            )
        return array if array.dtype == space.dtype else array.astype(space.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_name}, num_envs={self.num_envs})"
