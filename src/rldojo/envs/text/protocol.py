"""`TextEnv`: the one protocol every rldojo text world follows (DESIGN.md, "Text worlds").

A text env is a gymnasium env whose observations and actions are strings.

Reset and tasks
    `reset(seed=..., options={"task_id": t})` starts task `t`. The task is a pure function of
    `task_id` (so a group of envs with different seeds can play the same task); the seed picks the
    task when no `task_id` is given and seeds any randomness inside the episode. Task ids are
    non-negative integers (digit strings are accepted too); a world with a finite task list accepts
    `0 <= t < num_tasks`, any other id is answered with `EnvInputError` naming the allowed range.
    The first observation starts with the instruction, which is also in `info["instruction"]`.

Info keys (every reset and step)
    instruction         the task, in words
    available_actions   list[str] of actions that are valid now (empty where a world lists none)
    won                 True once the task is achieved (never changed by any wrapper)
    valid_action        whether the last action was understood and possible (True after reset)
    score               the world's native score of the episode so far (its own measure, e.g.
                        WebShop's purchase reward; by default the sum of native rewards)
    expert_action       the built-in expert's next action (only in worlds that have an expert)
    task_id, turn, valid_action_count, invalid_action_count, step_rewards (native reward of each
    turn), previous_observation (the observation before the last step)

Steps
    An action that the world does not understand or cannot carry out never raises: it is answered
    as the original world does ("Nothing happens."), counted in `invalid_action_count`, and the
    turn passes. Bad input is answered the same way with a reason: non-strings, empty or
    whitespace-only actions, actions longer than `MAX_ACTION_CHARS`; control characters and odd
    unicode are normalised (NFKC, control/format characters become spaces) before the world sees
    the action. Stepping after the episode ended (or before any reset) returns a message saying
    so, reward 0, `terminated=True`, and changes nothing. After `max_turns` turns the episode is
    truncated.

Hooks a world implements (all small; see TextCraft and BabyAI for examples)
    num_tasks -> int | None                      how many task ids exist (None: any id < 2**31)
    _load_task(task_id, rng) -> (instruction, observation)
                                                 build the task's world; `rng` is derived from
                                                 task_id only; return what the agent first sees
    _step_world(action) -> WorldStep             carry out one cleaned action; WorldStep holds the
                                                 observation, native reward, valid, won, done (ended
                                                 without winning) and truncated (world's own limit)
    _available_actions() -> list[str]            optional; default []
    _expert_action() -> str | None               optional; set `has_expert = True` when defined
    _native_score() -> float                     optional; default: sum of native rewards
    _action_hint() -> str                        optional; one line naming the command forms
    _sample_task_id(rng, options) -> int         optional; default uniform over task ids
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Text

from rldojo.envs.errors import EnvInputError

NOTHING_HAPPENS = "Nothing happens."

# Task ids of worlds without a finite task list are seeds; keep them in numpy's int32 range.
UNBOUNDED_TASKS = 2**31 - 1


@functools.cache
def _printable_tables() -> tuple[frozenset[str], tuple[str, ...], dict[str, np.int32], str]:
    """Every printable unicode character plus newline and tab, built once per process."""
    chars = tuple(c for c in map(chr, range(sys.maxunicode + 1)) if c.isprintable() or c in "\n\t")
    return frozenset(chars), chars, {c: np.int32(i) for i, c in enumerate(chars)}, "".join(chars)


class PrintableText(Text):
    """A gymnasium `Text` space over all printable unicode (plus newline and tab).

    The character tables are built once per process and shared by every instance, because a
    per-instance copy of ~145k characters costs 0.2 s and 13 MB (vector envs copy spaces).
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None):
        super().__init__(max_length, min_length=min_length, charset="a", seed=seed)
        self._install_tables()

    def _install_tables(self) -> None:
        self._char_set, self._char_list, self._char_index, self._char_str = _printable_tables()

    def __repr__(self) -> str:
        return f"PrintableText({self.min_length}, {self.max_length}, charset=printable unicode)"

    def __deepcopy__(self, memo: dict) -> PrintableText:
        copy = PrintableText(self.max_length, min_length=self.min_length)
        if self._np_random is not None:
            copy.np_random.bit_generator.state = self._np_random.bit_generator.state
        return copy

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("_char_set", "_char_list", "_char_index", "_char_str"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._install_tables()


@dataclass
class WorldStep:
    """What a world answers to one action."""

    observation: str
    """What the agent sees next."""
    reward: float = 0.0
    """The world's native reward for this step."""
    valid: bool = True
    """Whether the action was understood and possible."""
    won: bool = False
    """Whether the task is now achieved (ends the episode)."""
    done: bool = False
    """Whether the episode ended without winning (e.g. a wrong purchase)."""
    truncated: bool = False
    """Whether the world's own time limit cut the episode (reported as truncation)."""


def clean_action(action: str) -> str:
    """NFKC-normalise, turn control/format/separator characters into spaces, collapse spaces."""
    text = unicodedata.normalize("NFKC", action)
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    return " ".join(text.split())


def _printable(text: str) -> str:
    """Keep an observation inside the observation space: only printable characters, \\n and \\t."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)


class TextEnv(gym.Env[str, str]):
    """Base class of rldojo's text worlds: the protocol in the module docstring, hooks for worlds."""

    metadata = {"render_modes": ["ansi"]}

    MAX_ACTION_CHARS = 4096
    """Longer actions are answered as invalid, never passed to the world."""
    MAX_OBSERVATION_CHARS = 65536
    """Observations are cut to this length (with a note) so they always fit the space."""
    has_expert = False
    """Whether the world defines `_expert_action` (then info carries `expert_action`)."""

    def __init__(self, max_turns: int = 50, render_mode: str | None = None):
        if not isinstance(max_turns, (int, np.integer)) or isinstance(max_turns, bool) or max_turns < 1:
            raise EnvInputError(f"max_turns must be a positive integer, got {max_turns!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvInputError(
                f"render_mode {render_mode!r} is not supported; allowed: {self.metadata['render_modes']} or None"
            )
        self.max_turns = int(max_turns)
        self.render_mode = render_mode
        self.observation_space = PrintableText(self.MAX_OBSERVATION_CHARS)
        self.action_space = PrintableText(self.MAX_ACTION_CHARS)
        self._started = False
        self._ended = False
        self.task_id: int | None = None
        self.instruction = ""
        self.observation = ""
        self.previous_observation = ""
        self.turn = 0
        self.valid_action_count = 0
        self.invalid_action_count = 0
        self.step_rewards: list[float] = []
        self.won = False
        self._last_valid = True

    # ---- hooks --------------------------------------------------------------------------------

    @property
    def num_tasks(self) -> int | None:
        """How many task ids this world has; None when any id below 2**31 is a task (a seed)."""
        return None

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        """Build task `task_id`; return (instruction, what the agent sees first)."""
        raise NotImplementedError

    def _step_world(self, action: str) -> WorldStep:
        """Carry out one cleaned, non-empty action."""
        raise NotImplementedError

    def _available_actions(self) -> list[str]:
        return []

    def _expert_action(self) -> str | None:
        return None

    def _native_score(self) -> float:
        return float(sum(self.step_rewards))

    def _action_hint(self) -> str:
        return ""

    def _sample_task_id(self, rng: np.random.Generator, options: dict[str, Any]) -> int:
        count = self.num_tasks
        return int(rng.integers(UNBOUNDED_TASKS if count is None else count))

    # ---- gymnasium API --------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        raw_id = options.get("task_id")
        task_id = self._sample_task_id(self.np_random, options) if raw_id is None else self._check_task_id(raw_id)
        instruction, first_view = self._load_task(task_id, np.random.default_rng(task_id))
        self.task_id = task_id
        self.instruction = instruction
        self.turn = 0
        self.valid_action_count = 0
        self.invalid_action_count = 0
        self.step_rewards = []
        self.won = False
        self._last_valid = True
        self._started = True
        self._ended = False
        self.previous_observation = ""
        self.observation = self._fit(f"{instruction}\n{first_view}" if first_view else instruction)
        return self.observation, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if not self._started or self._ended:
            said = "call reset() to start one" if not self._started else "call reset() to start a new one"
            state = "No episode is running" if not self._started else "The episode has ended"
            message = f"{state}; {said}. Nothing happens."
            info = self._info() if self._started else {"valid_action": False, "won": False}
            info["valid_action"] = False
            return message, 0.0, True, False, info

        problem, command = self._vet(action)
        if problem is not None:
            outcome = WorldStep(observation=problem, valid=False)
        else:
            outcome = self._step_world(command)

        self.turn += 1
        self._last_valid = bool(outcome.valid)
        if outcome.valid:
            self.valid_action_count += 1
        else:
            self.invalid_action_count += 1
        reward = float(outcome.reward)
        self.step_rewards.append(reward)
        self.won = self.won or bool(outcome.won)
        self.previous_observation = self.observation
        self.observation = self._fit(outcome.observation)
        terminated = self.won or bool(outcome.done)
        truncated = not terminated and (bool(outcome.truncated) or self.turn >= self.max_turns)
        self._ended = terminated or truncated
        return self.observation, reward, terminated, truncated, self._info()

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.observation
        return None

    # ---- helpers --------------------------------------------------------------------------------

    def _check_task_id(self, raw: Any) -> int:
        count = self.num_tasks
        allowed = (
            f"an integer from 0 to {count - 1}" if count is not None else f"an integer from 0 to {UNBOUNDED_TASKS - 1}"
        )
        task_id: int | None = None
        if isinstance(raw, (int, np.integer)) and not isinstance(raw, bool):
            task_id = int(raw)
        elif isinstance(raw, str) and raw.strip().isdigit():
            task_id = int(raw.strip())
        limit = UNBOUNDED_TASKS if count is None else count
        if task_id is None or not 0 <= task_id < limit:
            raise EnvInputError(f"unknown task_id {raw!r} for {type(self).__name__}; a task id is {allowed}.")
        return task_id

    def _vet(self, action: Any) -> tuple[str | None, str]:
        """Return (an answer explaining why the action is unusable, or None; the cleaned action)."""
        hint = self._action_hint()
        hint = f" {hint}" if hint else ""
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        if not isinstance(action, str):
            return f"{NOTHING_HAPPENS} An action is a string, got {type(action).__name__}.{hint}", ""
        if len(action) > self.MAX_ACTION_CHARS:
            too_long = f"The action was {len(action)} characters long; at most {self.MAX_ACTION_CHARS} are allowed."
            return f"{NOTHING_HAPPENS} {too_long}{hint}", ""
        command = clean_action(action)
        if not command:
            return f"{NOTHING_HAPPENS} The action was empty.{hint}", ""
        return None, command

    def _fit(self, text: str) -> str:
        text = _printable(text)
        if len(text) > self.MAX_OBSERVATION_CHARS:
            note = "\n[observation cut]"
            text = text[: self.MAX_OBSERVATION_CHARS - len(note)] + note
        return text

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "instruction": self.instruction,
            "task_id": self.task_id,
            "available_actions": [] if self._ended else list(self._available_actions()),
            "won": self.won,
            "valid_action": self._last_valid,
            "score": self._native_score(),
            "turn": self.turn,
            "valid_action_count": self.valid_action_count,
            "invalid_action_count": self.invalid_action_count,
            "step_rewards": list(self.step_rewards),
            "previous_observation": self.previous_observation,
        }
        if self.has_expert:
            info["expert_action"] = None if self._ended else self._expert_action()
        return info
