"""Env ids: gymnasium's own plus rldojo's `dojo/<Name>-v0`, and a helpful answer for unknown ids.

Each world package exposes `register_envs()`; it is listed in `_WORLD_MODULES` and called once on
`import rldojo`, after which `gymnasium.make("dojo/<Name>-v0")` works with plain gymnasium.
"""

from __future__ import annotations

import difflib
import importlib

import gymnasium as gym

from rldojo.envs.errors import EnvInputError

# Modules with a `register_envs()` function; each registers its own dojo/ ids.
_WORLD_MODULES: tuple[str, ...] = ("rldojo.envs.text", "rldojo.envs.reason")

_registered = False


def register_dojo_env(env_id: str, entry_point: str, **kwargs) -> None:
    """Register one id with gymnasium unless it is already there (importing twice is harmless)."""
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point, **kwargs)


def register_all() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    for module_name in _WORLD_MODULES:
        importlib.import_module(module_name).register_envs()


def _ensure_ale(env_id: str) -> None:
    # ALE ids exist only after ale_py registers them (gymnasium 1.x no longer does it implicitly).
    if env_id.startswith("ALE/"):
        try:
            import ale_py  # noqa: F401

            gym.register_envs(ale_py)
        except ImportError as exc:
            raise EnvInputError(
                f"env id '{env_id}' is an Atari game but ale-py is not installed: "
                f"pip install 'rldojo[atari]' (ale-py, opencv-python-headless)."
            ) from exc


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return gymnasium's EnvSpec for `env_id` or raise EnvInputError naming close matches."""
    register_all()
    _ensure_ale(env_id)
    try:
        return gym.spec(env_id)
    except (gym.error.Error, ModuleNotFoundError, ValueError) as exc:
        known = sorted(gym.registry.keys())
        close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
        hint = (
            f"Did you mean: {', '.join(close)}?"
            if close
            else (
                "Use a gymnasium id such as CartPole-v1, LunarLander-v3, Pendulum-v1, ALE/Pong-v5, "
                'or an rldojo id (dojo/<Name>-v0); `python -c "import rldojo, gymnasium; '
                'gymnasium.pprint_registry()"` lists them all.'
            )
        )
        raise EnvInputError(f"unknown env id '{env_id}' ({exc}). {hint}") from None
