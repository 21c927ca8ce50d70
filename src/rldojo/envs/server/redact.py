"""What a served env may tell its clients: its info without answers.

A client of the env server is an agent under test, so nothing that gives a task away may reach it:
the built-in expert's next action (the answer of a reasoning task: its reference solution) and any
key whose name says it holds an answer, a solution, a reference, gold data or hidden tests. Keys are
matched by name, at any depth, so a world that adds such a key later is covered without a change
here. The expert action can be let through for trusted local use (`expose_expert`, loopback only).
"""

from __future__ import annotations

import re
from typing import Any

EXPERT_KEY = "expert_action"

# Name parts that mark a key as holding (part of) a task's answer.
_HIDDEN_PARTS = ("expert", "answer", "solution", "reference", "gold", "hidden", "secret", "oracle")
# "test" only as a whole word: `tests`, `test_cases` are hidden tests, `latest` is not.
_HIDDEN_WORDS = frozenset({"test", "tests", "testcase", "testcases"})
# Counts of the agent's own graded answer (also said in the feedback text): no test content.
_SAFE_KEYS = frozenset({"tests_passed", "tests_total"})


def is_hidden_key(key: str, expose_expert: bool = False) -> bool:
    """Whether an info key may hold a task's answer (the expert key only when not exposed)."""
    if key in _SAFE_KEYS:
        return False
    if key == EXPERT_KEY:
        return not expose_expert
    name = key.lower()
    if any(part in name for part in _HIDDEN_PARTS):
        return True
    # camelCase and snake_case both split into words
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key).lower()
    return any(word in _HIDDEN_WORDS for word in re.split(r"[^a-z0-9]+", words))


def public_info(info: Any, expose_expert: bool = False) -> Any:
    """`info` (plain JSON data) without the keys that may hold an answer, at any depth."""
    if isinstance(info, dict):
        return {k: public_info(v, expose_expert) for k, v in info.items() if not is_hidden_key(k, expose_expert)}
    if isinstance(info, list):
        return [public_info(v, expose_expert) for v in info]
    return info
