"""Text worlds: the `TextEnv` protocol, reward shaping, and rldojo's built-in worlds.

`register_envs()` registers each world's gymnasium id (`dojo/<Name>-v0`); it runs on
`import rldojo` through `rldojo.envs.registry._WORLD_MODULES`.
"""

from rldojo.envs.text.protocol import NOTHING_HAPPENS, PrintableText, TextEnv, WorldStep, clean_action
from rldojo.envs.text.shaping import ShapedReward, ShapingConfig, task_keywords

__all__ = [
    "NOTHING_HAPPENS",
    "PrintableText",
    "ShapedReward",
    "ShapingConfig",
    "TextEnv",
    "WorldStep",
    "clean_action",
    "task_keywords",
]
