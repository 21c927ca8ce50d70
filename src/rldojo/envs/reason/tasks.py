"""Program tasks: the shipped sets, a user's JSONL, and Hugging Face datasets in the rl-python
layout. Every source becomes the same two record types.

Abduction rows: `program`, the stdin in `input` (or `inputs`), the printed text in `output` (or
`outputs`). Deduction rows: the statement in `problem` (or `prompt`, `question`), the tests in
`tests` (or `test_cases`, `verification_info`): a list, or JSON text, of {"input", "output"}
objects, or an object holding such a list under "test_cases"; tests of another `type` than
stdin_stdout are skipped. An optional reference program: `solution` (or `program`, `reference`).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from loguru import logger

from rldojo.envs.errors import EnvInputError

DATA_DIR = Path(__file__).with_name("data")
SHIPPED_ABDUCTION = DATA_DIR / "abduction.jsonl"
SHIPPED_DEDUCTION = DATA_DIR / "deduction.jsonl"

_PROGRAM_KEYS = ("program",)
_INPUT_KEYS = ("input", "inputs")
_OUTPUT_KEYS = ("output", "outputs", "expected_output")
_PROBLEM_KEYS = ("problem", "prompt", "question")
_TESTS_KEYS = ("tests", "test_cases", "verification_info")
_SOLUTION_KEYS = ("solution", "reference", "program")


@dataclass(frozen=True)
class AbductionTask:
    """A program and what it printed; the reference answer is the stdin that produced it."""

    program: str
    input: str
    output: str
    name: str = ""


@dataclass(frozen=True)
class IOCase:
    input: str
    output: str


@dataclass(frozen=True)
class DeductionTask:
    """A problem statement (with examples) and hidden tests; `solution` is a reference program."""

    problem: str
    tests: tuple[IOCase, ...]
    solution: str | None = None
    name: str = ""


def _as_text(value: Any) -> str:
    """Stdin/stdout payloads may be stored as strings, lists of lines or numbers."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(_as_text(item) for item in value)
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def _pick(row: Mapping[str, Any], keys: tuple[str, ...], where: str, required: bool = True) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    if required:
        raise EnvInputError(
            f"{where}: missing field; expected one of {', '.join(keys)} (found {', '.join(map(str, row)) or 'no fields'})"
        )
    return None


def abduction_task(row: Mapping[str, Any], where: str) -> AbductionTask:
    if not isinstance(row, Mapping):
        raise EnvInputError(f"{where}: an abduction task is a JSON object, got {type(row).__name__}")
    program = _pick(row, _PROGRAM_KEYS, where)
    if not isinstance(program, str) or not program.strip():
        raise EnvInputError(f"{where}: 'program' must be non-empty Python source text")
    return AbductionTask(
        program=program,
        input=_as_text(_pick(row, _INPUT_KEYS, where)),
        output=_as_text(_pick(row, _OUTPUT_KEYS, where)),
        name=str(row.get("name", row.get("id", ""))),
    )


def _parse_tests(raw: Any, where: str) -> tuple[IOCase, ...]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            try:
                raw = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                raise EnvInputError(f"{where}: tests are neither JSON nor a Python literal") from None
    if isinstance(raw, Mapping):
        raw = raw.get("test_cases", raw.get("tests"))
    if not isinstance(raw, (list, tuple)):
        raise EnvInputError(f"{where}: tests must be a list of {{'input': ..., 'output': ...}} objects")
    tests = []
    for case in raw:
        if not isinstance(case, Mapping) or "input" not in case or "output" not in case:
            raise EnvInputError(f"{where}: each test needs 'input' and 'output', got {case!r:.200}")
        if case.get("type", "stdin_stdout") != "stdin_stdout":
            continue
        tests.append(IOCase(_as_text(case["input"]), _as_text(case["output"])))
    return tuple(tests)


