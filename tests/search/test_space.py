"""Search spaces as Tune sees them, trial values as --set overrides, and stage-2 narrowing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rldojo.run.search_spec import Distribution, parse_distribution
from rldojo.search.space import decode, encode, extremes, narrow, overrides, param_space


def test_every_draw_is_a_value_the_spec_wrote():
    dims = {
        "lr": parse_distribution("loguniform(1e-4, 1e-2)"),
        "epochs": parse_distribution("randint(4, 6)"),
        "lam": parse_distribution("quniform(0.8, 1.0, 0.05)"),
        "hidden": parse_distribution("choice([[64, 64], [128, 128]])"),
    }
    space = param_space(dims)
    rng = np.random.default_rng(0)
    seen = {key: set() for key in dims}
    for _ in range(300):
        config = {key: domain.sample(random_state=rng) for key, domain in space.items()}
        values = decode(dims, config)
        assert 1e-4 <= values["lr"] <= 1e-2
        assert encode(dims, values)["hidden"] == config["hidden"]
        for key in ("epochs", "lam"):
            seen[key].add(values[key])
        seen["hidden"].add(tuple(values["hidden"]))
    assert seen["epochs"] == {4, 5, 6}  # randint includes hi
    assert seen["lam"] == {0.8, 0.85, 0.9, 0.95, 1.0}  # lo + k q, exactly
    assert seen["hidden"] == {(64, 64), (128, 128)}


def test_values_become_set_overrides_yaml_reads_back():
    assert overrides({"agent.optim.lr": 1e-5, "agent.net.hidden": [64, 64], "agent.optim.name": "adamw"}) == [
        "agent.optim.lr=1e-05",
        "agent.net.hidden=[64, 64]",
        'agent.optim.name="adamw"',
    ]


def test_extremes_are_the_ends_and_every_listed_value():
    assert extremes(parse_distribution("quniform(0.1, 0.32, 0.1)")) == [0.1, pytest.approx(0.3)]
    assert extremes(parse_distribution("grid([a, b])")) == ["a", "b"]


def test_a_log_range_narrows_around_the_best_in_log_scale():
    dim = parse_distribution("loguniform(1e-4, 1e-2)")
    narrowed = narrow(dim, 1e-3, 0.25)
    assert narrowed.kind == "loguniform"
    assert math.log(narrowed.high / narrowed.low) == pytest.approx(0.25 * math.log(100), rel=1e-3)
    assert math.sqrt(narrowed.low * narrowed.high) == pytest.approx(1e-3, rel=1e-3)  # centred in log scale


def test_a_best_value_at_an_edge_keeps_the_width_inside_the_old_range():
    narrowed = narrow(parse_distribution("uniform(0, 1)"), 0.98, 0.2)
    assert (narrowed.low, narrowed.high) == pytest.approx((0.8, 1.0))
    ints = narrow(parse_distribution("randint(1, 41)"), 2, 0.25)
    assert (ints.low, ints.high) == (1, 11)
    steps = narrow(parse_distribution("quniform(0, 1, 0.1)"), 0.5, 0.4)
    assert (steps.low, steps.high, steps.step) == pytest.approx((0.3, 0.7, 0.1))


def test_a_choice_keeps_the_values_of_the_best_trials():
    dim = Distribution("choice", values=(16, 32, 64, 128))
    assert narrow(dim, 64, 0.25, good_values=[64, 32, 64]).values == (32, 64)
    assert narrow(dim, 64, 0.25).values == (64,)
