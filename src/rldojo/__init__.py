"""rldojo: one lab for reinforcement learning, from CartPole to language-model agents."""

# Registers rldojo's gymnasium ids ("dojo/<Name>-v0") so `gymnasium.make` finds them.
import rldojo.envs  # noqa: E402,F401
from rldojo.version import __version__

__all__ = ["__version__"]
