"""Per-env metrics and intervals, checked against independently computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special
from scipy import stats as sps

from rldojo.errors import UserError
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.stats import (
    aggregate_metrics,
    bootstrap_mean_interval,
    env_metrics,
    jeffreys_interval,
    t_mean_interval,
)

COUNTS = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (37, 100), (0, 500), (500, 500), (1, 2)]


@pytest.mark.parametrize("k,n", COUNTS)
@pytest.mark.parametrize("level", [0.8, 0.95, 0.5])
def test_jeffreys_matches_beta_quantiles(k: int, n: int, level: float) -> None:
    tail = (1 - level) / 2
    a, b = k + 0.5, n - k + 0.5
    interval = jeffreys_interval(k, n, level)
    # Boundary rule: 0 successes pin the lower bound to 0, n successes pin the upper bound to 1.
    if k == 0:
        assert interval.low == 0.0
    else:
        assert interval.low == pytest.approx(sps.beta.ppf(tail, a, b), rel=1e-12)
        # Independent of ppf: the Beta CDF (regularized incomplete beta) at the bound is the tail.
        assert special.betainc(a, b, interval.low) == pytest.approx(tail, rel=1e-9)
    if k == n:
        assert interval.high == 1.0
    else:
        assert interval.high == pytest.approx(sps.beta.ppf(1 - tail, a, b), rel=1e-12)
        assert special.betainc(a, b, interval.high) == pytest.approx(1 - tail, rel=1e-9)
    assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0
    assert interval.method == "jeffreys" and interval.level == level


def test_jeffreys_default_is_the_10th_and_90th_percentile() -> None:
    interval = jeffreys_interval(7, 20)
    assert interval.level == 0.8
    assert (interval.low, interval.high) == pytest.approx(tuple(sps.beta(7.5, 13.5).ppf([0.1, 0.9])))
    # At the boundaries the other bound is still the plain Beta quantile.
    assert jeffreys_interval(0, 20).high == pytest.approx(sps.beta.ppf(0.9, 0.5, 20.5))
    assert jeffreys_interval(20, 20).low == pytest.approx(sps.beta.ppf(0.1, 20.5, 0.5))

    # By hand for k = n = 1: Beta(1.5, 0.5) has CDF 1 - G(1 - x), where G, the CDF of Beta(0.5, 1.5),
    # is (2/pi) (asin(sqrt(y)) + sqrt(y (1 - y))) (substitute t = sin^2 theta). The 80% lower bound
    # solves G(1 - x) = 0.9; find it by root-finding on that closed form.
    def g(y: float) -> float:
        return 2 / np.pi * (np.arcsin(np.sqrt(y)) + np.sqrt(y * (1 - y)))

    by_hand = optimize.brentq(lambda x: g(1 - x) - 0.9, 1e-9, 1 - 1e-9, xtol=1e-14)
    assert jeffreys_interval(1, 1).low == pytest.approx(by_hand, rel=1e-9)


@pytest.mark.parametrize(
    "k,n,level",
    [
        (3, 2, 0.8),
        (-1, 5, 0.8),
        (0, 0, 0.8),
        (1.5, 3, 0.8),
        (1, 3, 1.0),
        (1, 3, 0.0),
        (1, 3, math.nan),
        (True, 3, 0.8),
    ],
)
def test_jeffreys_rejects_bad_counts_and_levels(k, n, level) -> None:
    with pytest.raises(EvaluationError) as caught:
        jeffreys_interval(k, n, level)
    assert isinstance(caught.value, UserError) and isinstance(caught.value, ValueError)


def test_t_interval_worked_by_hand() -> None:
    # values 1, 2, 3, 4: mean 2.5, s = sqrt(5/3) = 1.290994, sem = s / 2 = 0.645497;
    # t(0.90, df=3) = 1.637744 (t table), so the 80% interval is 2.5 -+ 1.057158.
    interval = t_mean_interval([1.0, 2.0, 3.0, 4.0], 0.8)
    assert interval.low == pytest.approx(2.5 - 1.637744 * 0.645497, abs=1e-5)
    assert interval.high == pytest.approx(2.5 + 1.637744 * 0.645497, abs=1e-5)
    assert interval.method == "t"
    single = t_mean_interval([3.0])
    assert single.low is None and single.high is None and not single.defined and "one sample" in single.note


def test_bootstrap_agrees_with_normal_theory_on_a_large_sample() -> None:
    values = np.random.default_rng(7).normal(100.0, 15.0, 2000)
    interval = bootstrap_mean_interval(values, 0.9, seed=3)
    half = sps.norm.ppf(0.95) * values.std(ddof=1) / np.sqrt(values.size)
    assert interval.low == pytest.approx(values.mean() - half, abs=0.06 * half)
    assert interval.high == pytest.approx(values.mean() + half, abs=0.06 * half)
    assert interval.method == "bootstrap"


def test_bootstrap_is_seeded_and_reproducible() -> None:
    values = np.random.default_rng(1).exponential(10.0, 60)
    first = bootstrap_mean_interval(values, seed=5)
    assert bootstrap_mean_interval(values, seed=5) == first
    other = bootstrap_mean_interval(values, seed=6)
    assert other != first
    width = first.high - first.low
    assert abs(other.low - first.low) < 0.05 * width and abs(other.high - first.high) < 0.05 * width


def test_bootstrap_edge_cases_are_flagged_not_invented() -> None:
    single = bootstrap_mean_interval([5.0])
    assert single.low is None and single.high is None and single.method == "none"
    flat = bootstrap_mean_interval([2.0, 2.0, 2.0])
    assert (flat.low, flat.high) == (2.0, 2.0) and flat.note == "all values equal"
    for bad in ([], [1.0, math.nan], [1.0, math.inf]):
        with pytest.raises(EvaluationError):
            bootstrap_mean_interval(bad)


def test_binary_task_metrics() -> None:
    metrics = env_metrics("dojo/Deduction-v0", [0, 1, 1, 0, 1], lengths=[1, 1, 1, 1, 1])
    assert metrics.binary and metrics.accuracy == pytest.approx(0.6)
    assert metrics.successes == 3 and metrics.success_rate == pytest.approx(0.6)
    assert metrics.success_source == "nonzero_score"
    expected = sps.beta.ppf([0.1, 0.9], 3.5, 2.5)
    assert (metrics.success_ci.low, metrics.success_ci.high) == pytest.approx(tuple(expected))
    assert metrics.return_ci.method == "jeffreys" and metrics.return_ci == metrics.success_ci
    assert metrics.std_return == pytest.approx(np.std([0, 1, 1, 0, 1], ddof=1))
    assert metrics.median_return == 1.0 and metrics.mean_length == 1.0


def test_classic_returns_have_no_success_unless_flagged() -> None:
    metrics = env_metrics("CartPole-v1", [10.0, 20.0, 30.0])
    assert metrics.success_rate is None and metrics.success_ci is None and metrics.successes is None
    assert not metrics.binary and metrics.accuracy is None
    assert metrics.mean_return == 20.0 and metrics.std_return == pytest.approx(10.0)
    assert metrics.median_return == 20.0 and (metrics.min_return, metrics.max_return) == (10.0, 30.0)
    assert metrics.return_ci.method == "bootstrap" and metrics.return_ci.low < 20.0 < metrics.return_ci.high

    flagged = env_metrics("LunarLander-v3", [200.0, 150.0, 250.0], success=[True, False, 1.0])
    assert flagged.success_source == "flag" and flagged.successes == 2
    assert flagged.success_rate == pytest.approx(2 / 3)


def test_score_task_success_is_the_share_of_nonzero_scores() -> None:
    metrics = env_metrics("dojo/SAT-v0", [0.0, 0.5, 0.2, 0.0], success=[None, None, math.nan, None])
    assert metrics.success_source == "nonzero_score" and metrics.successes == 2
    assert metrics.success_rate == 0.5 and not metrics.binary and metrics.accuracy is None


def test_single_sample_leaves_spread_and_interval_undefined() -> None:
    metrics = env_metrics("CartPole-v1", [42.0])
    assert metrics.episodes == 1 and metrics.mean_return == 42.0
    assert metrics.std_return is None and not metrics.return_ci.defined
    binary = env_metrics("dojo/SAT-v0", [1.0])
    assert binary.success_ci.defined  # a Jeffreys interval exists for n = 1 (it is just wide)
    assert binary.success_ci.high - binary.success_ci.low > 0.5


@pytest.mark.parametrize(
    "returns,success,match",
    [
        ([1.0, math.nan], None, "NaN or infinite"),
        ([], None, "no values"),
        ([1.0, 2.0], [True, None], "for every episode"),
        ([1.0, 2.0], [0.5, 1.0], "flags are 0/1"),
        ([1.0, 2.0], [True], "one per episode"),
        (["a", 1.0], None, "not all numbers"),
    ],
)
def test_bad_episode_data_is_an_error(returns, success, match) -> None:
    with pytest.raises(EvaluationError, match=match):
        env_metrics("X-v0", returns, success=success)


def test_aggregate_weights_envs_by_their_episodes() -> None:
    a = env_metrics("A", [1.0] * 4 + [0.0] * 6)  # 10 episodes, mean 0.4, 4 successes
    b = env_metrics("B", [0.5] * 15 + [0.0] * 15)  # 30 episodes, mean 0.25, 15 successes
    c = env_metrics("C", [100.0, 300.0])  # 2 episodes, mean 200, no success
    total = aggregate_metrics([a, b, c])
    assert total.episodes == 42 and total.envs == 3
    assert total.weighted_mean_return == pytest.approx((4.0 + 7.5 + 400.0) / 42)
    assert total.macro_mean_return == pytest.approx((0.4 + 0.25 + 200.0) / 3)
    assert total.success_envs == ["A", "B"] and total.success_episodes == 40
    assert total.successes == 19 and total.success_rate == pytest.approx(19 / 40)
    assert (total.success_ci.low, total.success_ci.high) == pytest.approx(tuple(sps.beta.ppf([0.1, 0.9], 19.5, 21.5)))
    assert aggregate_metrics([c]).success_rate is None
    with pytest.raises(EvaluationError):
        aggregate_metrics([])
    with pytest.raises(EvaluationError, match="once"):
        aggregate_metrics([a, a])
