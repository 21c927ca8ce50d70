"""Env ids: gymnasium's own plus rldojo's `dojo/<Name>-v0`, and a helpful answer for unknown ids.

Each world package exposes `register_envs()`; it is listed in `_WORLD_MODULES` and called once on
`import rldojo`, after which `gymnasium.make("dojo/<Name>-v0")` works with plain gymnasium.

Ids follow gymnasium's conventions in full: `"module:EnvId-v0"` imports `module` (which registers
the id) before the id is looked up, as `gymnasium.make` does. Ids users bring from older tutorials
are answered by `current_env_id`: Atari's `<Game>NoFrameskip-v4` family maps to `ALE/<Game>-v5`
with a logged notice (rldojo's Atari preprocessing then applies, frame skip included); an older
version of a registered env, or a Roboschool/PyBullet name, is refused with the current id named.
"""

from __future__ import annotations

import difflib
import importlib
import re

import gymnasium as gym
from loguru import logger

from rldojo.envs.errors import EnvInputError

# Modules with a `register_envs()` function; each registers its own dojo/ ids.
_WORLD_MODULES: tuple[str, ...] = ("rldojo.envs.text", "rldojo.envs.reason", "rldojo.envs.cyber")

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


#: Old Atari ids (gym's v0/v4 families): <Game>[NoFrameskip|Deterministic]-v0/v4.
_OLD_ATARI = re.compile(r"^(?P<game>[A-Z][A-Za-z]+?)(NoFrameskip|Deterministic)?-v[04]$")
#: Roboschool / PyBullet locomotion names -> the MuJoCo v5 env that replaced them.
_PYBULLET = {
    "HalfCheetah": "HalfCheetah-v5",
    "Hopper": "Hopper-v5",
    "Walker2D": "Walker2d-v5",
    "Walker2d": "Walker2d-v5",
    "Ant": "Ant-v5",
    "Humanoid": "Humanoid-v5",
    "InvertedPendulum": "InvertedPendulum-v5",
    "InvertedDoublePendulum": "InvertedDoublePendulum-v5",
    "Reacher": "Reacher-v5",
}
_PYBULLET_ID = re.compile(r"^(Roboschool(?P<a>\w+?)-v\d+|(?P<b>\w+?)BulletEnv-v\d+)$")


def current_env_id(env_id: str) -> str:
    """The id to use for `env_id`: itself, or the current id of an old Atari id (with a notice).
    Raises EnvInputError for ids that have a current equivalent rldojo will not swap in silently."""
    if ":" in env_id or "/" in env_id:
        return env_id
    match = _OLD_ATARI.match(env_id)
    if match:  # even where ale-py registers the old id: its v4 semantics are not what rldojo trains on
        current = f"ALE/{match.group('game')}-v5"
        try:
            _ensure_ale(current)
        except EnvInputError:
            return env_id
        if current in gym.registry:
            logger.warning(
                "env id '{}' is gym's old Atari id; using '{}' (ALE v5) with rldojo's Atari preprocessing "
                "(no-op starts, frame skip 4, 84x84 grayscale, 4 stacked frames). Write '{}' to silence this.",
                env_id,
                current,
                current,
            )
            return current
    if env_id in gym.registry:
        return env_id
    try:
        gym.spec(env_id)
    except gym.error.DeprecatedEnv as exc:  # an older version: gymnasium names the current one
        raise _older_version(env_id, exc) from None
    except (gym.error.Error, ModuleNotFoundError, ValueError):
        pass  # unknown ids are answered by check_env_id, with close matches
    bullet = _PYBULLET_ID.match(env_id)
    if bullet:
        name = bullet.group("a") or bullet.group("b")
        current = _PYBULLET.get(name)
        if current:
            raise EnvInputError(
                f"env id '{env_id}' is a Roboschool/PyBullet env, which gymnasium no longer ships; the current "
                f"equivalent is the MuJoCo env '{current}' (pip install 'rldojo[mujoco]'). Use env.id: {current}."
            )
    return env_id


def _older_version(env_id: str, exc: Exception) -> EnvInputError:
    current = re.search(r"Please use `([^`]+)`", str(exc))
    use = f" Use env.id: {current.group(1)}." if current else ""
    return EnvInputError(f"env id '{env_id}' is an older version that gymnasium no longer ships ({exc}).{use}")


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """Return gymnasium's EnvSpec for `env_id` or raise EnvInputError naming close matches (or, for
    an older version of a registered env, the current id)."""
    register_all()
    env_id = current_env_id(env_id)
    if ":" in env_id:  # gymnasium's "module:EnvId-v0": the module registers the id
        module, env_id = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise EnvInputError(
                f"env id '{module}:{env_id}' names the module '{module}', which cannot be imported ({exc}). "
                "The part before ':' must be an importable module that registers the id."
            ) from None
    _ensure_ale(env_id)
    try:
        return gym.spec(env_id)
    except gym.error.DeprecatedEnv as exc:
        raise _older_version(env_id, exc) from None
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
