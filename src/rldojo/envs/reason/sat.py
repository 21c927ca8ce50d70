"""`dojo/SAT-v0`: planted-solution random k-SAT, always satisfiable, verified with numpy.

Task t draws (from t alone) a number of variables n, a clause width k, a hidden assignment and
round(ratio * n) clauses of k distinct variables with random signs; then one literal of each
clause is flipped, if needed, to agree with the hidden assignment, so the formula is satisfiable
by construction. Formulas that the all-False or the all-True assignment satisfies are repaired
(one clause rewritten, see `without_constant_solutions`), so an answer that ignores the formula
never wins.

The answer is the reply without its <think> blocks; it may state `x3=True/False/1/0/T/F` anywhere
(the last value for a variable wins). Every variable x1..xn needs a value: an answer that leaves
one out scores 0, whatever the formula (so "I do not know." or a partial answer never wins).
Reward 1 iff every variable has a value and every clause holds; with `partial_credit=True` a
complete assignment that misses some clauses scores the share of clauses it satisfies (success
still needs all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rldojo.envs.errors import EnvInputError
from rldojo.envs.reason.answers import read_assignment, strip_thinking
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


def without_constant_solutions(formula: Formula, hidden: np.ndarray, rng: np.random.Generator) -> Formula:
    """The formula with one clause rewritten for each constant assignment (all False, all True)
    that satisfies it, so that neither does; the hidden assignment still satisfies it.

    A clause that all-False falsifies has only positive literals: it is rebuilt around a variable
    the hidden assignment sets True (plus k-1 other distinct variables, all positive); likewise an
    all-negative clause around a hidden False variable against all-True. Needs a hidden assignment
    with both values and, to repair both, two clauses; otherwise the formula is returned as is.
    """
    num_clauses, k = formula.variables.shape
    if hidden.all() or not hidden.any():
        return formula
    variables, negated = formula.variables.copy(), formula.negated.copy()
    for constant in (False, True):
        if Formula(formula.num_vars, variables, negated).satisfies(np.full(formula.num_vars, constant))[0]:
            # Keep at least one clause that the other constant assignment falsifies.
            against_other = np.flatnonzero((negated == (not constant)).all(axis=1))
            free = np.setdiff1d(np.arange(num_clauses), against_other if against_other.size == 1 else [])
            if free.size == 0:
                break
            clause = int(rng.choice(free))
            anchor = int(rng.choice(np.flatnonzero(hidden != constant)))
            others = [v for v in rng.permutation(formula.num_vars).tolist() if v != anchor][: k - 1]
            variables[clause] = [anchor, *others]
            # all-False falsifies an all-positive clause, all-True an all-negative one
            negated[clause] = constant
    return Formula(formula.num_vars, variables, negated)


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
        partial_credit: bool = False,
        render_mode: str | None = None,
    ):
        super().__init__(render_mode=render_mode)
        self.partial_credit = bool(partial_credit)
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
        for _ in range(64):  # a constant hidden assignment would make a constant answer correct
            formula, hidden = planted_formula(rng, num_vars, k, num_clauses)
            if num_vars < 2 or (hidden.any() and not hidden.all()):
                break
        self.hidden = hidden
        self.formula = without_constant_solutions(formula, hidden, rng)
        self._reference = format_assignment(self.hidden)
        instruction = (
            f"Find an assignment of the boolean variables x1 … x{num_vars} that satisfies this "
            f"{k}-CNF formula of {num_clauses} clauses (∨ is or, ∧ is and, ¬ is not):\n"
            f"{self.formula.text()}\n"
            f"Answer with a value for every variable, e.g. x1=True, x2=False, … "
            f"(an answer that leaves a variable out scores 0)."
        )
        return instruction, ""

    def _grade(self, reply: str) -> Grade:
        assert self.formula is not None
        values, assigned = read_assignment(strip_thinking(reply), self.formula.num_vars)
        # Clauses made true by the values actually given (a missing variable makes no literal true).
        literal_true = (values[self.formula.variables] != self.formula.negated) & assigned[self.formula.variables]
        clauses = literal_true.any(axis=1)
        details = {"clauses_satisfied": int(clauses.sum()), "variables_assigned": int(assigned.sum())}
        if not assigned.any():
            return Grade(
                0.0, False, "No assignment found: write a value for every variable, like x1=True, x2=False.", details
            )
        if not assigned.all():
            missing = [f"x{i + 1}" for i in np.flatnonzero(~assigned)]
            listed = ", ".join(missing[:10]) + (", …" if len(missing) > 10 else "")
            feedback = (
                f"Incomplete: {len(missing)} of {assigned.size} variables have no value ({listed}); "
                "every variable needs one."
            )
            return Grade(0.0, False, feedback, details)
        if clauses.all():
            return Grade(1.0, True, "Correct: every clause is satisfied.", details)
        first = int(np.argmin(clauses))
        feedback = (
            f"Wrong: {int(clauses.sum())} of {clauses.size} clauses hold; clause {first + 1} "
            f"{self.formula.clause_text(first)} is false."
        )
        # Opt-in partial credit: the share of clauses a complete assignment satisfies (success still
        # needs them all, and an incomplete answer still scores 0)
        return Grade(float(clauses.mean()) if self.partial_credit else 0.0, True, feedback, details)
