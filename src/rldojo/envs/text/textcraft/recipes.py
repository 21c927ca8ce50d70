"""TextCraft's recipe book: parse the shipped `recipes.txt`, item depths, crafting trees.

Depth of a raw material (an item no recipe makes) is 0; of a crafted item, 1 + the deepest of its
ingredients. Every item has exactly one recipe, so an item's crafting tree is well defined.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

_LINE = re.compile(r"^(\d+) (.+?) <- (.+)$")
_PART = re.compile(r"^(\d+) (.+)$")


@dataclass(frozen=True)
class Recipe:
    """`count` of `output` from the given ingredient amounts."""

    output: str
    count: int
    ingredients: tuple[tuple[str, int], ...]

    def command(self) -> str:
        """The crafting command that runs this recipe once."""
        used = ", ".join(f"{n} {item}" for item, n in self.ingredients)
        return f"craft {self.count} {self.output} using {used}"


class RecipeBook:
    """All recipes, the raw materials, and each item's crafting depth."""

    def __init__(self, recipes: list[Recipe]):
        self.recipes: dict[str, Recipe] = {}
        for recipe in recipes:
            if recipe.output in self.recipes:
                raise ValueError(f"two recipes make '{recipe.output}'")
            self.recipes[recipe.output] = recipe
        used = {item for r in recipes for item, _ in r.ingredients}
        self.raw_materials: frozenset[str] = frozenset(used - set(self.recipes))
        self.items: frozenset[str] = frozenset(used | set(self.recipes))
        self.depth: dict[str, int] = {}
        for item in sorted(self.items):
            self._depth_of(item, ())

    def _depth_of(self, item: str, path: tuple[str, ...]) -> int:
        if item in self.depth:
            return self.depth[item]
        if item in path:
            raise ValueError(f"recipe cycle through '{item}': {' -> '.join(path + (item,))}")
        recipe = self.recipes.get(item)
        depth = 0 if recipe is None else 1 + max(self._depth_of(i, path + (item,)) for i, _ in recipe.ingredients)
        self.depth[item] = depth
        return depth

    def tree(self, item: str) -> list[Recipe]:
        """The recipes needed to make `item` from raw materials, deepest ingredients first."""
        seen: dict[str, Recipe] = {}

        def visit(name: str) -> None:
            recipe = self.recipes.get(name)
            if recipe is None or name in seen:
                return
            for ingredient, _ in recipe.ingredients:
                visit(ingredient)
            seen[name] = recipe

        visit(item)
        return list(seen.values())


def parse_recipes(text: str) -> list[Recipe]:
    """Parse `<count> <output> <- <count> <item>, ...` lines; `#` starts a comment."""
    recipes = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"recipes line {number} is not '<count> <output> <- <count> <item>, ...': {raw!r}")
        parts = []
        for part in match.group(3).split(","):
            amount = _PART.match(part.strip())
            if amount is None:
                raise ValueError(f"recipes line {number}: ingredient {part.strip()!r} is not '<count> <item>'")
            parts.append((amount.group(2), int(amount.group(1))))
        recipes.append(Recipe(output=match.group(2), count=int(match.group(1)), ingredients=tuple(parts)))
    return recipes


@functools.cache
def default_book() -> RecipeBook:
    """The recipe book that ships with rldojo."""
    text = resources.files(__package__).joinpath("recipes.txt").read_text(encoding="utf-8")
    return RecipeBook(parse_recipes(text))
