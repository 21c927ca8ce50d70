"""rldojo: one lab for reinforcement learning, from CartPole to language-model agents.

The Python API (`rldojo.api`, loaded on first use so `import rldojo` stays cheap):

    run = rldojo.train("classic/ppo_cartpole", overrides=["meta.sessions=1"])
    agent = rldojo.load(run)
    action, _ = agent.predict(obs)
    rldojo.evaluate(agent, episodes=20)
"""

import importlib
import sys
import types
from typing import Any

from loguru import logger

# A library writes no logs unless the application asks: loguru's default handler would print
# rldojo's DEBUG lines to stderr. The CLI enables them (rldojo.track.log), as may any application
# with `logger.enable("rldojo")`.
logger.disable("rldojo")

# Registers rldojo's gymnasium ids ("dojo/<Name>-v0") so `gymnasium.make` finds them.
import rldojo.envs  # noqa: E402,F401
from rldojo.version import __version__  # noqa: E402

#: Names of the public API, imported from rldojo.api when first used (it pulls in torch and the trainers).
_API = ("train", "load", "Run", "Policy", "LMPolicy", "Callback", "StopTraining")

__all__ = ["__version__", "UserError", "evaluate", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        import rldojo.api

        return getattr(rldojo.api, name)
    if name == "UserError":
        from rldojo.errors import UserError

        return UserError
    raise AttributeError(f"module 'rldojo' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _CallableModule(types.ModuleType):
    """The subpackage `rldojo.evaluate`, callable as the API's `rldojo.evaluate(agent, ...)`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from rldojo.api import evaluate

        return evaluate(*args, **kwargs)


class _Package(types.ModuleType):
    """`rldojo.evaluate` is both the subpackage (rldojo.evaluate.play, ...) and the API's function.

    Importing a subpackage sets it as an attribute of its parent, which would hide a function of
    that name; so the name is a property: it hands out the subpackage, made callable."""

    @property
    def evaluate(self) -> Any:
        # Loaded on first use (it imports scipy); import_module, as `import rldojo.evaluate as x`
        # would read this very property.
        package = importlib.import_module("rldojo.evaluate")
        if not isinstance(package, _CallableModule):
            package.__class__ = _CallableModule
        return package

    @evaluate.setter
    def evaluate(self, value: Any) -> None:  # the import system setting the subpackage: nothing to keep
        pass


sys.modules[__name__].__class__ = _Package
