"""Read a JSON object from a result file, answering empty, truncated or NaN-holding files clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rldojo.evaluate.errors import EvaluationError


class _NonFiniteConstant(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _reject_constant(name: str) -> Any:
    raise _NonFiniteConstant(name)


def read_json_object(path: Path, kind: str, remedy: str) -> dict[str, Any]:
    """The JSON object in `path` (a `kind` file, e.g. "eval.json"); `remedy` says how to fix a bad one."""
    if not path.is_file():
        raise EvaluationError(f"{path}: no such {kind} file. {remedy}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{path} cannot be read as UTF-8 text ({error}). {remedy}") from None
    if not text.strip():
        raise EvaluationError(f"{path} is empty; was the run or evaluation interrupted? {remedy}")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except _NonFiniteConstant as constant:
        raise EvaluationError(
            f"{path} holds {constant.name}; {kind} files store undefined numbers as null, and a "
            f"NaN score cannot be compared. {remedy}"
        ) from None
    except json.JSONDecodeError as error:
        body = text.rstrip()
        truncated = error.pos >= len(body) or not body.endswith("}")
        cut = " It looks truncated (cut off before its end)." if truncated else ""
        raise EvaluationError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.{cut} {remedy}"
        ) from None
    if not isinstance(data, dict):
        raise EvaluationError(f"{path} holds a JSON {type(data).__name__}; {kind} files hold an object. {remedy}")
    return data


def describe_validation(error: ValidationError, limit: int = 8) -> str:
    """One indented line per problem: the field path and what is wrong with it."""
    lines = []
    for problem in error.errors()[:limit]:
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    if error.error_count() > limit:
        lines.append(f"  ... and {error.error_count() - limit} more")
    return "\n".join(lines)
