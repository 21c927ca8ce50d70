"""Deduction: the last ```python block runs on every hidden test in the sandbox."""

import json

import gymnasium as gym
import pytest

import rldojo  # noqa: F401
from rldojo.envs.reason.deduction import DeductionEnv
from rldojo.envs.reason.tasks import shipped_deduction

FAST = {"wall_time_s": 3.0, "cpu_time_s": 1.0}
SQUARE_TESTS = [{"input": f"{n}\n", "output": f"{n * n}\n"} for n in (0, 1, 2, 3, 7, 12)]


@pytest.fixture
def square_task(tmp_path):
    path = tmp_path / "square.jsonl"
    row = {"problem": "Read n and print n squared.", "tests": SQUARE_TESTS, "solution": "print(int(input()) ** 2)"}
    path.write_text(json.dumps(row) + "\n")
    return str(path)


def fenced(source: str) -> str:
    return f"```python\n{source}\n```"


def test_correct_program_passes_all_tests(square_task):
    env = DeductionEnv(jsonl=square_task, sandbox=FAST)
    obs, info = env.reset(options={"task_id": 0})
    assert obs.startswith("Read n and print n squared.") and "```python" in obs
    assert info["expert_action"] == fenced("print(int(input()) ** 2)")
    reply = "<think>```python\nprint(0)\n```</think>" + fenced("n = int(input())\nprint(n * n)")
    _, reward, terminated, _, info = env.step(reply)
    assert (reward, terminated, info["won"], info["tests_passed"], info["tests_total"]) == (1.0, True, True, 6, 6)


def test_all_or_nothing_stops_at_the_first_failure(square_task):
    env = DeductionEnv(jsonl=square_task, sandbox=FAST)
    env.reset(options={"task_id": 0})
    # n * 2 equals n * n only for n = 0 and n = 2: tests 1 and 3 pass, test 2 (n = 1) fails
    obs, reward, *_, info = env.step(fenced("n = int(input())\nprint(n * 2)"))
    assert reward == 0.0 and info["tests_passed"] == 1 and "hidden test 2 of 6" in obs


def test_partial_credit_counts_every_test(square_task):
    program = "n = int(input())\nprint(n * 2)"
    expected = sum(1 for t in SQUARE_TESTS if int(t["input"]) * 2 == int(t["output"]))  # n = 0 and 2
    for workers in (1, 2):
        env = DeductionEnv(jsonl=square_task, partial_credit=True, test_workers=workers, sandbox=FAST)
        env.reset(options={"task_id": 0})
        _, reward, *_, info = env.step(fenced(program))
        assert info["tests_passed"] == expected == 2
        assert reward == pytest.approx(2 / 6)
        env.close()


def test_hostile_or_missing_programs_score_zero(square_task):
    env = DeductionEnv(jsonl=square_task, sandbox=FAST)
    env.reset(options={"task_id": 0})
    _, reward, *_, info = env.step(fenced("while True:\n    pass"))
    assert reward == 0.0 and info["tests_passed"] == 0
    env.reset(options={"task_id": 0})
    _, reward, *_, info = env.step(fenced("import os\nprint(os.environ.get('HF_TOKEN'))"))
    assert reward == 0.0
    env.reset(options={"task_id": 0})
    obs, reward, *_, info = env.step("print(int(input()) ** 2)")  # not fenced
    assert reward == 0.0 and not info["valid_action"] and "```python" in obs


@pytest.mark.parametrize("task_id", [0, 53, 105])
def test_shipped_reference_solutions_pass(task_id):
    env = gym.make("dojo/Deduction-v0", test_workers=2)
    _, info = env.reset(options={"task_id": task_id})
    _, reward, _, _, info = env.step(info["expert_action"])
    assert reward == 1.0 and info["tests_passed"] == info["tests_total"] >= 5
    env.close()


def test_shipped_problems_show_examples_that_are_hidden_tests():
    task = shipped_deduction()[10]
    first = task.tests[0]
    assert "Example 1" in task.problem and first.input.rstrip() in task.problem
