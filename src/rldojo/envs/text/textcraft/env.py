"""`dojo/TextCraft-v0`: Minecraft-style crafting in text over rldojo's own recipe book.

The first observation lists crafting commands (the goal's whole crafting tree plus distractor
recipes, shuffled) and the goal. Commands:

    get N item                         fetch N of a raw material (items no recipe makes)
    craft N item using N a, N b, ...   run a recipe a whole number of times
    inventory                          list what is held

Reward 1 on the step the goal item is obtained (that also ends the episode); the native `score` is
1.0 once won. Task ids index every craftable item, ordered by depth then name; when no task id is
given, a depth is drawn uniformly from `depths` (or `options["depth"]`), then an item of it.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.protocol import NOTHING_HAPPENS, TextEnv, WorldStep
from rldojo.envs.text.textcraft.planner import plan
from rldojo.envs.text.textcraft.recipes import Recipe, RecipeBook, default_book

_GET = re.compile(r"^get (\d+) (.+)$")
_CRAFT = re.compile(r"^craft (\d+) (.+?) using (.+)$")
_AMOUNT = re.compile(r"^(\d+) (.+)$")
# Far more than any recipe needs; keeps counts small integers.
MAX_AMOUNT = 999
HINT = "Commands: get N item | craft N item using N a, N b | inventory."


class TextCraftEnv(TextEnv):
    """Craft the goal item from raw materials by following (and choosing among) listed recipes."""

    has_expert = True

    def __init__(
        self,
        max_turns: int = 40,
        depths: tuple[int, ...] = (1, 2, 3, 4),
        num_distractors: int = 6,
        render_mode: str | None = None,
    ):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.book: RecipeBook = default_book()
        self.tasks: list[str] = sorted(self.book.recipes, key=lambda item: (self.book.depth[item], item))
        known_depths = sorted({self.book.depth[item] for item in self.tasks})
        depths = tuple(int(d) for d in depths)
        bad = [d for d in depths if d not in known_depths]
        if not depths or bad:
            raise EnvInputError(f"TextCraft depths {depths} are not allowed; choose from {known_depths}")
        if not 0 <= int(num_distractors) <= 50:
            raise EnvInputError(f"num_distractors must be between 0 and 50, got {num_distractors}")
        self.depths = depths
        self.num_distractors = int(num_distractors)
        self.goal = ""
        self.inventory: Counter[str] = Counter()
        self.commands: list[Recipe] = []

    # ---- protocol hooks -----------------------------------------------------------------------

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def _sample_task_id(self, rng: np.random.Generator, options: dict[str, Any]) -> int:
        depth = options.get("depth")
        if depth is None:
            depth = int(rng.choice(self.depths))
        candidates = [i for i, item in enumerate(self.tasks) if self.book.depth[item] == depth]
        if not candidates:
            raise EnvInputError(f"no TextCraft task has depth {depth!r}; depths are 1 to 4")
        return int(rng.choice(candidates))

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        self.goal = self.tasks[task_id]
        self.inventory = Counter()
        needed = self.book.tree(self.goal)
        needed_outputs = {r.output for r in needed}
        others = [r for item, r in sorted(self.book.recipes.items()) if item not in needed_outputs]
        picks = rng.choice(len(others), size=min(self.num_distractors, len(others)), replace=False)
        commands = needed + [others[i] for i in picks]
        self.commands = [commands[i] for i in rng.permutation(len(commands))]
        listing = "\n".join(r.command() for r in self.commands)
        return f"Goal: craft {self.goal}.", f"Crafting commands:\n{listing}"

    def _step_world(self, action: str) -> WorldStep:
        command = action.lower().strip(" .")
        if command in ("inventory", "inv", "check inventory"):
            return WorldStep(self._describe_inventory())
        if match := _GET.match(command):
            return self._get(int(match.group(1)), match.group(2))
        if match := _CRAFT.match(command):
            return self._craft(int(match.group(1)), match.group(2), match.group(3))
        return WorldStep(f"{NOTHING_HAPPENS} {HINT}", valid=False)

    def _available_actions(self) -> list[str]:
        actions = {"inventory"}
        for recipe in self.commands:
            for item, n in recipe.ingredients:
                if item in self.book.raw_materials:
                    actions.add(f"get {n} {item}")
            if all(self.inventory[item] >= n for item, n in recipe.ingredients):
                actions.add(recipe.command())
        return sorted(actions)

    def _expert_action(self) -> str | None:
        steps = plan(self.book, self.goal, self.inventory)
        return steps[0] if steps else None

    def _native_score(self) -> float:
        return 1.0 if self.won else 0.0

    def _action_hint(self) -> str:
        return HINT

    # ---- commands -----------------------------------------------------------------------------

    def _item(self, name: str) -> str | None:
        """The book's name for `name` (case, `minecraft:`, underscores, brackets, plural `s`)."""
        name = name.lower().replace("minecraft:", "").replace("_", " ").strip(" []().")
        name = " ".join(name.split())
        singular_or_plural = name[:-1] if name.endswith("s") else name + "s"
        for candidate in (name, singular_or_plural, name[:-2] if name.endswith("es") else ""):
            if candidate in self.book.items:
                return candidate
        return None

    def _get(self, amount: int, name: str) -> WorldStep:
        item = self._item(name)
        if item is None:
            return WorldStep(f"Could not find {name}.", valid=False)
        if item not in self.book.raw_materials:
            return WorldStep(f"Could not find {item} to get; it is crafted, not a raw material.", valid=False)
        if not 1 <= amount <= MAX_AMOUNT:
            return WorldStep(f"Could not get {amount} {item}; get between 1 and {MAX_AMOUNT} at a time.", valid=False)
        self.inventory[item] += amount
        return WorldStep(f"Got {amount} {item}.")

    def _craft(self, amount: int, name: str, using: str) -> WorldStep:
        item = self._item(name)
        recipe = self.book.recipes.get(item) if item else None
        wrong = WorldStep(f"Could not find a valid recipe for {amount} {name} using {using}.", valid=False)
        if recipe is None or amount < 1 or amount > MAX_AMOUNT or amount % recipe.count:
            return wrong
        batches = amount // recipe.count
        given: Counter[str] = Counter()
        for part in using.split(","):
            match = _AMOUNT.match(part.strip())
            ingredient = self._item(match.group(2)) if match else None
            if ingredient is None:
                return wrong
            given[ingredient] += int(match.group(1))
        if given != Counter({i: n * batches for i, n in recipe.ingredients}):
            return wrong
        short = [f"{n - self.inventory[i]} more {i}" for i, n in sorted(given.items()) if self.inventory[i] < n]
        if short:
            need = ", ".join(short)
            return WorldStep(f"Could not find enough items to craft {amount} {item}: need {need}.", valid=False)
        self.inventory -= given
        self.inventory[item] += amount
        won = item == self.goal
        return WorldStep(f"Crafted {amount} {item}.", reward=1.0 if won else 0.0, won=won)

    def _describe_inventory(self) -> str:
        held = [f"{n} {item}" for item, n in sorted(self.inventory.items()) if n > 0]
        return "Inventory: " + (", ".join(held) if held else "empty") + "."
