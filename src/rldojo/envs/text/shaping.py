"""Reward shaping for text worlds: a wrapper that adds dense bonuses to the native reward.

Off unless a spec turns it on (the spec layer wraps the env with `ShapedReward(env, config)`; every
weight defaults to 0, so an empty config changes nothing). Per step, the returned reward is

    native reward
    + valid_action                       if the action was valid
    + state_change                       if the observation differs from the previous one
    + task_keyword                       if the action is valid and names a word of the instruction
    + time_efficiency * (1 - turn / max_turns)        on the step that wins
    + action_efficiency * valid_actions / turns       on the step that ends the episode
    + invalid_action                     if the world refused the action
    + failure                            on the step that ends an episode without a win

Weights may be negative: a negative `invalid_action` or `failure` is a penalty. `episode_bonus_cap`
bounds what the positive terms add over one episode, so a policy that stalls on valid but
useless actions cannot earn more than one that wins (penalties are never capped).

The wrapper never changes `won` or any other info key of the world; it adds `native_reward`,
`shaping_bonus` (their sum is the returned reward) and `shaping_terms` (each term above).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
from pydantic import BaseModel, ConfigDict, Field

# Words that appear in instructions without naming an object of the task.
_STOP_WORDS = frozenset(
    """a an the and or of to in on at by for with from into onto your you it its is are be
    this that these those then next using use get craft make put pick up go open buy find me i goal mission
    some any one two three four five six seven eight nine ten item items piece pieces""".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def task_keywords(instruction: str) -> frozenset[str]:
    """The words of an instruction that can name an object (not stop words, not bare numbers)."""
    return frozenset(
        w for w in _WORD.findall(instruction.lower()) if w not in _STOP_WORDS and not w.isdigit() and len(w) > 1
    )


class ShapingConfig(BaseModel):
    """Weights of the shaping terms (all 0 by default: shaping adds nothing until a weight is set)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)

    valid_action: float = Field(0.0, ge=-100.0, le=100.0)
    """Added for each action the world understood and could carry out."""
    state_change: float = Field(0.0, ge=-100.0, le=100.0)
    """Added for each step whose observation differs from the one before it."""
    task_keyword: float = Field(0.0, ge=-100.0, le=100.0)
    """Added for each valid action that mentions a word naming an object of the instruction."""
    time_efficiency: float = Field(0.0, ge=-100.0, le=100.0)
    """On the winning step: weight * (1 - turns used / max_turns)."""
    action_efficiency: float = Field(0.0, ge=-100.0, le=100.0)
    """On the last step of an episode: weight * valid actions / turns."""
    invalid_action: float = Field(0.0, ge=-100.0, le=100.0)
    """Added for each action the world refused (negative: a penalty, e.g. -0.05)."""
    failure: float = Field(0.0, ge=-100.0, le=100.0)
    """Added on the last step of an episode that ends without a win (negative: a penalty)."""
    episode_bonus_cap: float | None = Field(None, ge=0.0)
    """The most the positive terms may add over one episode (None: no cap). Set it below the
    world's reward for a win, so that stalling on valid actions never pays more than winning."""


class ShapedReward(gym.Wrapper):
    """Adds the shaping bonuses of `config` to a text env's native reward (see module docstring)."""

    def __init__(self, env: gym.Env, config: ShapingConfig | dict[str, Any] | None = None):
        super().__init__(env)
        self.config = config if isinstance(config, ShapingConfig) else ShapingConfig(**(config or {}))
        self._keywords: frozenset[str] = frozenset()
        self._last_observation = ""
        self._paid = 0.0
        self.enabled = True
        """False: steps pass the native reward through untouched (see `native_rewards`)."""

    def _max_turns(self) -> int | None:
        max_turns = getattr(self.env.unwrapped, "max_turns", None)
        if max_turns is None and self.env.spec is not None:
            max_turns = self.env.spec.max_episode_steps
        return max_turns

    def reset(self, **kwargs: Any) -> tuple[str, dict]:
        observation, info = self.env.reset(**kwargs)
        self._keywords = task_keywords(str(info.get("instruction", "")))
        self._last_observation = observation
        self._paid = 0.0  # positive shaping paid so far this episode (for episode_bonus_cap)
        return observation, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        observation, native, terminated, truncated, info = self.env.step(action)
        if not self.enabled:
            self._last_observation = observation
            return observation, native, terminated, truncated, info
        cfg = self.config
        valid = bool(info.get("valid_action", False))
        turn = int(info.get("turn", 0))
        terms = {
            "valid_action": cfg.valid_action if valid else 0.0,
            "state_change": cfg.state_change if observation != self._last_observation else 0.0,
            "task_keyword": 0.0,
            "time_efficiency": 0.0,
            "action_efficiency": 0.0,
        }
        if valid and isinstance(action, str) and self._keywords & set(_WORD.findall(action.lower())):
            terms["task_keyword"] = cfg.task_keyword
        max_turns = self._max_turns()
        if terminated and info.get("won") and max_turns:
            terms["time_efficiency"] = cfg.time_efficiency * max(0.0, 1.0 - turn / max_turns)
        if (terminated or truncated) and turn > 0:
            terms["action_efficiency"] = cfg.action_efficiency * int(info.get("valid_action_count", 0)) / turn
        terms["invalid_action"] = 0.0 if valid else cfg.invalid_action
        terms["failure"] = cfg.failure if (terminated or truncated) and not info.get("won") else 0.0
        if cfg.episode_bonus_cap is not None:
            self._cap_positive_terms(terms, cfg.episode_bonus_cap)
        self._last_observation = observation
        bonus = float(sum(terms.values()))
        info = dict(info)
        info["native_reward"] = float(native)
        info["shaping_bonus"] = bonus
        info["shaping_terms"] = terms
        return observation, float(native) + bonus, terminated, truncated, info

    def _cap_positive_terms(self, terms: dict[str, float], cap: float) -> None:
        """Scale this step's positive terms down so the episode's positive shaping stays within `cap`."""
        positive = sum(v for v in terms.values() if v > 0)
        if positive <= 0:
            return
        allowed = max(0.0, cap - self._paid)
        if positive > allowed:
            scale = allowed / positive
            for name, value in terms.items():
                if value > 0:
                    terms[name] = value * scale
        self._paid += min(positive, allowed)


@contextmanager
def native_rewards(envs: Iterable[gym.Env]) -> Iterator[None]:
    """Within the block, every `ShapedReward` among `envs` (or wrapped inside them) returns the
    native reward: evaluation measures the world's own reward, not the shaped training signal."""
    shaped = []
    for env in envs:
        while isinstance(env, gym.Wrapper):
            if isinstance(env, ShapedReward):
                shaped.append(env)
            env = env.env
    previous = [w.enabled for w in shaped]
    for wrapper in shaped:
        wrapper.enabled = False
    try:
        yield
    finally:
        for wrapper, was in zip(shaped, previous):
            wrapper.enabled = was
