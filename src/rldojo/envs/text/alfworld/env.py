"""`dojo/ALFWorld-v0`: ALFWorld-style household games, played offline on TextWorld's PDDL engine.

Two sources of games:

- `generated` (default): rldojo generates the scene of each task id (kitchens, living rooms,
  bedrooms, bathrooms with their receptacles and objects; `scenes.py`) for one of ALFWorld's six
  task types, and TextWorld's PDDL engine plays it with rldojo's domain and grammar (`data/`).
  Any task id below 2**31 is a task; task type = `task_types[task_id % len(task_types)]`.
- `alfworld`: ALFWorld's own game files where they are present (`data_path` or `$ALFWORLD_DATA`),
  the split `train`, `valid_seen` or `valid_unseen`; task ids index the split's games.

The first observation is the task sentence ("Your task is to: put a clean mug in coffeemachine.")
then what the agent sees ("You are in the middle of a room. Looking quickly around you, you see
..."). Commands are ALFWorld's: go to X, open X, close X, take X from Y, put X in/on Y, use X,
heat / cool / clean X with Y, examine X, look, inventory, help (also accepted: "put X in Y",
"put X on Y", "move X to Y"). `available_actions` lists the admissible commands; any other
command is answered "Nothing happens." Reward 1 on the step that completes the goal (`won`).
The expert (`expert.py`) plans from the engine's state every turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.alfworld.engine import HouseholdGame
from rldojo.envs.text.alfworld.expert import expert_command
from rldojo.envs.text.alfworld.games import GameFile, collect_games, data_root
from rldojo.envs.text.alfworld.scenes import TASK_TYPES, Goal, Scene, generate_scene, grammar_text, instruction_for
from rldojo.envs.text.protocol import NOTHING_HAPPENS, TextEnv, WorldStep

SOURCES = ("generated", "alfworld")
HINT = (
    "Commands: go to X | open X | close X | take X from Y | put X in/on Y | use X | heat X with Y | "
    "cool X with Y | clean X with Y | examine X | look | inventory."
)
_PUT = re.compile(r"^(?:put|place|move) (.+?) (?:in/on|into|in|on|onto|to) (.+)$")
_TASK_LINE = re.compile(r"\n*Your task is to: .*$", re.S)


def _task_types(raw: Sequence[str | int] | str | int | None) -> tuple[str, ...]:
    if raw is None:
        return TASK_TYPES
    items = [raw] if isinstance(raw, (str, int)) else list(raw)
    chosen = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 1 <= int(item) <= 6:
            chosen.append(TASK_TYPES[int(item) - 1])
        elif isinstance(item, str) and item in TASK_TYPES:
            chosen.append(item)
        else:
            allowed = ", ".join(f"{i + 1}={name}" for i, name in enumerate(TASK_TYPES))
            raise EnvInputError(f"unknown ALFWorld task type {item!r}; allowed (name or ALFWorld's id): {allowed}")
    if not chosen:
        raise EnvInputError("task_types is empty; name at least one of " + ", ".join(TASK_TYPES))
    return tuple(dict.fromkeys(chosen))


class ALFWorldEnv(TextEnv):
    """ALFWorld's household tasks as a text world (see the module docstring)."""

    has_expert = True

    def __init__(
        self,
        max_turns: int = 50,
        task_types: Sequence[str | int] | str | int | None = None,
        source: str = "generated",
        data_path: str | None = None,
        split: str = "train",
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        if source not in SOURCES:
            raise EnvInputError(f"unknown ALFWorld source {source!r}; allowed: {', '.join(SOURCES)}")
        self.task_types = _task_types(task_types)
        self.source = source
        self.split = split
        self.games: list[GameFile] = []
        if source == "alfworld":
            root = data_root(data_path)
            self.games = collect_games(root, split, self.task_types)
            if not self.games:
                raise EnvInputError(
                    f"no playable ALFWorld games of types {list(self.task_types)} in split "
                    f"{split!r} under {str(root)!r}"
                )
        self.game = HouseholdGame()
        self.goal: Goal | None = None
        self.scene: Scene | None = None
        self._admissible: list[str] = []
        self._expert_cache: tuple[int, str | None] | None = None

    # ---- protocol hooks -----------------------------------------------------------------------

    @property
    def num_tasks(self) -> int | None:
        return len(self.games) if self.source == "alfworld" else None

    def _sample_task_id(self, rng: np.random.Generator, options: dict[str, Any]) -> int:
        wanted = options.get("task_type")
        if wanted is None or self.source == "alfworld":
            task_id = super()._sample_task_id(rng, options)
            if wanted is None:
                return task_id
            kind = _task_types(wanted)[0]
            matching = [i for i, g in enumerate(self.games) if g.goal.task_type == kind]
            if not matching:
                raise EnvInputError(f"no game of task type {kind!r} in this env's task types {list(self.task_types)}")
            return int(rng.choice(matching))
        kind = _task_types(wanted)[0]
        if kind not in self.task_types:
            raise EnvInputError(f"task type {kind!r} is not among this env's task types {list(self.task_types)}")
        n = len(self.task_types)
        return int(rng.integers((2**31 - 1) // n)) * n + self.task_types.index(kind)

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        if self.source == "alfworld":
            game_file = self.games[task_id]
            game = game_file.load()
            self.goal = game_file.goal
            sentence = instruction_for(self.goal, int(rng.integers(2)))
            game = dict(game, grammar=game["grammar"].replace("UNKNOWN GOAL", sentence))
            self.scene = None
        else:
            self.scene = generate_scene(task_id, self.task_types)
            self.goal = self.scene.goal
            sentence = self.scene.instruction
            # The grammar with its task line left open is shared by every generated game (parsed once).
            game = dict(self.scene.game(), grammar=grammar_text())
        self.game.load(game)
        intro, self._admissible = self.game.reset()
        if self.game.won:  # scenes are generated never to start won; a real game could be broken
            raise RuntimeError(f"ALFWorld task {task_id} starts with its goal achieved; its game is broken")
        self._expert_cache = None
        view = _TASK_LINE.sub("", intro.split("=-", 1)[-1]).strip()
        return f"Your task is to: {sentence}.", view

    def _step_world(self, action: str) -> WorldStep:
        command = self._admissible_form(action)
        if command is None:
            return WorldStep(NOTHING_HAPPENS, valid=False)
        feedback, won, self._admissible = self.game.step(command)
        self._expert_cache = None
        return WorldStep(feedback, reward=1.0 if won else 0.0, won=won)

    def _available_actions(self) -> list[str]:
        return list(self._admissible)

    def _expert_action(self) -> str | None:
        if self._expert_cache is None or self._expert_cache[0] != self.turn:
            command = expert_command(self.game.facts(), self.goal, self.game.names) if self.goal else None
            self._expert_cache = (self.turn, self._admissible_form(command) if command else None)
        return self._expert_cache[1]

    def _native_score(self) -> float:
        return 1.0 if self.won else 0.0

    def _action_hint(self) -> str:
        return HINT

    def close(self) -> None:
        self.game.close()
        super().close()

    # ---- helpers ------------------------------------------------------------------------------

    def _admissible_form(self, action: str) -> str | None:
        """The admissible command an action means (case, final period and ALFWorld's older and
        newer put forms forgiven), or None."""
        command = " ".join(action.lower().strip().rstrip(".!").split())
        if command in self._admissible:
            return command
        if match := _PUT.match(command):
            candidate = f"put {match.group(1)} in/on {match.group(2)}"
            if candidate in self._admissible:
                return candidate
        place = command[len("go to ") :] if command.startswith("go to ") else ""
        # A bare number ("go to 1") names no receptacle; it must not pick the first that ends in it.
        if any(c.isalpha() for c in place):
            # Real ALFWorld games list every receptacle of a location in one "go to" command.
            for option in self._admissible:
                if option.startswith("go to ") and re.search(rf"(^|[ ,]){re.escape(place)}($|[ ,])", option[6:]):
                    return option
        return None
