"""TextCraft's expert: a planner that derives the commands still needed from the inventory.

It replans from the current inventory on every call, so it recovers from any detour an agent took.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from rldojo.envs.text.textcraft.recipes import RecipeBook


def plan(book: RecipeBook, goal: str, inventory: Mapping[str, int], amount: int = 1) -> list[str]:
    """The commands that turn `inventory` into one holding `amount` of `goal` (empty if it does)."""
    available = Counter(inventory)
    actions: list[str] = []

    def obtain(item: str, needed: int) -> None:
        # Reserve `needed` of `item`: use what is held, fetch or craft the rest.
        held = min(available[item], needed)
        available[item] -= held
        missing = needed - held
        if missing == 0:
            return
        recipe = book.recipes.get(item)
        if recipe is None:
            actions.append(f"get {missing} {item}")
            return
        batches = math.ceil(missing / recipe.count)
        for ingredient, per_batch in recipe.ingredients:
            obtain(ingredient, per_batch * batches)
        used = ", ".join(f"{per_batch * batches} {ingredient}" for ingredient, per_batch in recipe.ingredients)
        actions.append(f"craft {recipe.count * batches} {item} using {used}")
        available[item] += recipe.count * batches - missing

    obtain(goal, amount)
    return actions
