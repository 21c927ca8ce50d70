"""rldojo: one lab for reinforcement learning, from CartPole to language-model agents."""

from rldojo.version import __version__

# Registers rldojo's gymnasium ids ("dojo/<Name>-v0") so `gymnasium.make` finds them.
import rldojo.envs  # noqa: E402,F401

__all__ = ["__version__"]
