"""Reward integrity of the single-turn reasoning tasks: an answer that does not solve the task never
scores as a success, nor the full reward.

Every task gets the same attacks (empty, junk, "I do not know.", the prompt copied back, the right
answer padded past the length limit, the right answer followed by a wrong candidate, a wrong answer
repeated, the right answer only inside <think>, a well-formed answer that ignores the task); the
reference answer still wins. Then each task's own shortcuts: SAT's constant assignments and left-out
variables, Abduction's content-free inputs, Deduction's constant programs and file reading.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from loguru import logger

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.reason import deduction as deduction_module
from rldojo.envs.reason.abduction import AbductionEnv, content_free_inputs
from rldojo.envs.reason.answers import normalize_output
from rldojo.envs.reason.base import ReasoningEnv
from rldojo.envs.reason.build import (
    BUILD_LIMITS,
    abduction_candidates,
    solved_without_the_program,
    template_of,
)
from rldojo.envs.reason.deduction import DeductionEnv
from rldojo.envs.reason.sat import SATEnv, format_assignment
from rldojo.envs.reason.tasks import SHIPPED_DEDUCTION, AbductionTask, shipped_abduction, shipped_deduction
from rldojo.sandbox import SandboxPool, run_program

TASK_IDS = {"sat": [0, 1, 2, 3, 4], "abduction": [0, 97, 215, 431], "deduction": [0, 50, 105]}


def make(world: str) -> ReasoningEnv:
    return {"sat": SATEnv, "abduction": AbductionEnv, "deduction": DeductionEnv}[world]()


def content_free_answer(world: str, env: ReasoningEnv) -> str:
    """A well-formed answer that ignores the task."""
    if world == "sat":
        return format_assignment(np.zeros(env.formula.num_vars, dtype=bool))  # all False
    if world == "abduction":
        return "<INPUT>\n0\n</INPUT>"
    return "```python\nprint(0)\n```"


# attack(first observation, reference answer, content-free answer) -> reply
ATTACKS = {
    "empty": lambda obs, ref, free: "",
    "whitespace": lambda obs, ref, free: " \n\t \n",
    "junk": lambda obs, ref, free: "qzx vvk 17 ## @@",
    "i_do_not_know": lambda obs, ref, free: "I do not know.",
    "prompt_copied": lambda obs, ref, free: obs,
    "right_answer_padded_past_the_limit": lambda obs, ref, free: ref + " " * (ReasoningEnv.MAX_ACTION_CHARS + 1),
    "right_then_wrong_candidate": lambda obs, ref, free: f"{ref}\nor maybe\n{free}",
    "wrong_answer_repeated": lambda obs, ref, free: "\n".join([free] * 50),
    "right_answer_only_while_thinking": lambda obs, ref, free: f"<think>{ref}</think>I am not sure.",
    "content_free": lambda obs, ref, free: free,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("world", list(TASK_IDS))
def test_attacks_never_succeed(world, attack):
    env = make(world)
    for task_id in TASK_IDS[world]:
        obs, info = env.reset(seed=0, options={"task_id": task_id})
        reply = ATTACKS[attack](obs, info["expert_action"], content_free_answer(world, env))
        _, reward, terminated, truncated, info = env.step(reply)
        assert (terminated or truncated) and not info["won"] and reward < 1.0, (world, task_id, attack)
    env.close()


@pytest.mark.parametrize("world", list(TASK_IDS))
def test_the_reference_answer_still_wins(world):
    env = make(world)
    for task_id in TASK_IDS[world]:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        _, reward, terminated, _, info = env.step(f"<think>working it out</think>{info['expert_action']}")
        assert terminated and info["won"] and reward == 1.0, (world, task_id)
    env.close()


# ---- SAT --------------------------------------------------------------------------------------


def test_sat_constant_and_content_free_answers_never_win_on_default_tasks():
    env = SATEnv()
    for task_id in range(300):
        env.reset(options={"task_id": task_id})
        formula = env.formula
        constants = np.array([np.zeros(formula.num_vars, bool), np.ones(formula.num_vars, bool)])
        assert not formula.satisfies(constants).any(), task_id
        assert formula.satisfies(env.hidden)[0]  # still satisfiable by its planted assignment
        _, reward, *_ = env.step("I do not know.")
        assert reward == 0.0


def test_sat_every_variable_needs_a_value():
    env = SATEnv()
    _, info = env.reset(options={"task_id": 11})
    hidden = env.hidden
    without_last = format_assignment(hidden).rsplit(",", 1)[0]
    obs, reward, _, _, info = env.step(without_last)
    assert reward == 0.0 and not info["won"] and f"x{hidden.size}" in obs
    assert info["variables_assigned"] == hidden.size - 1
    # values for variables the formula does not have do not stand in for missing ones
    env.reset(options={"task_id": 11})
    _, reward, *_ = env.step(without_last + f", x{hidden.size + 1}=True")
    assert reward == 0.0


# ---- Abduction --------------------------------------------------------------------------------


def test_abduction_builder_skipped_the_variants_a_content_free_input_solves():
    shipped = shipped_abduction()
    names = {t.name for t in shipped}
    candidates = abduction_candidates()
    last_kept = {template_of(c.name): i for i, c in enumerate(candidates) if c.name in names}
    skipped = [c for i, c in enumerate(candidates) if c.name not in names and i < last_kept[template_of(c.name)]]
    assert skipped  # the seed's candidates do include content-free-solvable variants
    # (sandbox runs are slow on a shared machine: the first skipped variant of each template, and a
    # sample of the shipped tasks; the builder checked them all)
    skipped = list({template_of(c.name): c for c in reversed(skipped)}.values())
    sample = [t for i, t in enumerate(shipped) if i % 108 == 0]
    with SandboxPool(workers=2, config=BUILD_LIMITS) as pool:
        outputs = pool.map([(c.program, c.input) for c in skipped])
        skipped_tasks = [AbductionTask(c.program, c.input, r.stdout, c.name) for c, r in zip(skipped, outputs)]
        assert all(solved_without_the_program(pool, skipped_tasks))
        assert not any(solved_without_the_program(pool, sample))


def test_abduction_content_free_inputs_include_the_printed_output():
    task = shipped_abduction()[0]
    assert task.output in content_free_inputs(task) and "" in content_free_inputs(task)


# ---- Deduction --------------------------------------------------------------------------------


def test_deduction_no_shipped_task_passes_a_constant_or_echo_program():
    for task in shipped_deduction():
        outputs = {normalize_output(case.output) for case in task.tests}
        assert len(outputs) > 1, task.name  # `print(<constant>)` fails some test
        assert any(normalize_output(c.output) != normalize_output(c.input) for c in task.tests), task.name
        shown = task.tests[:2]  # the examples in the statement are not all the tests
        assert any(normalize_output(c.output) not in {normalize_output(s.output) for s in shown} for c in task.tests)


def test_deduction_partial_credit_is_reward_not_success():
    env = DeductionEnv(partial_credit=True)
    env.reset(options={"task_id": 0})
    # the two examples of the statement hard-coded: some hidden tests pass, not all
    task = env.task
    table = {c.input.strip(): c.output for c in task.tests[:2]}
    program = f"import sys\ntable = {table!r}\nprint(table.get(sys.stdin.read().strip(), '0'), end='')\n"
    _, reward, _, _, info = env.step(f"```python\n{program}```")
    assert 0.0 < reward < 1.0 and not info["won"] and info["tests_passed"] < info["tests_total"]


CHEAT = f"""import json, sys
stdin = sys.stdin.read().strip()
for line in open({str(SHIPPED_DEDUCTION)!r}):
    for case in json.loads(line)["tests"]:
        if case["input"].strip() == stdin:
            print(case["output"], end="")
            sys.exit()
"""


def test_deduction_a_program_that_reads_the_hidden_tests_fails_under_bubblewrap():
    env = DeductionEnv()
    if not run_program("print(1)", "", env.sandbox).isolation.read_only_root:
        pytest.skip("no filesystem isolation on this machine (bubblewrap missing); see the warning test")
    env.reset(options={"task_id": 3})
    _, reward, _, _, info = env.step(f"```python\n{CHEAT}```")
    assert reward == 0.0 and not info["won"]


def test_deduction_warns_when_answers_can_read_files(monkeypatch):
    monkeypatch.setattr(deduction_module, "_warned_about_files", False)
    messages: list[str] = []
    sink = logger.add(lambda message: messages.append(str(message)), level="WARNING")
    try:
        env = DeductionEnv(sandbox={"isolation": "rlimits"})
        env.reset(options={"task_id": 3})
        env.step("```python\nprint(0)\n```")
    finally:
        logger.remove(sink)
    assert any("hidden tests" in m and "bubblewrap" in m for m in messages)


def test_shipped_deduction_file_is_where_the_cheat_looks():
    first = json.loads(SHIPPED_DEDUCTION.read_text(encoding="utf-8").splitlines()[0])
    assert first["tests"]  # (so the bubblewrap test above exercises a real path)
