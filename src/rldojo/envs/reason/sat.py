"""`dojo/SAT-v0`: planted-solution random k-SAT, always satisfiable, verified with numpy.

Task t draws (from t alone) a number of variables n, a clause width k, a hidden assignment and
round(ratio * n) clauses of k distinct variables with random signs; then one literal of each
clause is flipped, if needed, to agree with the hidden assignment, so the formula is satisfiable
by construction. The reply may state `x3=True/False/1/0/T/F` anywhere (the last value for a
variable wins; unmentioned variables are false); reward 1 iff every clause holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.answers import parse_assignment
from rldojo.envs.reason.base import Grade, ReasoningEnv


@dataclass(frozen=True)
class Formula:
    """A CNF formula: clause j is OR over i of (x[variables[j, i]] XOR negated[j, i])."""

    num_vars: int
    variables: np.ndarray
    """(clauses, k) int: 0-based variable of each literal."""
    negated: np.ndarray
    """(clauses, k) bool: whether each literal is negated."""

    def satisfied_clauses(self, assignments: np.ndarray) -> np.ndarray:
        """(batch, clauses) bool for a (batch, num_vars) bool array of assignments."""
        literal_values = assignments[:, self.variables] != self.negated  # (batch, clauses, k)
        return literal_values.any(axis=2)

    def satisfies(self, assignments: np.ndarray) -> np.ndarray:
        """(batch,) bool: which assignments make every clause true."""
        return self.satisfied_clauses(np.atleast_2d(assignments)).all(axis=1)

    def clause_text(self, j: int) -> str:
        literals = [f"{'¬' if neg else ''}x{var + 1}" for var, neg in zip(self.variables[j], self.negated[j])]
        return "(" + " ∨ ".join(literals) + ")"

    def text(self) -> str:
        return "\n".join(("  " if j == 0 else "∧ ") + self.clause_text(j) for j in range(len(self.variables)))


def planted_formula(rng: np.random.Generator, num_vars: int, k: int, num_clauses: int) -> tuple[Formula, np.ndarray]:
    """A random k-CNF that the returned hidden assignment satisfies."""
    hidden = rng.random(num_vars) < 0.5
    # k distinct variables per clause: the first k of a random permutation of all variables.
    variables = np.argsort(rng.random((num_clauses, num_vars)), axis=1)[:, :k]
    negated = rng.random((num_clauses, k)) < 0.5
    # Force one literal per clause to be true under the hidden assignment.
    forced = rng.integers(0, k, size=num_clauses)
    rows = np.arange(num_clauses)
    negated[rows, forced] = ~hidden[variables[rows, forced]]
    return Formula(num_vars, variables, negated), hidden


def format_assignment(values: np.ndarray) -> str:
    return ", ".join(f"x{i + 1}={bool(v)}" for i, v in enumerate(values))


def _range(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
    """An int n means exactly n; a (low, high) pair (a YAML list too) means drawn from low..high."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    ok = (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
        and 1 <= pair[0] <= pair[1]
    )
    if not ok:
        raise EnvInputError(
            f"SAT {name} must be a positive integer or a [low, high] pair with 1 <= low <= high, got {value!r}"
        )
    return int(pair[0]), int(pair[1])


class SATEnv(ReasoningEnv):
    """Find a satisfying assignment of a planted random k-SAT formula."""

    def __init__(
        self,
        n_vars: int | tuple[int, int] = (10, 20),
        k: int | tuple[int, int] = (3, 5),
        clause_ratio: float = 4.2,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        self.n_vars = _range("n_vars", n_vars)
        self.k = _range("k", k)
        if self.k[1] > self.n_vars[0]:
            raise EnvInputError(
                f"SAT clause width k={k} exceeds the smallest number of variables {self.n_vars[0]}; "
                "a clause uses distinct variables, so k must be at most n_vars"
            )
        if self.n_vars[1] > 10_000:
            raise EnvInputError(f"SAT n_vars up to 10000 are allowed, got {n_vars}")
        if not 0 < float(clause_ratio) <= 100:
            raise EnvInputError(f"SAT clause_ratio must be in (0, 100], got {clause_ratio}")
        self.clause_ratio = float(clause_ratio)
        self.formula: Formula | None = None
        self.hidden: np.ndarray | None = None

    def _load_task(self, task_id: int, rng: np.random.Generator) -> tuple[str, str]:
        num_vars = int(rng.integers(self.n_vars[0], self.n_vars[1] + 1))
        k = int(rng.integers(self.k[0], self.k[1] + 1))
        num_clauses = max(1, round(self.clause_ratio * num_vars))
        self.formula, self.hidden = planted_formula(rng, num_vars, k, num_clauses)
        self._reference = format_assignment(self.hidden)
        instruction = (
            f"Find an assignment of the boolean variables x1 … x{num_vars} that satisfies this "
            f"{k}-CNF formula of {num_clauses} clauses (∨ is or, ∧ is and, ¬ is not):\n"
            f"{self.formula.text()}\n"
            f"Answer with a value for each variable, e.g. x1=True, x2=False, … "
            f"(unassigned variables count as False)."
        )
        return instruction, ""

    def _grade(self, reply: str) -> Grade:
        assert self.formula is not None
        values, read = parse_assignment(reply, self.formula.num_vars)
        clauses = self.formula.satisfied_clauses(values[None, :])[0]
        if clauses.all():
            return Grade(1.0, read > 0, "Correct: every clause is satisfied.", {"clauses_satisfied": int(clauses.size)})
        first = int(np.argmin(clauses))
        feedback = (
            f"Wrong: {int(clauses.sum())} of {clauses.size} clauses hold; clause {first + 1} "
            f"{self.formula.clause_text(first)} is false."
            if read
            else "No assignment found: write values like x1=True, x2=False."
        )
        return Grade(0.0, read > 0, feedback, {"clauses_satisfied": int(clauses.sum())})
