"""ALFWorld-style household games on TextWorld's PDDL engine (`dojo/ALFWorld-v0`)."""

from rldojo.envs.text.alfworld.env import ALFWorldEnv
from rldojo.envs.text.alfworld.games import collect_games, write_alfworld_game
from rldojo.envs.text.alfworld.scenes import TASK_TYPES, Goal, Scene, generate_scene

__all__ = ["ALFWorldEnv", "Goal", "Scene", "TASK_TYPES", "collect_games", "generate_scene", "write_alfworld_game"]