def deduction_task(row: Mapping[str, Any], where: str) -> DeductionTask:
    if not isinstance(row, Mapping):
        raise EnvInputError(f"{where}: a deduction task is a JSON object, got {type(row).__name__}")
    problem = _pick(row, _PROBLEM_KEYS, where)
    if not isinstance(problem, str) or not problem.strip():
        raise EnvInputError(f"{where}: the problem statement must be non-empty text")
    tests = _parse_tests(_pick(row, _TESTS_KEYS, where), where)
    if not tests:
        raise EnvInputError(f"{where}: no stdin/stdout tests (tests of other types are skipped)")
    solution = _pick(row, _SOLUTION_KEYS, where, required=False)
    return DeductionTask(
        problem=problem,
        tests=tests,
        solution=solution if isinstance(solution, str) and solution.strip() else None,
        name=str(row.get("name", row.get("id", ""))),
    )


def read_jsonl(path: str | Path) -> Iterable[tuple[dict, str]]:
    """(row, 'file:line') for each non-blank line of a JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise EnvInputError(f"task file '{path}' does not exist (expected a JSONL file, one task per line)")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield json.loads(line), where
            except json.JSONDecodeError as exc:
                raise EnvInputError(f"{where}: not valid JSON ({exc.msg})") from None


def load_abduction_jsonl(path: str | Path) -> list[AbductionTask]:
    tasks = [abduction_task(row, where) for row, where in read_jsonl(path)]
    if not tasks:
        raise EnvInputError(f"task file '{path}' holds no tasks")
    return tasks


def load_deduction_jsonl(path: str | Path) -> list[DeductionTask]:
    tasks = [deduction_task(row, where) for row, where in read_jsonl(path)]
    if not tasks:
        raise EnvInputError(f"task file '{path}' holds no tasks")
    return tasks


def _hf_rows(name_or_path: str, split: str, config: str | None, cache_dir: str | None) -> Iterable[tuple[dict, str]]:
    try:
        import datasets
    except ImportError:
        raise EnvInputError(
            "loading a Hugging Face dataset needs the `datasets` package: pip install 'rldojo[reason]'"
        ) from None
    try:
        rows = datasets.load_dataset(name_or_path, name=config, split=split, cache_dir=cache_dir)
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds (missing files, offline, bad split)
        raise EnvInputError(
            f"could not load Hugging Face dataset '{name_or_path}' (split '{split}'): {exc}. Use a local "
            "dataset folder or one already in the cache (rldojo never downloads at run time)."
        ) from None
    for index, row in enumerate(rows):
        yield row, f"{name_or_path}[{split}][{index}]"


def load_hf_abduction(
    name_or_path: str, split: str = "train", config: str | None = None, cache_dir: str | None = None
) -> list[AbductionTask]:
    """Abduction tasks from a dataset (a local folder, or a name already in the cache) with
    program / inputs / output columns."""
    tasks = [abduction_task(row, where) for row, where in _hf_rows(name_or_path, split, config, cache_dir)]
    if not tasks:
        raise EnvInputError(f"dataset '{name_or_path}' split '{split}' holds no rows")
    return tasks


def load_hf_deduction(
    name_or_path: str, split: str = "train", config: str | None = None, cache_dir: str | None = None
) -> list[DeductionTask]:
    """Deduction tasks from a dataset with problem / tests columns; rows without stdin/stdout
    tests are skipped (with a warning), as the rl-python layout also holds function-call tests."""
    tasks, skipped = [], 0
    for row, where in _hf_rows(name_or_path, split, config, cache_dir):
        try:
            tasks.append(deduction_task(row, where))
        except EnvInputError as exc:
            if "no stdin/stdout tests" not in str(exc):
                raise
            skipped += 1
    if skipped:
        logger.warning("{}: skipped {} rows without stdin/stdout tests", name_or_path, skipped)
    if not tasks:
        raise EnvInputError(f"dataset '{name_or_path}' split '{split}' holds no usable rows")
    return tasks


@cache
def shipped_abduction() -> tuple[AbductionTask, ...]:
    return tuple(load_abduction_jsonl(SHIPPED_ABDUCTION))


@cache
def shipped_deduction() -> tuple[DeductionTask, ...]:
    return tuple(load_deduction_jsonl(SHIPPED_DEDUCTION))
