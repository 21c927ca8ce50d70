"""`make_vec`: the one seam every trainer uses to get a vector env.

All engines return gymnasium 1.x VectorEnvs in SAME_STEP autoreset mode: when an episode ends, the
step returns the first observation of the next episode and puts the last one in
`infos["final_obs"]` (and the last info in `infos["final_info"]`). Trainers store clean
transitions that way, and bootstrap truncated episodes from the final observation.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from loguru import logger

from rldojo.envs.errors import EnvInputError
from rldojo.envs.registry import check_env_id

VectorizeMode = Literal["auto", "sync", "async"]
VECTORIZE_MODES: tuple[str, ...] = ("auto", "sync", "async")

# Cheap pure-Python families step faster in-process than through pipes (SLM-Lab's rule).
_IN_PROCESS_FAMILIES = ("gymnasium.envs.classic_control", "gymnasium.envs.box2d")
_ASYNC_MIN_ENVS = 8


def choose_vectorize(env_id: str, num_envs: int) -> str:
    """SLM-Lab's rule: sync below 8 envs and for classic-control / box2d, async otherwise."""
    spec = check_env_id(env_id)
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if num_envs < _ASYNC_MIN_ENVS or entry.startswith(_IN_PROCESS_FAMILIES):
        return "sync"
    return "async"


def make_env(
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """One env, with the same id checks and arguments as `make_vec` (for eval and rendering)."""
    check_env_id(env_id)
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        return gym.make(env_id, max_episode_steps=max_episode_steps, **kwargs)
    except TypeError as exc:
        raise EnvInputError(f"env '{env_id}' rejected its arguments {kwargs}: {exc}") from None


def make_vec(
    env_id: str,
    num_envs: int,
    seed: int | None = None,
    vectorize: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """Build `num_envs` copies of `env_id` as one VectorEnv (SAME_STEP autoreset) and seed them.

    `seed` seeds env i with seed + i on the first reset; pass the same seed to `reset` to start.
    """
    if vectorize not in VECTORIZE_MODES:
        raise EnvInputError(f"env.vectorize '{vectorize}' is unknown; allowed: {', '.join(VECTORIZE_MODES)}")
    if num_envs < 1:
        raise EnvInputError(f"env.num_envs must be at least 1, got {num_envs}")
    mode = choose_vectorize(env_id, num_envs) if vectorize == "auto" else vectorize
    if vectorize == "auto":
        logger.debug("make_vec: {} x{} -> {} (SLM-Lab rule)", env_id, num_envs, mode)
    env_fns = [
        (lambda: make_env(env_id, env_kwargs, max_episode_steps)) for _ in range(num_envs)
    ]
    # Build one env eagerly so a bad id or argument fails here, with a clear message.
    probe = env_fns[0]()
    probe.close()
    if mode == "sync":
        venv = gym.vector.SyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        venv = gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    if seed is not None:
        venv.action_space.seed(seed)
    return venv


def final_observations(infos: dict, done: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """The observation each env ended its episode on (rows of `next_obs` where it did not end)."""
    final = np.array(next_obs, copy=True)
    if done.any() and "final_obs" in infos:
        mask = infos.get("_final_obs", done)
        for i in np.flatnonzero(mask):
            final[i] = infos["final_obs"][i]
    return final


_SUCCESS_KEYS = ("is_success", "success", "won")


def episode_success(infos: dict, done: np.ndarray) -> np.ndarray:
    """Per env: 1.0/0.0 success of an episode that just ended, NaN where the env defines none."""
    out = np.full(done.shape, np.nan)
    final_info = infos.get("final_info")
    if not done.any() or not isinstance(final_info, dict):
        return out
    for key in _SUCCESS_KEYS:
        if key in final_info:
            values = np.asarray(final_info[key], dtype=float)
            present = np.asarray(final_info.get("_" + key, np.ones_like(done)), dtype=bool)
            sel = done & present
            out[sel] = values[sel]
            break
    return out
