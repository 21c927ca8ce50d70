"""Small envs for the vector-engine tests: every space kind, infos, and envs that fail on purpose.

Registered under `rldojo-test/...` ids. The module is pickled by value, so worker processes and
Ray actors rebuild these classes without importing the test package.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium import spaces

ACTION_SPACES = {
    "discrete": spaces.Discrete(3),
    "box": spaces.Box(-1.0, 1.0, (2,), np.float32),
    "multidiscrete": spaces.MultiDiscrete([2, 3]),
    "multibinary": spaces.MultiBinary(3),
}


class MixedEnv(gym.Env):
    """Dict-of-Box observations, any action space kind, random episode ends, and infos now and then:
    every step's info is non-empty on some steps, final infos carry data, resets report the seed."""

    metadata = {"render_modes": []}

    def __init__(self, action_kind: str = "discrete") -> None:
        self.observation_space = spaces.Dict(
            {
                "pos": spaces.Box(-10.0, 10.0, (3,), np.float32),
                "grid": spaces.Box(0, 255, (2, 2), np.uint8),
                "mode": spaces.Discrete(4),
            }
        )
        self.action_space = ACTION_SPACES[action_kind]
        self.t = 0
        self.label = "mixed"

    def _obs(self) -> dict:
        return {
            "pos": self.np_random.uniform(-1, 1, 3).astype(np.float32),
            "grid": self.np_random.integers(0, 256, (2, 2), dtype=np.uint8),
            "mode": int(self.np_random.integers(4)),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        info = {"start": int(self.np_random.integers(100))} if self.np_random.random() < 0.5 else {}
        return self._obs(), info

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)), action
        self.t += 1
        reward = float(np.sum(action)) + self.np_random.normal()
        terminated = bool(self.np_random.random() < 0.08)
        truncated = self.t >= 15
        info = {"score": float(self.t)} if self.np_random.random() < 0.3 else {}
        if terminated:
            info["won"] = bool(self.np_random.random() < 0.5)
        return self._obs(), reward, terminated, truncated, info


class EchoTextEnv(gym.Env):
    """Text observations and actions: the observation repeats the action, episodes last 4 steps."""

    def __init__(self) -> None:
        self.observation_space = spaces.Text(64)
        self.action_space = spaces.Text(16)
        self.t = 0
        self.tag = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.tag = int(self.np_random.integers(1000))
        return f"start {self.tag}", {"instruction": f"echo {self.tag}"}

    def step(self, action):
        self.t += 1
        return f"{self.tag}:{self.t}:{action}", float(len(action)), self.t >= 4, False, {}


class FailingEnv(gym.Env):
    """CartPole-like dynamics that fail on purpose at step `at_step` of the env instance whose
    first reset had seed `seed` (every instance when `seed` is None): raise, segfault, os._exit
    or hang. Observations are the step count, so a test can tell a restarted env."""

    def __init__(self, how: str = "raise", at_step: int = 5, seed: int | None = 1, busy_us: float = 0.0) -> None:
        self.observation_space = spaces.Box(0, 1e6, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.how, self.at_step, self.fail_seed, self.busy_us = how, at_step, seed, busy_us
        self.steps = 0
        self.first_seed: int | None = None
        self.episode_t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.first_seed is None:
            self.first_seed = -1 if seed is None else seed
        self.episode_t = 0
        return np.array([self.steps, 0], np.float32), {}

    def step(self, action):
        self.steps += 1
        self.episode_t += 1
        if self.busy_us:
            end = time.perf_counter() + self.busy_us * 1e-6
            while time.perf_counter() < end:
                pass
        if self.steps == self.at_step and (self.fail_seed is None or self.first_seed == self.fail_seed):
            self.fail()
        return np.array([self.steps, self.episode_t], np.float32), 1.0, self.episode_t >= 7, False, {}

    def fail(self) -> None:
        if self.how == "raise":
            raise ZeroDivisionError("the env divided by zero on purpose")
        if self.how == "segfault":
            sys.stderr.flush()
            ctypes.string_at(0)
        if self.how == "exit":
            os._exit(3)
        if self.how == "hang":
            time.sleep(3600)


cloudpickle.register_pickle_by_value(sys.modules[__name__])

for env_id, entry in (
    ("rldojo-test/Mixed-v0", MixedEnv),
    ("rldojo-test/Echo-v0", EchoTextEnv),
    ("rldojo-test/Failing-v0", FailingEnv),
):
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=entry, disable_env_checker=True)
