import math

import pytest

from rldojo.run.aggregate import describe_interval, mean_ci


def test_under_five_sessions_the_interval_is_the_sessions_range():
    """Two nearly equal sessions on a return bounded in [0, 500]: a t-interval over 2 values would
    run from about -540 to 1,250; the range stays inside the data."""
    agg = mean_ci([355.0, 356.8])
    assert agg["mean"] == pytest.approx(355.9) and agg["method"] == "range"
    assert (agg["ci_low"], agg["ci_high"]) == (355.0, 356.8)
    assert describe_interval(agg) == "range of 2 sessions"
    std = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # of 1, 2, 3, 4
    four = mean_ci([1.0, 2.0, 3.0, 4.0])
    assert four["std"] == pytest.approx(std) and (four["ci_low"], four["ci_high"]) == (1.0, 4.0)


def test_from_five_sessions_a_bootstrap_interval_within_the_data():
    values = [480.0, 500.0, 500.0, 420.0, 500.0, 460.0]
    agg = mean_ci(values)
    assert agg["method"] == "bootstrap" and describe_interval(agg) == "95% bootstrap interval over 6 sessions"
    assert min(values) <= agg["ci_low"] < agg["mean"] < agg["ci_high"] <= max(values)
    assert agg == mean_ci(values)  # seeded: the same interval every time


def test_mean_ci_with_one_or_no_value_has_no_interval():
    one = mean_ci([7.0])
    assert one["mean"] == 7.0 and one["ci_low"] is None and one["method"] == "none" and one["n"] == 1
    assert mean_ci([None, float("nan")])["mean"] is None


def test_the_trial_curve_band_stays_within_the_sessions():
    import numpy as np

    from rldojo.track.plots import band_label, mean_band

    frames = np.arange(0, 100, 10, dtype=float)
    two = [(frames, np.full(10, 480.0)), (frames, np.full(10, 500.0))]
    _, mean, low, high = mean_band(two)
    assert np.allclose(mean, 490.0) and np.allclose(low, 480.0) and np.allclose(high, 500.0)
    assert band_label(2) == "range of 2 sessions"
    many = [(frames, np.full(10, v)) for v in (420.0, 460.0, 480.0, 500.0, 500.0, 500.0)]
    _, mean, low, high = mean_band(many)
    assert np.all(low >= 420.0) and np.all(high <= 500.0) and np.all(low <= mean) and np.all(mean <= high)
