"""Task loaders: a user's JSONL, and Hugging Face datasets in the rl-python layout (local files)."""

import json

import pytest

from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.abduction import AbductionEnv
from rldojo.envs.reason.deduction import DeductionEnv
from rldojo.envs.reason.tasks import (
    load_abduction_jsonl,
    load_deduction_jsonl,
    load_hf_abduction,
    load_hf_deduction,
)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_accepts_both_field_spellings_and_list_payloads(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"program": "print(input())", "input": "hi\n", "output": "hi\n", "name": "echo"},
            {"program": "print(sum(map(int, input().split())))", "inputs": ["1 2"], "outputs": 3},
        ],
    )
    first, second = load_abduction_jsonl(path)
    assert (first.name, first.input, first.output) == ("echo", "hi\n", "hi\n")
    assert (second.input, second.output) == ("1 2", "3")


def test_jsonl_errors_name_the_line_and_the_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"program": "print(1)", "input": ""}) + "\n")
    with pytest.raises(EnvInputError, match=r"bad.jsonl:1: missing field; expected one of output"):
        load_abduction_jsonl(path)
    path.write_text("\n{not json}\n")
    with pytest.raises(EnvInputError, match=r"bad.jsonl:2: not valid JSON"):
        load_abduction_jsonl(path)
    path.write_text(json.dumps({"problem": "p", "tests": []}) + "\n")
    with pytest.raises(EnvInputError, match="no stdin/stdout tests"):
        load_deduction_jsonl(path)
    path.write_text("")
    with pytest.raises(EnvInputError, match="holds no tasks"):
        load_deduction_jsonl(path)


def test_deduction_tests_as_json_text_with_other_types_skipped(tmp_path):
    verification = json.dumps(
        {
            "test_cases": [
                {"type": "stdin_stdout", "input": "2\n", "output": "4\n"},
                {"type": "function_call", "fn_name": "f", "input": [2], "output": [4]},
                {"type": "stdin_stdout", "input": ["3"], "output": ["9"]},
            ]
        }
    )
    path = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "square", "verification_info": verification}])
    (task,) = load_deduction_jsonl(path)
    assert [(t.input, t.output) for t in task.tests] == [("2\n", "4\n"), ("3", "9")]
    assert task.solution is None


@pytest.fixture
def rl_python_folder(tmp_path):
    """A local dataset folder laid out like rl-python: a train split, one JSON object a row."""
    folder = tmp_path / "rl-python"
    folder.mkdir()
    rows = [
        {
            "program": "a = int(input())\nprint(a * 3)",
            "inputs": "4\n",
            "output": "12\n",
            "prompt": "Read a and print 3a.",
            "verification_info": json.dumps(
                {"test_cases": [{"type": "stdin_stdout", "input": f"{a}\n", "output": f"{3 * a}\n"} for a in range(5)]}
            ),
        },
        {
            "program": "print(input()[::-1])",
            "inputs": "abc\n",
            "output": "cba\n",
            "prompt": "Reverse a line.",
            "verification_info": json.dumps(
                {"test_cases": [{"type": "function_call", "fn_name": "rev", "input": ["ab"], "output": ["ba"]}]}
            ),
        },
    ]
    write_jsonl(folder / "train.jsonl", rows)
    return folder


def test_hf_dataset_in_rl_python_layout(rl_python_folder, tmp_path):
    cache = str(tmp_path / "cache")
    abduction = load_hf_abduction(str(rl_python_folder), split="train", cache_dir=cache)
    assert [(t.input, t.output) for t in abduction] == [("4\n", "12\n"), ("abc\n", "cba\n")]
    deduction = load_hf_deduction(str(rl_python_folder), split="train", cache_dir=cache)
    assert len(deduction) == 1  # the row with only function-call tests is skipped
    assert deduction[0].problem == "Read a and print 3a." and len(deduction[0].tests) == 5
    assert deduction[0].solution == "a = int(input())\nprint(a * 3)"  # the program column
    env = AbductionEnv(hf_dataset=str(rl_python_folder), hf_cache_dir=cache)
    _, info = env.reset(options={"task_id": 1})
    assert env.step(info["expert_action"])[1] == 1.0
    env = DeductionEnv(hf_dataset=str(rl_python_folder), hf_cache_dir=cache)
    _, info = env.reset(options={"task_id": 0})
    assert env.step("```python\nprint(3 * int(input()))\n```")[1] == 1.0


def test_hf_dataset_errors_are_clear(tmp_path):
    with pytest.raises(EnvInputError, match="could not load Hugging Face dataset"):
        load_hf_abduction(str(tmp_path / "nowhere"), cache_dir=str(tmp_path / "cache"))
