"""`EnvSlice`: a run of envs stepped in a plain loop with SAME_STEP autoreset — the core every engine
shares (in-process, worker processes, Ray actors), so they all produce what gymnasium's
SyncVectorEnv produces.

A step returns per-env lists, the final observations of the envs whose episode ended
(`finals`: `(j, obs)`, j the env's index inside the slice), and *records* `(j, final_info, info)`
only for envs whose infos are not empty. Which envs ended is in terminated/truncated, so a worker
whose envs have no infos to report (CartPole's are always empty) answers with an empty message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import iterate

#: (j, final_info, info): the infos of env j from one step (final_info: {} unless its episode ended).
Record = tuple[int, dict, dict]


def iter_actions(batch_space: gym.Space, actions: Any) -> Iterable[Any]:
    """Per-env actions of a batch, as gymnasium's `iterate` yields them (an array by rows, directly)."""
    return actions if isinstance(actions, np.ndarray) else iterate(batch_space, actions)


class EnvSlice:
    """Envs built from `env_fns`, stepped one after the other.

    `cursor` (a writable int64 buffer, index `slot`) receives the global index of the env being
    stepped, so a supervisor can name the env that crashed or hung even if the process died.
    """

    def __init__(
        self, env_fns: Sequence[Callable[[], gym.Env]], offset: int = 0, cursor: Any = None, slot: int = 0
    ) -> None:
        self.offset = offset
        self.cursor = cursor if cursor is not None else memoryview(bytearray(8)).cast("q")
        self.slot = slot
        self.envs: list[gym.Env] = []
        for fn in env_fns:
            self.cursor[slot] = offset + len(self.envs)
            self.envs.append(fn())
        self.cursor[slot] = -1

    def __len__(self) -> int:
        return len(self.envs)

    def reset(
        self, seeds: Sequence[int | None], options: dict | None, mask: Sequence[bool] | None = None
    ) -> tuple[list[Any], list[Record]]:
        """Reset the envs (those where `mask` is true); returns their observations and info records.

        Unmasked envs get `None` in the observation list."""
        cursor, slot, offset = self.cursor, self.slot, self.offset
        observations: list[Any] = []
        records: list[Record] = []
        for j, env in enumerate(self.envs):
            if mask is not None and not mask[j]:
                observations.append(None)
                continue
            cursor[slot] = offset + j
            obs, info = env.reset(seed=seeds[j], options=options)
            observations.append(obs)
            if info:
                records.append((j, {}, info))
        cursor[slot] = -1
        return observations, records

    def step(
        self, actions: Iterable[Any]
    ) -> tuple[list[Any], list[Any], list[Any], list[Any], list[tuple[int, Any]], list[Record]]:
        """One step of every env; an env whose episode ends is reset at once (SAME_STEP).

        Returns observations, rewards, terminations, truncations, finals, records."""
        cursor, slot, offset = self.cursor, self.slot, self.offset
        observations: list[Any] = []
        rewards: list[Any] = []
        terminations: list[Any] = []
        truncations: list[Any] = []
        finals: list[tuple[int, Any]] = []
        records: list[Record] = []
        for j, (env, action) in enumerate(zip(self.envs, actions)):
            cursor[slot] = offset + j
            obs, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                finals.append((j, obs))
                final_info = info
                obs, info = env.reset()
                if final_info or info:
                    records.append((j, final_info, info))
            elif info:
                records.append((j, {}, info))
            observations.append(obs)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
        cursor[slot] = -1
        return observations, rewards, terminations, truncations, finals, records

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        """`name(*args, **kwargs)` on each env (or the attribute's value when it is not callable)."""
        results = []
        for env in self.envs:
            attr = env.get_wrapper_attr(name)
            results.append(attr(*args, **kwargs) if callable(attr) else attr)
        return results

    def set_attr(self, name: str, values: Sequence[Any]) -> None:
        for env, value in zip(self.envs, values, strict=True):
            env.set_wrapper_attr(name, value)

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []
