"""Builds the shipped task sets (`../data/*.jsonl`) from rldojo's own templates and families.

Candidates (programs, inputs, statements, reference solutions) are a pure function of the seed;
expected outputs come from running the reference programs in the sandbox. An abduction candidate
that an answer ignoring the program solves (`content_free_inputs`: the output copied back, an
empty input, ...) is left out, and the next candidate of its template takes its place. Rebuild
with `python -m rldojo.envs.reason.build`; tests check the shipped files against the candidates.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from rldojo.envs.reason.abduction import content_free_inputs
from rldojo.envs.reason.answers import outputs_match
from rldojo.envs.reason.build.abduction_templates import TEMPLATES
from rldojo.envs.reason.build.deduction_families import FAMILIES
from rldojo.envs.reason.tasks import SHIPPED_ABDUCTION, SHIPPED_DEDUCTION, AbductionTask
from rldojo.sandbox import SandboxConfig, SandboxPool

VARIANTS_PER_TEMPLATE = 9
# Candidates drawn per template: more than are shipped, as those a content-free answer solves are skipped.
CANDIDATES_PER_TEMPLATE = 24
PROBLEMS_PER_FAMILY = 4
TESTS_PER_PROBLEM = 8
EXAMPLES_SHOWN = 2
_ATTEMPTS = 60
BUILD_LIMITS = SandboxConfig(wall_time_s=20, cpu_time_s=10)


@dataclass(frozen=True)
class AbductionCandidate:
    name: str
    program: str
    input: str


@dataclass(frozen=True)
class DeductionCandidate:
    name: str
    statement: str
    solution: str
    inputs: tuple[str, ...]


def abduction_candidates(seed: int = 0) -> list[AbductionCandidate]:
    """Up to CANDIDATES_PER_TEMPLATE distinct variants of each template, in template order; the
    shipped set keeps the first VARIANTS_PER_TEMPLATE of each that no content-free input solves."""
    out = []
    for name, template in TEMPLATES.items():
        rng = random.Random(f"abduction/{name}/{seed}")
        seen: set[tuple[str, str]] = set()
        for _ in range(_ATTEMPTS):
            if len(seen) == CANDIDATES_PER_TEMPLATE:
                break
            program, stdin = template(rng)
            if (program, stdin) not in seen:
                seen.add((program, stdin))
                out.append(AbductionCandidate(f"{name}-{len(seen)}", program, stdin))
    return out


def deduction_candidates(seed: int = 0) -> list[DeductionCandidate]:
    out = []
    for name, family in FAMILIES.items():
        rng = random.Random(f"deduction/{name}/{seed}")
        seen: set[tuple[str, str]] = set()
        for _ in range(_ATTEMPTS):
            if len(seen) == PROBLEMS_PER_FAMILY:
                break
            spec = family(rng)
            if (spec.statement, spec.solution) in seen:
                continue
            seen.add((spec.statement, spec.solution))
            test_rng = random.Random(f"deduction/{name}/{seed}/{len(seen)}/tests")
            inputs: list[str] = []
            for _ in range(_ATTEMPTS):
                if len(inputs) == TESTS_PER_PROBLEM:
                    break
                candidate = spec.make_input(test_rng)
                if candidate not in inputs:
                    inputs.append(candidate)
            out.append(DeductionCandidate(f"{name}-{len(seen)}", spec.statement, spec.solution, tuple(inputs)))
    return out


def problem_text(statement: str, examples: list[tuple[str, str]]) -> str:
    parts = [statement]
    for number, (stdin, stdout) in enumerate(examples, start=1):
        parts.append(f"Example {number}\nInput:\n```\n{stdin.rstrip()}\n```\nOutput:\n```\n{stdout.rstrip()}\n```")
    return "\n\n".join(parts)


def _run_all(pool: SandboxPool, jobs: list[tuple[str, str]]) -> list[str]:
    results = pool.map(jobs, config=BUILD_LIMITS)
    for (program, stdin), result in zip(jobs, results):
        if not result.ok:
            raise RuntimeError(f"reference program failed on {stdin!r}:\n{program}\n{result.stderr[-2000:]}")
    return [result.stdout for result in results]


def template_of(name: str) -> str:
    """The template a candidate's name (`<template>-<number>`) comes from."""
    return name.rsplit("-", 1)[0]


def solved_without_the_program(pool: SandboxPool, tasks: list[AbductionTask]) -> list[bool]:
    """For each task: whether one of its content-free inputs makes the program print the output."""
    jobs = [(index, stdin) for index, task in enumerate(tasks) for stdin in content_free_inputs(task)]
    results = pool.map([(tasks[index].program, stdin) for index, stdin in jobs], config=BUILD_LIMITS)
    solved = [False] * len(tasks)
    for (index, _), result in zip(jobs, results):
        solved[index] = solved[index] or (result.ok and outputs_match(result.stdout, tasks[index].output))
    return solved


def _select_abduction(pool: SandboxPool, candidates: list[AbductionCandidate]) -> list[dict]:
    outputs = _run_all(pool, [(c.program, c.input) for c in candidates])
    tasks = [AbductionTask(c.program, c.input, output, c.name) for c, output in zip(candidates, outputs)]
    trivial = solved_without_the_program(pool, tasks)
    kept: dict[str, list[AbductionTask]] = {}
    for task, is_trivial in zip(tasks, trivial):
        chosen = kept.setdefault(template_of(task.name), [])
        if not is_trivial and len(chosen) < VARIANTS_PER_TEMPLATE:
            chosen.append(task)
    short = [name for name, chosen in kept.items() if len(chosen) < VARIANTS_PER_TEMPLATE]
    if short:
        raise RuntimeError(f"templates with fewer than {VARIANTS_PER_TEMPLATE} non-trivial variants: {short}")
    return [
        {"name": t.name, "program": t.program, "input": t.input, "output": t.output}
        for chosen in kept.values()
        for t in chosen
    ]


def build(seed: int = 0, workers: int = 2) -> tuple[list[dict], list[dict]]:
    """The abduction and deduction rows (outputs computed in the sandbox)."""
    abduction = abduction_candidates(seed)
    deduction = deduction_candidates(seed)
    with SandboxPool(workers=workers, config=BUILD_LIMITS) as pool:
        abduction_rows = _select_abduction(pool, abduction)
        flat = [(c.solution, stdin) for c in deduction for stdin in c.inputs]
        flat_outputs = iter(_run_all(pool, flat))
        deduction_rows = []
        for c in deduction:
            tests = [{"input": stdin, "output": next(flat_outputs)} for stdin in c.inputs]
            examples = [(t["input"], t["output"]) for t in tests[:EXAMPLES_SHOWN]]
            deduction_rows.append(
                {"name": c.name, "problem": problem_text(c.statement, examples), "tests": tests, "solution": c.solution}
            )
    return abduction_rows, deduction_rows


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    abduction_rows, deduction_rows = build()
    write_jsonl(abduction_rows, SHIPPED_ABDUCTION)
    write_jsonl(deduction_rows, SHIPPED_DEDUCTION)
