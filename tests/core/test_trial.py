import math

import pytest

from rldojo.run.trial import mean_ci


def test_mean_ci_is_the_t_interval_computed_by_hand():
    agg = mean_ci([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # 1.2909944
    half = 3.182446305284263 * std / 2  # t(0.975, df=3) * s / sqrt(4)
    assert agg["mean"] == 2.5 and agg["std"] == pytest.approx(std)
    assert (agg["ci_low"], agg["ci_high"]) == (pytest.approx(2.5 - half), pytest.approx(2.5 + half))


def test_mean_ci_with_one_or_no_value_has_no_interval():
    assert mean_ci([7.0]) == {"mean": 7.0, "std": None, "ci_low": None, "ci_high": None, "n": 1, "level": 0.95}
    assert mean_ci([None, float("nan")])["mean"] is None
