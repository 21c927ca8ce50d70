"""Pareto dominance over envs, the frontier, and Affine-style subset weighting.

Higher is better on every env. Model A dominates model B on a set of envs when A is no worse than B
on every env and better on at least one:

- plain: no worse means a >= b - epsilon, better means a > b + epsilon (epsilon = 0: the textbook
  ">= everywhere and > somewhere"; a margin keeps noise-level differences from deciding);
- CI-aware: better means A's lower bound exceeds B's upper bound (by more than epsilon), and no
  worse means B is not better than A in that sense.

Both relations are antisymmetric: A and B never dominate each other. Identical scores never
dominate, so a copy of a model cannot beat it. With epsilon > 0 or intervals the relation need not
be transitive, and on three or more envs a dominance cycle can leave a set with no undominated model;
then the frontier is empty and that subset's weight goes to nobody (reported, never invented).

Subset weighting (as in the Affine subnet): every non-empty subset S of the envs is worth
K_S = scale * 2^|S|; the models not dominated by any other model on S win it and share K_S equally.
Winning larger subsets, i.e. being good everywhere at once, earns the most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from numbers import Real

import numpy as np

from rldojo.evaluate.errors import EvaluationError

MAX_SUBSET_ENVS = 16
"""Subset weighting enumerates 2^envs - 1 subsets; beyond this the count is impractical."""


@dataclass(frozen=True)
class Score:
    """One model's number on one env, with its interval bounds where known."""

    value: float
    low: float | None = None
    high: float | None = None


ScoreTable = Mapping[str, Mapping[str, Score]]
"""model name -> env id -> Score."""


@dataclass(frozen=True)
class SubsetWin:
    """Who won one subset of envs and what it was worth."""

    envs: tuple[str, ...]
    weight: float
    winners: tuple[str, ...]


@dataclass(frozen=True)
class SubsetWeighting:
    """Affine subset weighting: points per model, their shares, and every subset's winners."""

    points: dict[str, float]
    shares: dict[str, float]
    subsets: tuple[SubsetWin, ...]


@dataclass(frozen=True)
class _Relations:
    """Pairwise per-env relations: no_worse[i, j, e] and better[i, j, e] of model i over model j."""

    models: tuple[str, ...]
    envs: tuple[str, ...]
    no_worse: np.ndarray
    better: np.ndarray

    def dominated_by(self, env_mask: np.ndarray) -> np.ndarray:
        """[i, j]: model i dominates model j on the envs selected by `env_mask`."""
        return self.no_worse[:, :, env_mask].all(axis=2) & self.better[:, :, env_mask].any(axis=2)


def check_epsilon(epsilon: float) -> float:
    """`epsilon` as a float if it is a usable dominance margin (finite, >= 0), else raise."""
    if not isinstance(epsilon, Real) or isinstance(epsilon, bool) or not 0.0 <= epsilon < np.inf:
        raise EvaluationError(
            f"epsilon {epsilon!r} is not allowed: give a margin >= 0 in the metric's units (0 = plain dominance)."
        )
    return float(epsilon)


def _relations(table: ScoreTable, envs: Sequence[str] | None, epsilon: float, ci_aware: bool) -> _Relations:
    epsilon = check_epsilon(epsilon)
    models = tuple(table)
    if not models:
        raise EvaluationError("No models to compare.")
    env_ids = tuple(envs) if envs is not None else tuple(table[models[0]])
    if not env_ids:
        raise EvaluationError("No envs to compare on.")
    value = np.empty((len(models), len(env_ids)))
    low = np.empty_like(value)
    high = np.empty_like(value)
    for i, model in enumerate(models):
        for e, env in enumerate(env_ids):
            score = table[model].get(env)
            if score is None:
                raise EvaluationError(
                    f"Model {model!r} has no score on env {env!r}; compare models on the envs they "
                    "share (compare() does this and says which envs it dropped)."
                )
            if not np.isfinite(score.value):
                raise EvaluationError(f"Model {model!r} scores {score.value!r} on env {env!r}.")
            value[i, e] = score.value
            if ci_aware:
                if score.low is None or score.high is None:
                    raise EvaluationError(
                        f"CI-aware dominance needs an interval for every score, but model {model!r} "
                        f"has none on env {env!r} (a single episode or seed has no interval). "
                        "Evaluate more episodes or compare without --ci-aware."
                    )
                low[i, e], high[i, e] = score.low, score.high
    if ci_aware:
        # i is better than j where i's lower bound clears j's upper bound by more than epsilon.
        better = (low[:, None, :] - high[None, :, :]) > epsilon
        no_worse = ~better.transpose(1, 0, 2)
    else:
        gap = value[:, None, :] - value[None, :, :]
        better = gap > epsilon
        no_worse = gap >= -epsilon
    return _Relations(models, env_ids, no_worse, better)


