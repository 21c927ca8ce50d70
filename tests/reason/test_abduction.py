"""Abduction: the program runs in the sandbox on the answered stdin; output must match."""

import json

import gymnasium as gym
import pytest

import rldojo  # noqa: F401
from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.abduction import AbductionEnv
from rldojo.envs.reason.tasks import shipped_abduction

FAST = {"wall_time_s": 3.0, "cpu_time_s": 1.0}

PROGRAM = "a = int(input())\nb = int(input())\nprint(a * b)\nprint('big' if a * b > 10 else 'small')\n"


@pytest.fixture
def user_tasks(tmp_path):
    path = tmp_path / "tasks.jsonl"
    rows = [
        {"program": PROGRAM, "input": "3\n5\n", "output": "15\nbig\n"},
        {"program": "n = int(input())\nwhile n != 1:\n    pass\nprint('done')\n", "input": "1\n", "output": "done\n"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_any_input_that_reproduces_the_output_wins(user_tasks):
    env = AbductionEnv(jsonl=user_tasks, sandbox=FAST)
    obs, info = env.reset(options={"task_id": 0})
    assert PROGRAM.strip() in obs and "15\nbig" in obs
    assert info["expert_action"] == "<INPUT>\n3\n5\n</INPUT>"
    # 5 * 3 is another answer; CRLF, trailing spaces and blank lines around it do not matter
    _, reward, terminated, _, info = env.step(
        "<think>maybe 15 and 1</think>Answer:\r\n<INPUT>\r\n5  \r\n3\r\n\r\n</INPUT>"
    )
    assert (reward, terminated, info["won"]) == (1.0, True, True)


def test_wrong_crashing_and_missing_answers(user_tasks):
    env = AbductionEnv(jsonl=user_tasks, sandbox=FAST)
    env.reset(options={"task_id": 0})
    obs, reward, *_, info = env.step("<INPUT>\n2\n2\n</INPUT>")
    assert reward == 0.0 and info["valid_action"] and "printed something else" in obs and "4\nsmall" in obs
    env.reset(options={"task_id": 0})
    obs, reward, *_, info = env.step("<INPUT>\nthree\n</INPUT>")
    assert reward == 0.0 and "ValueError" in obs and info["exit_code"] == 1
    env.reset(options={"task_id": 0})
    obs, reward, *_, info = env.step("3 and 5")
    assert reward == 0.0 and not info["valid_action"] and "<INPUT>" in obs


def test_an_input_that_hangs_the_program_times_out(user_tasks):
    env = AbductionEnv(jsonl=user_tasks, sandbox=FAST)
    env.reset(options={"task_id": 1})
    obs, reward, *_, info = env.step("<INPUT>\n7\n</INPUT>")
    assert reward == 0.0 and info["timed_out"] and "out of time" in obs
    env.reset(options={"task_id": 1})
    assert env.step(env.unwrapped._reference)[1] == 1.0


@pytest.mark.parametrize("task_id", [0, 97, 215, 333, 431])
def test_shipped_reference_answers_win(task_id):
    env = gym.make("dojo/Abduction-v0")
    _, info = env.reset(options={"task_id": task_id})
    _, reward, terminated, truncated, info = env.step(info["expert_action"])
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)


def test_task_ids_outside_the_set_are_refused():
    env = AbductionEnv()
    assert env.num_tasks == len(shipped_abduction())
    with pytest.raises(EnvInputError, match="task id"):
        env.reset(options={"task_id": env.num_tasks})


def test_bad_arguments_are_clear(tmp_path, user_tasks):
    with pytest.raises(EnvInputError, match="not both"):
        AbductionEnv(jsonl=user_tasks, hf_dataset="x")
    with pytest.raises(EnvInputError, match="wall_time_s"):
        AbductionEnv(sandbox={"wall_time": 1})
    with pytest.raises(EnvInputError, match="does not exist"):
        AbductionEnv(jsonl=str(tmp_path / "missing.jsonl"))
