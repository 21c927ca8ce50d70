"""Text worlds: the `TextEnv` protocol, reward shaping, and rldojo's built-in worlds.

`register_envs()` registers each world's gymnasium id (`dojo/<Name>-v0`); it runs on
`import rldojo` through `rldojo.envs.registry._WORLD_MODULES`.
"""

from rldojo.envs.registry import register_dojo_env
from rldojo.envs.text.babyai import LEVELS as BABYAI_LEVELS
from rldojo.envs.text.protocol import NOTHING_HAPPENS, PrintableText, TextEnv, WorldStep, clean_action
from rldojo.envs.text.shaping import ShapedReward, ShapingConfig, native_rewards, task_keywords


def register_envs() -> None:
    """Register every built-in text world's gymnasium id (entry points load lazily)."""
    register_dojo_env("dojo/TextCraft-v0", "rldojo.envs.text.textcraft.env:TextCraftEnv")
    for level in BABYAI_LEVELS:
        entry = "rldojo.envs.text.babyai.env:BabyAITextEnv"
        register_dojo_env(f"dojo/BabyAI-{level}-v0", entry, kwargs={"level": level})
    register_dojo_env("dojo/WebShop-v0", "rldojo.envs.text.webshop.env:WebShopEnv")
    register_dojo_env("dojo/ALFWorld-v0", "rldojo.envs.text.alfworld.env:ALFWorldEnv")
    register_dojo_env("dojo/SciWorld-v0", "rldojo.envs.text.sciworld:SciWorldEnv")
    register_dojo_env("dojo/Mixture-v0", "rldojo.envs.text.mixture:MixtureEnv")


__all__ = [
    "NOTHING_HAPPENS",
    "PrintableText",
    "ShapedReward",
    "ShapingConfig",
    "TextEnv",
    "WorldStep",
    "clean_action",
    "native_rewards",
    "register_envs",
    "task_keywords",
]
