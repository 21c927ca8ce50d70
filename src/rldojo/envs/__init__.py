"""Environments: gymnasium ids and rldojo's own, vector engines behind one seam (`make_vec`).

This layer imports nothing else of rldojo, so every env here is usable with plain gymnasium.
"""

from rldojo.envs.atari import AtariOptions
from rldojo.envs.errors import EnvInputError
from rldojo.envs.registry import check_env_id, register_all, register_dojo_env
from rldojo.envs.vector import (
    VECTORIZE_MODES,
    EnvCrashError,
    choose_vectorize,
    episode_success,
    final_observations,
    make_env,
    make_vec,
)

register_all()

__all__ = [
    "AtariOptions",
    "EnvCrashError",
    "EnvInputError",
    "VECTORIZE_MODES",
    "check_env_id",
    "choose_vectorize",
    "episode_success",
    "final_observations",
    "make_env",
    "make_vec",
    "register_dojo_env",
]
