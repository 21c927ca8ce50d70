"""`NativeVectorEnv` (vectorize=native): the env's own numpy-vectorised implementation.

Some gymnasium ids register a `vector_entry_point`, a VectorEnv that steps the whole batch with a
few numpy operations (`gymnasium.make_vec(id, vectorization_mode="vector_entry_point")`);
CartPole-v0/v1 have one and step 200 copies far faster than any loop over single envs.

Those envs reset finished episodes on the next step (NEXT_STEP autoreset); rldojo's trainers want
SAME_STEP results, so the engine resets finished rows at once (same_step.py). Which backends can
do that:
- a vector env already in SAME_STEP mode: used as it is;
- one in DISABLED mode: `reset(options={"reset_mask": rows})`;
- CartPole's NEXT_STEP `CartPoleVectorEnv`: its rows are redrawn exactly as its own next step
  would redraw them (same distribution, same generator).

Seeding differs from the other engines: `reset(seed=s)` seeds the one generator of the whole
batch, where sync/workers seed env i with s + i. A run is reproducible on this engine, but its
start states are not those of a sync run with the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from rldojo.envs.errors import EnvInputError
from rldojo.envs.vector.same_step import SameStepAdapter


def _cartpole_reset_rows(venv: Any, rows: np.ndarray) -> np.ndarray:
    """Redraw CartPole rows as CartPoleVectorEnv.step does for the rows that ended a step earlier."""
    venv.state[:, rows] = venv.np_random.uniform(low=venv.low, high=venv.high, size=(4, len(rows)))
    venv.steps[rows] = 0
    venv.prev_done[rows] = False
    return venv.state[:, rows].T.astype(np.float32)


#: NEXT_STEP vector envs whose rows rldojo knows how to reset at once, by class path.
ROW_RESETS: dict[str, Callable[[Any, np.ndarray], np.ndarray]] = {
    "gymnasium.envs.classic_control.cartpole.CartPoleVectorEnv": _cartpole_reset_rows,
}


def _class_path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def native_ids() -> list[str]:
    """Registered ids with a numpy vector env this engine can run (JAX ones need jax installed)."""
    return sorted(env_id for env_id, spec in gym.registry.items() if spec.vector_entry_point is not None)


class NativeVectorEnv(SameStepAdapter):
    """`num_envs` copies of `spec`'s id as its registered vector env, in SAME_STEP autoreset mode."""

    def __init__(
        self,
        spec: gym.envs.registration.EnvSpec,
        num_envs: int,
        env_kwargs: dict[str, Any] | None = None,
        max_episode_steps: int | None = None,
    ) -> None:
        if spec.vector_entry_point is None:
            raise EnvInputError(
                f"env.vectorize=native: '{spec.id}' registers no vectorised implementation "
                f"(gymnasium's vector_entry_point); ids with one: {', '.join(native_ids())}. "
                "Use vectorize auto, sync or workers for this env."
            )
        kwargs = dict(env_kwargs or {})
        if max_episode_steps is not None:
            kwargs["max_episode_steps"] = max_episode_steps
        try:
            inner = gym.make_vec(spec, num_envs, vectorization_mode="vector_entry_point", **kwargs)
        except TypeError as exc:
            raise EnvInputError(
                f"env.vectorize=native: the vectorised {spec.id} does not take these arguments "
                f"({', '.join(sorted(kwargs)) or 'none'}): {exc}. Remove them, or use vectorize sync or workers."
            ) from None
        except ImportError as exc:
            raise EnvInputError(f"env.vectorize=native: the vectorised {spec.id} needs a package: {exc}") from None
        mode = inner.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        self._row_reset = ROW_RESETS.get(_class_path(inner.unwrapped))
        if mode == AutoresetMode.NEXT_STEP and self._row_reset is None:
            inner.close()
            raise EnvInputError(
                f"env.vectorize=native: {_class_path(inner.unwrapped)} resets finished envs a step "
                "late (NEXT_STEP) and rldojo does not know how to reset its rows at once; use "
                "vectorize sync or workers for this env"
            )
        self._inner, self._mode = inner, AutoresetMode(mode)
        self._setup(
            spec.id,
            num_envs,
            inner.single_observation_space,
            inner.single_action_space,
            dict(inner.metadata),
        )
        self.spec = spec

    def _reset_backend(self, seed: int | None, options: dict[str, Any] | None) -> np.ndarray:
        obs, _ = self._inner.reset(seed=seed, options=options)
        return np.array(obs, copy=True)

    def _step_backend(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        obs, rewards, terminated, truncated, _ = self._inner.step(actions)
        if self._mode == AutoresetMode.SAME_STEP:
            return obs, rewards, terminated, truncated  # already reset by the env itself
        return np.asarray(obs), rewards, np.asarray(terminated), np.asarray(truncated)

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._mode == AutoresetMode.SAME_STEP:
            obs, rewards, terminated, truncated, infos = self._inner.step(self._checked_actions(actions))
            return obs, np.asarray(rewards, dtype=np.float64), terminated, truncated, infos
        return super().step(actions)

    def _reset_rows(self, rows: np.ndarray) -> np.ndarray:
        if self._mode == AutoresetMode.DISABLED:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[rows] = True
            obs, _ = self._inner.reset(options={"reset_mask": mask})
            return np.asarray(obs)[rows]
        return self._row_reset(self._inner.unwrapped, rows)

    def close_extras(self, **kwargs: Any) -> None:
        self._inner.close()
