"""`dojo/Mixture-v0`: several text worlds (or reasoning tasks) as one env, for training one model on
all of them at once (a spec's `env` given as a list of `{id, weight}`).

Tasks: the mixture's task id t is task t // W of world t % W (W worlds), so every task of every
world has one id, the held-out split (a hash of the id) is fixed per task, and a group of episodes
plays one world's task. `reset(seed=s)` without a task id picks the world by weight, then lets that
world pick its task from the seed as it always does (keeping its own task distribution). Each
episode is played by the chosen world's env exactly as on its own (its turn limit, rewards,
expert); `info["world"]` names it and `info["task_id"]` is the mixture's id.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rldojo.envs.errors import EnvInputError

MIXTURE_ID = "dojo/Mixture-v0"


def check_worlds(worlds: Any) -> list[dict[str, Any]]:
    """The worlds of a mixture as [{id, weight, kwargs}], or EnvInputError naming what is wrong."""
    if not isinstance(worlds, (list, tuple)) or not worlds:
        raise EnvInputError(f"a mixture needs a non-empty list of worlds, each {{id, weight, kwargs}}; got {worlds!r}")
    checked = []
    for i, world in enumerate(worlds):
        if isinstance(world, str):
            world = {"id": world}
        if not isinstance(world, dict) or not isinstance(world.get("id"), str):
            raise EnvInputError(f"world {i} of the mixture must be a mapping with an `id`, got {world!r}")
        unknown = sorted(set(world) - {"id", "weight", "kwargs"})
        if unknown:
            raise EnvInputError(
                f"world {i} ({world['id']}) has unknown keys {', '.join(unknown)}; allowed: id, weight, kwargs"
            )
        weight = world.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0 or weight == float("inf"):
            raise EnvInputError(f"world {i} ({world['id']}): weight must be a positive number, got {weight!r}")
        if world["id"] == MIXTURE_ID:
            raise EnvInputError("a mixture cannot contain another mixture; list its worlds instead")
        checked.append({"id": world["id"], "weight": float(weight), "kwargs": dict(world.get("kwargs") or {})})
    ids = [w["id"] for w in checked]
    if len(set(ids)) != len(ids):
        raise EnvInputError(f"each world may appear once in a mixture; got {', '.join(ids)}")
    return checked


class MixtureEnv(gym.Env[str, str]):
    """Text worlds played as one env: episode by episode, one world at a time (see the module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, worlds: list[dict[str, Any]], render_mode: str | None = None) -> None:
        self.worlds = check_worlds(worlds)
        self.names = [w["id"] for w in self.worlds]
        weights = np.array([w["weight"] for w in self.worlds])
        self.weights = weights / weights.sum()
        self.render_mode = render_mode
        self.envs = [gym.make(w["id"], render_mode=render_mode, **w["kwargs"]) for w in self.worlds]
        first = self.envs[0]
        self.observation_space, self.action_space = first.observation_space, first.action_space
        self.max_turns = max(int(getattr(env.unwrapped, "max_turns", 1)) for env in self.envs)
        self.has_expert = all(getattr(env.unwrapped, "has_expert", False) for env in self.envs)
        self.active = 0

    @property
    def num_tasks(self) -> int | None:
        counts = [getattr(env.unwrapped, "num_tasks", None) for env in self.envs]
        if any(count is None for count in counts):
            return None
        return max(counts) * len(self.envs)

    def world_of(self, task_id: int) -> str:
        """The id of the world that plays mixture task `task_id`."""
        return self.names[int(task_id) % len(self.envs)]

    def _tag(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        if info.get("task_id") is not None:
            info["task_id"] = int(info["task_id"]) * len(self.envs) + self.active
        info["world"] = self.names[self.active]
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        raw = options.pop("task_id", None)
        if raw is None:
            self.active = int(self.np_random.choice(len(self.envs), p=self.weights))
        else:
            try:
                task_id = int(raw)
            except (TypeError, ValueError):
                raise EnvInputError(
                    f"unknown task_id {raw!r} for the mixture; a task id is a non-negative integer"
                ) from None
            if task_id < 0:
                raise EnvInputError(f"unknown task_id {raw!r} for the mixture; a task id is a non-negative integer")
            self.active = task_id % len(self.envs)
            options["task_id"] = task_id // len(self.envs)
        obs, info = self.envs[self.active].reset(seed=seed, options=options)
        return obs, self._tag(info)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.envs[self.active].step(action)
        return obs, reward, terminated, truncated, self._tag(info)

    def render(self) -> str | None:
        return self.envs[self.active].render()

    def close(self) -> None:
        for env in self.envs:
            env.close()
