"""Pull the answer out of a model's reply: SAT assignments, <INPUT> blocks, ```python blocks,
and the output comparison every program task uses."""

from __future__ import annotations

import re

import numpy as np

_THINK = re.compile(r"<(think|thinking)>.*?</\1>", re.IGNORECASE | re.DOTALL)
_THINK_CLOSE = re.compile(r"</(?:think|thinking)>", re.IGNORECASE)
_INPUT = re.compile(r"<INPUT>(.*?)</INPUT>", re.IGNORECASE | re.DOTALL)
_PYTHON = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(.*?)```", re.IGNORECASE | re.DOTALL)
# x3=True, X3 = f, x12=1 ... anywhere; not part of a longer name or value (x3=True1, ax3=T).
_ASSIGNMENT = re.compile(r"(?<![A-Za-z0-9_])[xX](\d+)\s*=\s*(true|false|t|f|1|0)(?![A-Za-z0-9_])", re.IGNORECASE)


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def strip_thinking(text: str) -> str:
    """Remove <think>…</think> (and <thinking>) blocks; if a closing tag has no opening one (the
    chat template opened it), everything before the last closing tag is thinking too."""
    text = _THINK.sub("", text)
    closings = list(_THINK_CLOSE.finditer(text))
    return text[closings[-1].end() :] if closings else text


def last_input_block(reply: str) -> str | None:
    """Stdin from the last <INPUT>…</INPUT> block after thinking is removed: lines keep their
    content, lose trailing spaces, blank lines around the block go, one final newline is added."""
    blocks = _INPUT.findall(strip_thinking(normalize_newlines(reply)))
    if not blocks:
        return None
    lines = [line.rstrip() for line in blocks[-1].split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def last_python_block(reply: str) -> str | None:
    """Source of the last ```python (or ```py) fenced block after thinking is removed."""
    blocks = _PYTHON.findall(strip_thinking(normalize_newlines(reply)))
    return blocks[-1] if blocks else None


def read_assignment(reply: str, num_vars: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean values of x1..xn from `x3=True/False/1/0/T/F` anywhere in the reply (any case; the
    last value for a variable wins; out-of-range variables are ignored). Returns (values, assigned):
    values[i] is x(i+1)'s value (False where none was given), assigned[i] whether one was given."""
    values = np.zeros(num_vars, dtype=bool)
    assigned = np.zeros(num_vars, dtype=bool)
    for number, value in _ASSIGNMENT.findall(reply):
        index = int(number) - 1
        if 0 <= index < num_vars:
            values[index] = value.lower() in ("true", "t", "1")
            assigned[index] = True
    return values, assigned


def parse_assignment(reply: str, num_vars: int) -> tuple[np.ndarray, int]:
    """Boolean values of x1..xn from `x3=True/False/1/0/T/F` anywhere in the reply (any case; the
    last value for a variable wins; variables never mentioned are false; out-of-range ones are
    ignored). Returns (values with values[i] = x(i+1), how many in-range assignments were read).
    The SAT env grades with `read_assignment`, which also says which variables were given."""
    values = np.zeros(num_vars, dtype=bool)
    read = 0
    for number, value in _ASSIGNMENT.findall(reply):
        index = int(number) - 1
        if 0 <= index < num_vars:
            values[index] = value.lower() in ("true", "t", "1")
            read += 1
    return values, read


def normalize_output(text: str) -> str:
    """What two program outputs must agree on: CRLF as LF, no trailing spaces on any line, no
    trailing blank lines."""
    lines = normalize_newlines(text).split("\n")
    return "\n".join(line.rstrip() for line in lines).rstrip("\n")


def outputs_match(produced: str, expected: str) -> bool:
    return normalize_output(produced) == normalize_output(expected)
