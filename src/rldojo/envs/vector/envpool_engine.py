"""`EnvPoolVectorEnv` (vectorize=envpool): envpool's C++ envs (Atari, MuJoCo, Box2D, classic control)
stepped on its own threads, presented as rldojo's SAME_STEP vector env.

Needs the `envpool` extra (`pip install 'rldojo[envpool]'`). What differs from the other engines:
- Autoreset: envpool resets a finished env on its next step; this engine resets it at once
  (`reset(env_ids)`), so results are SAME_STEP like every other engine's.
- Seeding: env i is seeded with seed + i as in gymnasium's SyncVectorEnv, but envpool's generators
  are its own, so start states differ from a sync run's. envpool seeds at construction: a reset
  with a new seed rebuilds the pool.
- Atari (`ALE/<Game>-v5` ids): envpool preprocesses in C++. rldojo's Atari options map onto its
  settings (no-op starts, frame skip with max-pooling, screen size, grayscale, frame stack, end at
  a lost life); rewards stay unclipped (the agent clips them, as with the other engines), no FIRE
  at reset, and sticky actions follow ALE v5 (`repeat_action_probability` 0.25 unless the env
  kwargs say otherwise). One difference: with `terminal_on_life_loss`, envpool goes on with the
  same game after the life is lost, where gymnasium's preprocessing starts a new game; `auto`
  therefore never picks envpool for that setting, nor for colour frames (laid out differently).
  `max_episode_steps` counts raw frames, as with the other engines.
- Infos: only `final_obs` / `final_info` (empty) of ended episodes; envpool's own info fields
  (lives, elapsed_step, ...) are not passed on.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from rldojo.envs.atari import AtariOptions, is_atari_id
from rldojo.envs.errors import EnvInputError
from rldojo.envs.vector.same_step import SameStepAdapter

#: Env kwargs of ALE ids that envpool's Atari settings take under the same name.
ATARI_KWARGS = ("repeat_action_probability", "full_action_space", "mode", "difficulty")
#: ALE v5's sticky-action probability (envpool's own default is 0).
ALE_V5_STICKY = 0.25


def import_envpool() -> Any:
    try:
        import envpool
    except ImportError:
        raise EnvInputError(
            "env.vectorize=envpool needs envpool: pip install 'rldojo[envpool]' "
            "(or use vectorize auto, sync or workers)"
        ) from None
    return envpool


def envpool_task(
    env_id: str, atari: AtariOptions | None, env_kwargs: dict[str, Any], max_episode_steps: int | None
) -> tuple[str, dict[str, Any]]:
    """envpool's task id and settings for `env_id` with rldojo's options; EnvInputError if it has none."""
    envpool = import_envpool()
    known = set(envpool.list_all_envs())
    kwargs = dict(env_kwargs)
    if is_atari_id(env_id):
        if atari is None:
            raise EnvInputError(
                f"env.vectorize=envpool: envpool's {env_id} always preprocesses frames; with env.atari "
                "false (the raw env) use vectorize sync or workers"
            )
        task = env_id.removeprefix("ALE/")
        unknown = sorted(set(kwargs) - set(ATARI_KWARGS))
        if unknown:
            raise EnvInputError(
                f"env.vectorize=envpool: env kwargs {', '.join(unknown)} have no envpool setting for "
                f"{env_id}; allowed: {', '.join(ATARI_KWARGS)} (or use vectorize sync or workers)"
            )
        config = {
            "noop_max": atari.noop_max,
            "frame_skip": atari.frame_skip,
            "img_height": atari.screen_size,
            "img_width": atari.screen_size,
            "gray_scale": atari.grayscale,
            "stack_num": atari.frame_stack,
            "episodic_life": atari.terminal_on_life_loss,
            "reward_clip": False,
            "use_fire_reset": False,
            "repeat_action_probability": kwargs.pop("repeat_action_probability", ALE_V5_STICKY),
            **kwargs,
        }
        if max_episode_steps is not None:  # raw frames, as for the other engines
            config["max_episode_steps"] = math.ceil(max_episode_steps / atari.frame_skip)
    else:
        task = env_id
        config = dict(kwargs)
        if max_episode_steps is not None:
            config["max_episode_steps"] = max_episode_steps
    if task not in known:
        raise EnvInputError(
            f"env.vectorize=envpool: envpool has no '{task}' (from env id '{env_id}'); it runs Atari "
            "(ALE/<Game>-v5), MuJoCo, Box2D and classic-control ids, e.g. ALE/Pong-v5, HalfCheetah-v5, "
            "LunarLander-v3, CartPole-v1; use vectorize auto, sync or workers for this env"
        )
    allowed = set(envpool.make_spec(task).config._fields)
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise EnvInputError(
            f"env.vectorize=envpool: envpool's {task} has no setting {', '.join(unknown)}; its settings: "
            f"{', '.join(sorted(allowed - _POOL_FIELDS))}"
        )
    return task, config


#: envpool settings about the pool itself, which make_vec sets (not env options).
_POOL_FIELDS = {
    "num_envs",
    "batch_size",
    "num_threads",
    "max_num_players",
    "thread_affinity_offset",
    "base_path",
    "seed",
    "env_seed",
    "gym_reset_return_info",
}


def envpool_fits(env_id: str, atari: AtariOptions | None, env_kwargs: dict[str, Any]) -> bool:
    """Whether `auto` may pick envpool: an Atari id whose preprocessing envpool reproduces."""
    if not is_atari_id(env_id) or atari is None or atari.terminal_on_life_loss or not atari.grayscale:
        return False
    if set(env_kwargs) - set(ATARI_KWARGS):
        return False
    try:
        envpool_task(env_id, atari, env_kwargs, None)
    except EnvInputError:
        return False
    return True


class EnvPoolVectorEnv(SameStepAdapter):
    """`num_envs` copies of envpool's `task` with `config`, in SAME_STEP autoreset mode."""

    def __init__(self, env_id: str, task: str, config: dict[str, Any], num_envs: int, seed: int = 0) -> None:
        self._envpool = import_envpool()
        self._task, self._config, self._seed = task, config, seed
        self._pool = self._build(seed, num_envs)
        self._setup(
            env_id,
            num_envs,
            self._pool.observation_space,
            self._pool.action_space,
            {"render_modes": []},
        )
        self.spec = gym.spec(env_id) if env_id in gym.registry else None

    def _build(self, seed: int, num_envs: int) -> Any:
        try:
            return self._envpool.make_gymnasium(self._task, num_envs=num_envs, seed=seed, **self._config)
        except (ValueError, TypeError, RuntimeError) as exc:
            raise EnvInputError(f"env.vectorize=envpool: envpool could not build {self._task}: {exc}") from None

    def _reset_backend(self, seed: int | None, options: dict[str, Any] | None) -> np.ndarray:
        if options:
            raise EnvInputError(
                f"reset options {sorted(options)} are not supported by vectorize=envpool; use sync or workers"
            )
        if seed is not None and seed != self._seed:  # envpool seeds at construction only
            self._pool.close()
            self._pool, self._seed = self._build(seed, self.num_envs), seed
        obs, _ = self._pool.reset()
        return obs

    def _step_backend(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        obs, rewards, terminated, truncated, _ = self._pool.step(actions)
        return obs, rewards, terminated, truncated

    def _reset_rows(self, rows: np.ndarray) -> np.ndarray:
        obs, info = self._pool.reset(rows.astype(np.int32))
        out = np.empty_like(obs)
        out[np.searchsorted(rows, info["env_id"])] = obs  # envpool answers in its own order; rows are sorted
        return out

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()
