"""Errors that reach the user as one clear paragraph and exit code 2 (bad input), never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: a wrong spec, a missing file, an unknown id. The CLI exits with 2."""

    exit_code = 2


class SpecError(UserError):
    """A spec that cannot be loaded or does not validate."""


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, truncated or from another spec."""
