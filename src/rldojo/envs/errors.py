"""Env-layer errors. `envs/` imports nothing else of rldojo, so the CLI maps these to exit code 2."""

from __future__ import annotations


class EnvInputError(ValueError):
    """An env id, env argument or action that the user got wrong (exit code 2 at the CLI)."""
