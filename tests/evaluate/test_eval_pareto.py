"""Dominance, frontier and subset weighting on constructed cases worked by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.pareto import Score, dominance_pairs, dominates, pareto_frontier, subset_weights


def scores(*values: float) -> dict[str, Score]:
    return {f"e{i + 1}": Score(v) for i, v in enumerate(values)}


def ci(value: float, low: float, high: float) -> Score:
    return Score(value, low, high)


def test_dominance_needs_no_worse_everywhere_and_better_somewhere() -> None:
    assert dominates(scores(1.0, 2.0), scores(1.0, 1.0))
    assert not dominates(scores(1.0, 1.0), scores(1.0, 2.0))
    assert not dominates(scores(2.0, 0.0), scores(0.0, 2.0))  # a trade-off: incomparable
    assert not dominates(scores(0.0, 2.0), scores(2.0, 0.0))


def test_ties_never_dominate() -> None:
    a, b = scores(0.5, 0.7, 0.1), scores(0.5, 0.7, 0.1)
    assert not dominates(a, b) and not dominates(b, a)


def test_epsilon_margin() -> None:
    # A is 0.05 better on e1 and equal on e2: dominance at eps 0, noise at eps 0.1.
    assert dominates(scores(1.05, 1.0), scores(1.0, 1.0), epsilon=0.0)
    assert not dominates(scores(1.05, 1.0), scores(1.0, 1.0), epsilon=0.1)
    # A is 0.5 better on e1 and 0.05 worse on e2: a slip within eps 0.1 is forgiven, not at eps 0.
    assert dominates(scores(1.5, 0.95), scores(1.0, 1.0), epsilon=0.1)
    assert not dominates(scores(1.5, 0.95), scores(1.0, 1.0), epsilon=0.0)
    # 0.3 worse is beyond the margin.
    assert not dominates(scores(1.5, 0.7), scores(1.0, 1.0), epsilon=0.1)


def test_ci_aware_dominance_needs_separated_intervals() -> None:
    a = {"e1": ci(0.8, 0.7, 0.9), "e2": ci(0.5, 0.4, 0.6)}
    overlapping = {"e1": ci(0.6, 0.5, 0.75), "e2": ci(0.5, 0.4, 0.6)}
    assert dominates(a, overlapping)  # plain: 0.8 > 0.6, tie on e2
    assert not dominates(a, overlapping, ci_aware=True)  # 0.7 < 0.75: not clearly better
    separated = {"e1": ci(0.5, 0.4, 0.6), "e2": ci(0.55, 0.45, 0.65)}
    assert dominates(a, separated, ci_aware=True)  # e1 separated; e2 overlaps (no worse)
    assert not dominates(separated, a, ci_aware=True)
    traded = {"e1": ci(0.5, 0.4, 0.6), "e2": ci(0.9, 0.85, 0.95)}
    assert not dominates(a, traded, ci_aware=True) and not dominates(traded, a, ci_aware=True)
    # A margin on top of separation: the gap 0.7 - 0.6 = 0.1 must exceed epsilon.
    assert not dominates(a, separated, ci_aware=True, epsilon=0.15)


def test_ci_aware_without_intervals_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="single episode"):
        dominates({"e1": ci(1.0, None, None)}, {"e1": ci(0.0, -1.0, 1.0)}, ci_aware=True)


@pytest.mark.parametrize(
    "a,b,kwargs,match",
    [
        (scores(1.0), {"other": Score(1.0)}, {}, "no score on env"),
        (scores(math.nan), scores(1.0), {}, "nan"),
        (scores(1.0), scores(1.0), {"epsilon": -0.1}, "epsilon"),
    ],
)
def test_bad_dominance_input(a, b, kwargs, match) -> None:
    with pytest.raises(EvaluationError, match=match):
        dominates(a, b, **kwargs)


FIVE = {
    "A": scores(0.9, 0.1),
    "B": scores(0.5, 0.5),
    "C": scores(0.1, 0.9),
    "D": scores(0.4, 0.4),  # dominated by B and by E
    "E": scores(0.5, 0.5),  # ties B: neither dominates, both stay on the frontier
}


def test_frontier_of_a_small_set() -> None:
    assert pareto_frontier(FIVE) == ["A", "B", "C", "E"]
    assert dominance_pairs(FIVE) == [("B", "D"), ("E", "D")]
    # On e1 alone A beats everyone; with a margin of 0.45 A only beats those 0.45 below it.
    assert pareto_frontier(FIVE, ["e1"]) == ["A"]
    assert pareto_frontier(FIVE, ["e1"], epsilon=0.45) == ["A", "B", "E"]


def test_relations_are_antisymmetric_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        table = {}
        for m in range(4):
            values = rng.integers(0, 4, 3) / 4
            table[f"m{m}"] = {f"e{e}": ci(v, v - 0.2, v + 0.2) for e, v in enumerate(values)}
        for eps, aware in itertools.product((0.0, 0.25), (False, True)):
            pairs = set(dominance_pairs(table, epsilon=eps, ci_aware=aware))
            assert not any((b, a) in pairs for a, b in pairs)


def test_subset_weighting_worked_by_hand() -> None:
    # Three models on two envs:   e1   e2
    #                         A  0.9  0.6
    #                         B  0.5  0.6
    #                         C  0.4  0.5
    # K_s = scale * 2^|s| with scale 1: the singletons are worth 2, the pair {e1, e2} is worth 4.
    # {e1}: A has the top score, so A alone is undominated: A += 2.
    # {e2}: A and B tie at 0.6 (neither dominates the other), both beat C: A += 1, B += 1.
    # {e1, e2}: A >= B and A >= C everywhere and > somewhere, so A dominates both: A += 4.
    # Totals: A = 2 + 1 + 4 = 7, B = 1, C = 0; shares 7/8, 1/8, 0.
    table = {"A": scores(0.9, 0.6), "B": scores(0.5, 0.6), "C": scores(0.4, 0.5)}
    weighting = subset_weights(table)
    assert weighting.points == pytest.approx({"A": 7.0, "B": 1.0, "C": 0.0})
    assert weighting.shares == pytest.approx({"A": 7 / 8, "B": 1 / 8, "C": 0.0})
    wins = {win.envs: (win.weight, win.winners) for win in weighting.subsets}
    assert wins == {("e1",): (2.0, ("A",)), ("e2",): (2.0, ("A", "B")), ("e1", "e2"): (4.0, ("A",))}

    # scale 0.5 halves every K_s and leaves the shares alone.
    half = subset_weights(table, scale=0.5)
    assert half.points == pytest.approx({"A": 3.5, "B": 0.5, "C": 0.0})
    assert half.shares == pytest.approx(weighting.shares)

    # With epsilon 0.15:
    # {e1}: A beats B (0.9 > 0.5 + 0.15) and C; B vs C (0.5 vs 0.4) is within the margin, but both
    #       lose to A, so A += 2.
    # {e2}: A-B tie, A vs C (0.6 vs 0.5) and B vs C are within the margin: nobody is dominated,
    #       all three share 2: A, B, C += 2/3.
    # {e1, e2}: A is no worse than B and C on e2 (within 0.15) and better by > 0.15 on e1: A += 4.
    # Totals: A = 2 + 2/3 + 4 = 20/3, B = 2/3, C = 2/3.
    margin = subset_weights(table, epsilon=0.15)
    assert margin.points == pytest.approx({"A": 20 / 3, "B": 2 / 3, "C": 2 / 3})


def test_a_dominance_cycle_leaves_the_subset_unwon() -> None:
    # With epsilon 1 on three envs, A beats B on e1, B beats C on e2, C beats A on e3, each within
    # the margin elsewhere: every model is dominated on the full set, so nobody wins it.
    table = {
        "A": scores(1.5, 0.9, 0.0),
        "B": scores(0.0, 1.5, 0.9),
        "C": scores(0.9, 0.0, 1.5),
    }
    assert set(dominance_pairs(table, epsilon=1.0)) == {("A", "B"), ("B", "C"), ("C", "A")}
    assert pareto_frontier(table, epsilon=1.0) == []
    weighting = subset_weights(table, epsilon=1.0)
    full = next(win for win in weighting.subsets if len(win.envs) == 3)
    assert full.winners == ()
    assert sum(weighting.points.values()) == pytest.approx(sum(w.weight for w in weighting.subsets if w.winners))


def test_subset_weighting_rejects_a_bad_scale() -> None:
    with pytest.raises(EvaluationError, match="scale"):
        subset_weights({"A": scores(1.0), "B": scores(0.0)}, scale=0.0)
