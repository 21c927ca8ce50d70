"""Answer extraction: <think> removal, <INPUT> and ```python blocks, SAT assignments, output
comparison."""

import numpy as np

from rldojo.envs.reason.answers import (
    last_input_block,
    last_python_block,
    normalize_output,
    outputs_match,
    parse_assignment,
    strip_thinking,
)


def test_strip_thinking_removes_blocks_and_an_opened_by_template_prefix():
    assert strip_thinking("a<think>x\ny</think>b<THINKING>z</thinking>c") == "abc"
    assert strip_thinking("reasoning without opening tag</think>answer") == "answer"
    assert strip_thinking("no thinking") == "no thinking"


def test_last_input_block_wins_and_is_normalised():
    reply = "<INPUT>1\n</INPUT> then <input>\r\n\r\n  3 4  \r\nfive\t\r\n\r\n</input>"
    assert last_input_block(reply) == "  3 4\nfive\n"  # leading spaces kept, trailing gone
    assert last_input_block("<think><INPUT>wrong</INPUT></think><INPUT>\n7\n</INPUT>") == "7\n"
    assert last_input_block("<INPUT>\n7\n</INPUT><think><INPUT>8</INPUT></think>") == "7\n"
    assert last_input_block("<INPUT></INPUT>") == ""
    assert last_input_block("no tags here") is None
    assert last_input_block("<INPUT>unclosed") is None


def test_last_python_block():
    reply = "```python\nprint(1)\n```\ntext\n```py\nprint(2)\n```\n```\nprint(3)\n```"
    assert last_python_block(reply) == "print(2)\n"
    assert last_python_block("```Python3\r\nx = 1\r\n```") == "x = 1\n"
    assert last_python_block("<think>```python\nbad()\n```</think>none") is None
    assert last_python_block("```python\nunclosed") is None


def test_parse_assignment_is_lenient_and_last_value_wins():
    values, read = parse_assignment("x1=True, X2 = f; x3=1 x4=T x2=TRUE x5=false x3=0 x9=True", 5)
    assert values.tolist() == [True, True, False, True, False]
    assert read == 7  # x9 is out of range for 5 variables
    values, read = parse_assignment("x1=True1 ax2=T x3=yes x4:=T", 4)  # none of these count
    assert not values.any() and read == 0
    values, read = parse_assignment("", 3)
    assert values.dtype == np.bool_ and values.shape == (3,) and read == 0


def test_outputs_match_normalises_line_endings_and_trailing_space():
    assert outputs_match("1 2 \r\n3\r\n\r\n", "1 2\n3")
    assert outputs_match("a\n", "a")
    assert not outputs_match(" a", "a")  # leading space matters
    assert not outputs_match("a\n\nb", "a\nb")  # inner blank lines matter
    assert normalize_output("x\t \ny  \n\n") == "x\ny"
