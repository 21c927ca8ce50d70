"""The one error evaluation raises for input it cannot turn into a trustworthy number."""

from __future__ import annotations

from rldojo.errors import UserError


class EvaluationError(UserError, ValueError):
    """NaN or missing scores, no episodes, a bad level, an empty or malformed result file.

    A UserError (the CLI answers with exit code 2) and a ValueError (library callers that pass bad
    arguments get the exception they expect).
    """
