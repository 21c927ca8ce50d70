"""Atari preprocessing for gymnasium's ALE v5 ids (`ALE/Pong-v5`, ...), as in the DQN paper and the RL Zoo.

The base env is made with `frameskip=1` (ALE v5 would otherwise skip 4 frames itself), then
gymnasium's `AtariPreprocessing` (up to `noop_max` no-ops at reset, the action repeated
`frame_skip` times with the max of the last two frames, `screen_size` x `screen_size` grayscale,
episodes optionally cut at the first life lost) and `FrameStackObservation` (the last
`frame_stack` frames). Observations are uint8 (frame_stack, 84, 84).

Sticky actions (ALE v5's `repeat_action_probability`, 0.25 by default) stay as the id registers
them; pass `repeat_action_probability: 0.0` in env kwargs for the deterministic v4 behaviour.
Reward clipping for learning is not done here but by the agent (`env.atari.clip_reward`), so the
returns rldojo reports are the game's own scores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import gymnasium as gym

from rldojo.envs.errors import EnvInputError


@dataclass(frozen=True)
class AtariOptions:
    """How an ALE env is preprocessed (picklable: worker processes build the same env)."""

    noop_max: int = 30
    frame_skip: int = 4
    screen_size: int = 84
    grayscale: bool = True
    terminal_on_life_loss: bool = False
    frame_stack: int = 4

    def for_eval(self) -> AtariOptions:
        """Evaluation plays whole games: never end an episode at a lost life."""
        return dataclasses.replace(self, terminal_on_life_loss=False)

    def make_kwargs(self, kwargs: dict) -> dict:
        """Arguments for `gym.make` of the base env: frame skipping moves to the preprocessing."""
        if kwargs.get("frameskip", 1) != 1:
            raise EnvInputError(
                f"env kwargs frameskip={kwargs['frameskip']!r} clashes with Atari preprocessing, "
                f"which skips frames itself (env.atari.frame_skip, now {self.frame_skip}); remove "
                "frameskip from env.kwargs, or set env.atari: false for the raw env"
            )
        return {**kwargs, "frameskip": 1}

    def wrap(self, env: gym.Env) -> gym.Env:
        from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

        env = AtariPreprocessing(
            env,
            noop_max=self.noop_max,
            frame_skip=self.frame_skip,
            screen_size=self.screen_size,
            grayscale_obs=self.grayscale,
            terminal_on_life_loss=self.terminal_on_life_loss,
            scale_obs=False,
        )
        if self.frame_stack > 1:
            env = FrameStackObservation(env, self.frame_stack)
        return env


def is_atari_id(env_id: str) -> bool:
    return env_id.startswith("ALE/")


def resolve_atari(env_id: str, atari: AtariOptions | bool | None) -> AtariOptions | None:
    """The preprocessing for `env_id`: None (auto) and True mean the defaults for ALE ids and nothing
    for other ids; False means none; options are used as given (ALE ids only)."""
    if atari is None or atari is True:
        return AtariOptions() if is_atari_id(env_id) else None
    if atari is False:
        return None
    if not is_atari_id(env_id):
        raise EnvInputError(
            f"Atari preprocessing options were given for '{env_id}', which is not an ALE id; "
            "they apply to ALE/<Game>-v5 ids only (e.g. ALE/Pong-v5)"
        )
    return atari
