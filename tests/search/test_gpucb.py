"""GP-UCB over a finite candidate set, on a synthetic objective with a known optimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rldojo.search.gpucb import GPUCB, maximize, ucb_beta

GRID = np.linspace(0.0, 1.0, 10)
CANDIDATES = np.array([(a, b) for a in GRID for b in GRID])


def two_hills(points: np.ndarray) -> np.ndarray:
    """A global optimum (1.0) near (0.67, 0.33) and a lower hill (0.5) near (0.22, 0.78)."""
    x, y = points[:, 0], points[:, 1]
    return np.exp(-((x - 0.67) ** 2 + (y - 0.33) ** 2) / 0.03) + 0.5 * np.exp(
        -((x - 0.22) ** 2 + (y - 0.78) ** 2) / 0.02
    )


VALUES = two_hills(CANDIDATES)


def test_beta_is_srinivas_et_al_theorem_1():
    assert ucb_beta(1, 100, 0.1) == pytest.approx(2 * math.log(100 * math.pi**2 / 0.6))
    assert ucb_beta(4, 100, 0.1) - ucb_beta(1, 100, 0.1) == pytest.approx(2 * math.log(16))
    with pytest.raises(ValueError):
        ucb_beta(0, 100, 0.1)


def test_the_pick_is_the_highest_upper_confidence_bound():
    model = GPUCB(CANDIDATES, seed=0)
    for index in (0, 55, 99):
        model.tell(index, float(VALUES[index]))
    mean, std = model.posterior()
    bound = mean + math.sqrt(model.beta()) * std
    assert bound[model.suggest()] == pytest.approx(bound.max())
    assert model.best() in (0, 55, 99)


def test_simple_regret_shrinks_as_rounds_grow_and_ends_below_random_picks():
    rounds, seeds = 30, range(3)
    regret = np.zeros((len(seeds), rounds))
    for row, seed in enumerate(seeds):
        noise = np.random.default_rng(1000 + seed)
        result = maximize(
            lambda i, noise=noise: float(VALUES[i] + noise.normal(0, 0.05)), CANDIDATES, rounds, seed=seed
        )
        regret[row] = VALUES.max() - VALUES[result.recommendations]
    mean = regret.mean(axis=0)
    assert mean[29] < mean[9] < mean[3]
    # Random picks, recommending the best noisy observation: the expected simple regret after 30 rounds.
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(VALUES), size=(2000, rounds))
    observed = VALUES[picks] + rng.normal(0, 0.05, size=picks.shape)
    random_regret = (VALUES.max() - VALUES[picks[np.arange(2000), observed.argmax(axis=1)]]).mean()
    assert mean[29] < random_regret
