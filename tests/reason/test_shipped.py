"""The shipped task sets: sizes the issue asks for, reference answers for all, and files that
match the builder (so they were generated here, reproducibly)."""

from collections import Counter

import pytest

from rldojo.envs.reason.abduction import reference_answer as abduction_reference
from rldojo.envs.reason.answers import last_input_block, last_python_block
from rldojo.envs.reason.build import (
    VARIANTS_PER_TEMPLATE,
    abduction_candidates,
    deduction_candidates,
    problem_text,
    template_of,
)
from rldojo.envs.reason.build.abduction_templates import TEMPLATES
from rldojo.envs.reason.deduction import reference_answer as deduction_reference
from rldojo.envs.reason.tasks import shipped_abduction, shipped_deduction


def test_sizes():
    abduction = shipped_abduction()
    assert len({t.program for t in abduction}) >= 300
    deduction = shipped_deduction()
    assert len(deduction) >= 100
    assert min(len(t.tests) for t in deduction) >= 5
    assert all(t.solution for t in deduction)


def test_shipped_files_match_the_builder():
    shipped = shipped_abduction()
    candidates = abduction_candidates()
    # Per template, the builder keeps the first variants that no content-free answer solves (the
    # skipped ones are checked in test_reward_integrity.py), in candidate order.
    order = {(c.name, c.program, c.input): i for i, c in enumerate(candidates)}
    positions = [order[(t.name, t.program, t.input)] for t in shipped]
    assert positions == sorted(positions)
    assert Counter(template_of(t.name) for t in shipped) == {name: VARIANTS_PER_TEMPLATE for name in TEMPLATES}
    shipped_d = shipped_deduction()
    candidates_d = deduction_candidates()
    assert len(shipped_d) == len(candidates_d)
    for task, candidate in zip(shipped_d, candidates_d):
        assert (task.name, task.solution) == (candidate.name, candidate.solution)
        assert tuple(t.input for t in task.tests) == candidate.inputs
        examples = [(t.input, t.output) for t in task.tests[:2]]
        assert task.problem == problem_text(candidate.statement, examples)


def test_reference_answers_parse_back_to_the_reference():
    for task in shipped_abduction():
        assert last_input_block(abduction_reference(task)) == task.input.rstrip("\n") + "\n"
    for task in shipped_deduction():
        assert last_python_block(deduction_reference(task)).rstrip() == task.solution.rstrip()


@pytest.mark.parametrize("kind", ["abduction", "deduction"])
def test_outputs_are_never_empty(kind):
    if kind == "abduction":
        assert all(t.output.strip() for t in shipped_abduction())
    else:
        assert all(case.output.strip() for t in shipped_deduction() for case in t.tests)
