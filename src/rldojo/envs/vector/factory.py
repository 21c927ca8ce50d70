"""`EnvFactory` and `make_env`: how every `vectorize` mode builds its envs.

A factory is picklable, so worker processes (`workers`, `pool`) and Ray actors (`ray`) build
the same env as the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rldojo.envs.atari import AtariOptions, resolve_atari
from rldojo.envs.errors import EnvInputError
from rldojo.envs.registry import check_env_id, current_env_id


@dataclass(frozen=True)
class EnvFactory:
    """Builds one env: picklable, so worker processes and Ray actors build the same env as the caller.

    It carries gymnasium's EnvSpec rather than the id, so envs registered only in the caller's
    process (an entry point defined in a script) build in the workers too."""

    spec: gym.envs.registration.EnvSpec
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    atari: AtariOptions | None = None  # Atari preprocessing and frame stacking (envs/atari.py)
    check_env: bool = True
    """Keep gymnasium's PassiveEnvChecker (the spec's choice); False leaves it out. make_vec keeps it
    on the first env only: it checks the env's first reset and step once, and on the other copies it
    is one more wrapper call per step (about 4% of a CartPole step) for nothing."""

    def __call__(self) -> gym.Env:
        kwargs = self.atari.make_kwargs(self.kwargs) if self.atari is not None else self.kwargs
        if not self.check_env:
            kwargs = {**kwargs, "disable_env_checker": True}
        try:
            env = gym.make(self.spec, max_episode_steps=self.max_episode_steps, **kwargs)
        except TypeError as exc:
            raise EnvInputError(f"env '{self.spec.id}' rejected its arguments {self.kwargs}: {exc}") from None
        return env if self.atari is None else self.atari.wrap(env)


def make_env(
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    *,
    atari: AtariOptions | bool | None = None,
) -> gym.Env:
    """One env, with the same id checks and arguments as `make_vec` (for eval and rendering)."""
    env_id = current_env_id(env_id)
    spec = check_env_id(env_id)
    kwargs = dict(env_kwargs or {})
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return EnvFactory(spec, kwargs, max_episode_steps, resolve_atari(env_id, atari))()
