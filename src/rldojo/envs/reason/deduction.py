"""`dojo/Deduction-v0`: program synthesis from a statement with examples, judged on hidden tests.

The program is the last ```python block of the reply (after <think> blocks are removed); it runs
in the sandbox once per hidden test, stdin in, stdout compared (CRLF and trailing whitespace
normalised). Reward 1 iff every test passes; with `partial_credit=True` the reward is the
fraction passed (success still needs every test). Without partial credit the tests stop at the
first failure. Under the sandbox's rlimits fallback (no bubblewrap) a program can read the host's
files, the task file with its hidden tests included: the env warns once when answers run so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from loguru import logger

from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.answers import last_python_block, outputs_match
from rldojo.envs.reason.base import Grade, ReasoningEnv
from rldojo.envs.reason.programs import load_tasks, sandbox_config
from rldojo.envs.reason.tasks import DeductionTask, IOCase, load_deduction_jsonl, load_hf_deduction, shipped_deduction
from rldojo.sandbox import SandboxConfig, SandboxPool, SandboxResult, run_program

INSTRUCTIONS = """

Write a complete Python 3 program that reads all input from standard input and prints only the \
required answer to standard output (no prompts, no debug text). Give the program as one \
```python fenced block; the last such block in your answer is the one that is run."""


def reference_answer(task: DeductionTask) -> str | None:
    return f"```python\n{task.solution.rstrip()}\n```" if task.solution else None


_warned_about_files = False


def _passes(result: SandboxResult, case: IOCase) -> bool:
    return result.ok and outputs_match(result.stdout, case.output)


def _warn_if_files_are_visible(result: SandboxResult) -> None:
    global _warned_about_files
    if not result.isolation.read_only_root and not _warned_about_files:
        _warned_about_files = True
        logger.warning(
            "Deduction answers run without filesystem isolation ({}): a program can read the task file "
            "and print the hidden tests' outputs. Install bubblewrap (apt-get install bubblewrap) for "
            "rewards that cannot be gamed this way.",
            result.isolation,
        )


class DeductionEnv(ReasoningEnv):
    """Write a program that passes the hidden tests."""

    def __init__(
        self,
        jsonl: str | None = None,
        hf_dataset: str | None = None,
        hf_split: str = "train",
        hf_config: str | None = None,
        hf_cache_dir: str | None = None,
        partial_credit: bool = False,
        test_workers: int = 1,
        sandbox: dict[str, Any] | SandboxConfig | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        hf_args = (hf_split, hf_config, hf_cache_dir)
        self.tasks: tuple[DeductionTask, ...] = load_tasks(
            jsonl, hf_dataset, hf_args, load_deduction_jsonl, load_hf_deduction, shipped_deduction
        )
        if not isinstance(test_workers, int) or not 1 <= test_workers <= 64:
            raise EnvInputError(f"test_workers must be an integer from 1 to 64, got {test_workers!r}")
        self.partial_credit = bool(partial_credit)
        self.sandbox = sandbox_config(sandbox)
        # With several workers the tests of one answer run in parallel (all of them).
        self._pool = SandboxPool(test_workers, self.sandbox) if test_workers > 1 else None
        self.task: DeductionTask | None = None

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        self.task = self.tasks[task_id]
        self._reference = reference_answer(self.task) or ""
        return self.task.problem.rstrip() + INSTRUCTIONS, ""

    def _run_tests(self, program: str) -> list[bool]:
        assert self.task is not None
        tests = self.task.tests
        if self._pool is not None:
            results = self._pool.map([(program, case.input) for case in tests])
            _warn_if_files_are_visible(results[0])
            return [_passes(result, case) for result, case in zip(results, tests)]
        passed = []
        for case in tests:
            result = run_program(program, case.input, self.sandbox)
            _warn_if_files_are_visible(result)
            passed.append(_passes(result, case))
            if not passed[-1] and not self.partial_credit:
                break
        return passed

    def _grade(self, reply: str) -> Grade:
        assert self.task is not None
        program = last_python_block(reply)
        total = len(self.task.tests)
        if program is None:
            return Grade(
                0.0, False, "No ```python block found in the answer.", {"tests_passed": 0, "tests_total": total}
            )
        passed = self._run_tests(program)
        count = sum(passed)
        details = {"tests_passed": count, "tests_total": total}
        if count == total:
            return Grade(1.0, True, f"Correct: all {total} hidden tests pass.", details)
        reward = count / total if self.partial_credit else 0.0
        first_failure = passed.index(False) + 1
        return Grade(reward, True, f"Wrong: hidden test {first_failure} of {total} fails ({count} passed).", details)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        super().close()