def dominates(
    a: Mapping[str, Score],
    b: Mapping[str, Score],
    envs: Sequence[str] | None = None,
    *,
    epsilon: float = 0.0,
    ci_aware: bool = False,
) -> bool:
    """Whether scores `a` dominate scores `b` on `envs` (default: all of a's envs)."""
    relations = _relations({"a": a, "b": b}, envs if envs is not None else tuple(a), epsilon, ci_aware)
    return bool(relations.dominated_by(np.ones(len(relations.envs), dtype=bool))[0, 1])


def dominance_pairs(
    table: ScoreTable,
    envs: Sequence[str] | None = None,
    *,
    epsilon: float = 0.0,
    ci_aware: bool = False,
) -> list[tuple[str, str]]:
    """Every (winner, loser) pair where the winner dominates the loser, in table order."""
    relations = _relations(table, envs, epsilon, ci_aware)
    matrix = relations.dominated_by(np.ones(len(relations.envs), dtype=bool))
    return [(relations.models[i], relations.models[j]) for i, j in zip(*np.nonzero(matrix))]


def pareto_frontier(
    table: ScoreTable,
    envs: Sequence[str] | None = None,
    *,
    epsilon: float = 0.0,
    ci_aware: bool = False,
) -> list[str]:
    """The models no other model dominates, in table order."""
    relations = _relations(table, envs, epsilon, ci_aware)
    matrix = relations.dominated_by(np.ones(len(relations.envs), dtype=bool))
    return [m for m, beaten in zip(relations.models, matrix.any(axis=0)) if not beaten]


def subset_weights(
    table: ScoreTable,
    envs: Sequence[str] | None = None,
    *,
    scale: float = 1.0,
    epsilon: float = 0.0,
    ci_aware: bool = False,
) -> SubsetWeighting:
    """Affine subset weighting: each subset S is worth scale * 2^|S|, shared by its undominated models."""
    if not isinstance(scale, Real) or isinstance(scale, bool) or not 0.0 < scale < np.inf:
        raise EvaluationError(f"scale {scale!r} is not allowed: give a positive number.")
    relations = _relations(table, envs, epsilon, ci_aware)
    n_envs = len(relations.envs)
    if n_envs > MAX_SUBSET_ENVS:
        raise EvaluationError(
            f"Subset weighting over {n_envs} envs would enumerate 2^{n_envs} subsets; it allows at "
            f"most {MAX_SUBSET_ENVS} envs. Compare on fewer envs."
        )
    points = dict.fromkeys(relations.models, 0.0)
    wins = []
    for size in range(1, n_envs + 1):
        weight = float(scale) * 2.0**size
        for subset in combinations(range(n_envs), size):
            mask = np.zeros(n_envs, dtype=bool)
            mask[list(subset)] = True
            beaten = relations.dominated_by(mask).any(axis=0)
            winners = tuple(m for m, lost in zip(relations.models, beaten) if not lost)
            for model in winners:
                points[model] += weight / len(winners)
            wins.append(SubsetWin(tuple(relations.envs[e] for e in subset), weight, winners))
    total = sum(points.values())
    shares = {model: (p / total if total > 0 else 0.0) for model, p in points.items()}
    return SubsetWeighting(points=points, shares=shares, subsets=tuple(wins))
