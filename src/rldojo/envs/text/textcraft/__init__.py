"""TextCraft: Minecraft-style crafting in text, over a recipe book that ships with rldojo."""

from rldojo.envs.text.textcraft.env import TextCraftEnv
from rldojo.envs.text.textcraft.planner import plan
from rldojo.envs.text.textcraft.recipes import Recipe, RecipeBook, default_book

__all__ = ["Recipe", "RecipeBook", "TextCraftEnv", "default_book", "plan"]
