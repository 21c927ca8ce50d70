"""Pull an env action out of a model's free-text reply.

Strategies, tried in this order (the first that yields an action names the parse):

    marker            the text after the last `Action:` marker (its first line) is an available
                      action, or the world lists none (then that text is the action)
    exact             the reply (or the marked text) is exactly an available action
    case_insensitive  the same, ignoring case and surrounding spaces/punctuation
    substring         an available action appears inside the reply (the longest one), or the reply
                      is part of exactly one available action
    fuzzy             the available action sharing the most words with the reply (Jaccard
                      overlap of at least `FUZZY_MIN`)
    fallback          the first available action (when the fallback is on)
    none              nothing matched and the fallback is off: the raw text goes to the env,
                      which answers it as invalid
    raw               the world lists no actions and there is no marker: the whole reply
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rldojo.llm.prompts import ACTION_MARKER

STRATEGIES: tuple[str, ...] = ("marker", "exact", "case_insensitive", "substring", "fuzzy", "fallback", "none", "raw")
FUZZY_MIN = 0.5

_MARKER = re.compile(re.escape(ACTION_MARKER), re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ParsedAction:
    action: str
    strategy: str


def _norm(text: str) -> str:
    return " ".join(text.casefold().strip().strip(".!`'\"").split())


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.casefold()))


def marked_text(reply: str) -> str | None:
    """The first line after the last `Action:` marker, stripped (None without a marker)."""
    found = list(_MARKER.finditer(reply))
    if not found:
        return None
    rest = reply[found[-1].end() :].strip()
    return rest.split("\n", 1)[0].strip().strip("`").strip()


def parse_action(reply: str, available: list[str], fallback: bool = True) -> ParsedAction:
    """The action in `reply`, matched against `available` (see the module docstring)."""
    marked = marked_text(reply)
    if not available:
        if marked is not None:
            return ParsedAction(marked, "marker")
        return ParsedAction(reply.strip(), "raw")
    if marked is not None and marked in available:
        return ParsedAction(marked, "marker")
    target = marked if marked is not None else reply.strip()
    if target in available:
        return ParsedAction(target, "exact")
    norm_target = _norm(target)
    for action in available:
        if _norm(action) == norm_target:
            return ParsedAction(action, "case_insensitive")
    if norm_target:
        inside = [a for a in available if _norm(a) and _norm(a) in norm_target]
        if inside:
            return ParsedAction(max(inside, key=len), "substring")
        around = [a for a in available if norm_target in _norm(a)]
        if len(around) == 1:
            return ParsedAction(around[0], "substring")
    words = _words(target)
    if words:

        def overlap(action: str) -> float:
            other = _words(action)
            return len(words & other) / len(words | other) if other else 0.0

        best = max(available, key=overlap)
        if overlap(best) >= FUZZY_MIN:
            return ParsedAction(best, "fuzzy")
    if fallback:
        return ParsedAction(available[0], "fallback")
    return ParsedAction(target, "none")
