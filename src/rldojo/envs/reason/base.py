"""`ReasoningEnv`: a single-turn text env on the TextEnv protocol: the prompt, one answer, a grade.

The whole reply is graded as written: unlike the multi-turn worlds, whitespace and newlines are
kept (programs and stdin depend on them); only CRLF becomes LF. Every answer ends the episode.
The reference answer (an SFT demonstration) is `info["expert_action"]` after reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rldojo.envs.reason.answers import normalize_newlines
from rldojo.envs.text.protocol import TextEnv, WorldStep


@dataclass(frozen=True)
class Grade:
    """The verdict on one reply."""

    reward: float
    """1.0 for a correct answer, 0.0 for a wrong one (fractions where partial credit is on)."""
    parsed: bool
    """Whether an answer in the required form was found (the protocol's `valid_action`)."""
    feedback: str
    """What the env answers (the final observation)."""
    details: dict[str, Any] | None = None
    """Extra info keys (e.g. tests passed)."""


class ReasoningEnv(TextEnv):
    """Base of SAT, Abduction and Deduction: subclasses build the prompt and grade the reply."""

    MAX_ACTION_CHARS = 65536  # replies carry reasoning and whole programs
    has_expert = True

    def __init__(self, render_mode: str | None = None):
        super().__init__(max_turns=1, render_mode=render_mode)
        self._reference = ""
        self._details: dict[str, Any] = {}

    # ---- what subclasses implement --------------------------------------------------------------

    def _grade(self, reply: str) -> Grade:
        raise NotImplementedError

    # ---- protocol hooks ---------------------------------------------------------------------------

    def _vet(self, action: Any) -> tuple[str | None, str]:
        problem, _ = super()._vet(action)  # type, length and emptiness checks
        if problem is not None:
            return problem, ""
        raw = action.decode("utf-8", errors="replace") if isinstance(action, bytes) else action
        return None, normalize_newlines(raw)

    def _step_world(self, action: str) -> WorldStep:
        grade = self._grade(action)
        self._details = dict(grade.details or {})
        return WorldStep(
            observation=grade.feedback,
            reward=float(grade.reward),
            valid=grade.parsed,
            won=grade.reward >= 1.0,
            done=True,
        )

    def _expert_action(self) -> str | None:
        return self._reference or None

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        info.update(self._details)
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._details = {}
        return super().reset(seed=seed, options=options)
