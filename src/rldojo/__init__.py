"""rldojo: one lab for reinforcement learning, from CartPole to language-model agents."""

from loguru import logger

# A library writes no logs unless the application asks: loguru's default handler would print
# rldojo's DEBUG lines to stderr. The CLI enables them (rldojo.track.log), as may any application
# with `logger.enable("rldojo")`.
logger.disable("rldojo")

# Registers rldojo's gymnasium ids ("dojo/<Name>-v0") so `gymnasium.make` finds them.
import rldojo.envs  # noqa: E402,F401
from rldojo.version import __version__  # noqa: E402

__all__ = ["__version__"]
