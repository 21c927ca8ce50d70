"""Search spaces: Tune domains from `search.space`, trial values as `--set` overrides, checks, narrowing.

Tune sees plain numbers: a range as its own domain (`loguniform`, `uniform`, `randint`), quniform as
the integer k of lo + k*q (so every sampler draws exactly the grid the spec writes), and choice and
grid as the index of the value (so any value, even a list like [64, 64], can be chosen, and Optuna
treats it as a category). `decode` turns a trial's config back into the spec's values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from rldojo.errors import SpecError
from rldojo.run.search_spec import Distribution
from rldojo.run.spec import spec_from_raw

#: The config key of a pass over a grid (sampler grid with trials > 1): pass p trains with seed + p.
PASS_KEY = "_pass"


def tune_domain(dim: Distribution) -> Any:
    """The Ray Tune domain that draws `dim` (see the module docstring for the encoding)."""
    from ray import tune

    if dim.kind == "loguniform":
        return tune.loguniform(dim.low, dim.high)
    if dim.kind == "uniform":
        return tune.uniform(dim.low, dim.high)
    if dim.kind == "randint":
        return tune.randint(int(dim.low), int(dim.high) + 1)  # Tune's upper bound is exclusive
    if dim.kind == "quniform":
        return tune.randint(0, quniform_steps(dim) + 1)
    if dim.kind == "choice":
        return tune.choice(list(range(len(dim.values))))
    return tune.grid_search(list(range(len(dim.values))))


def quniform_steps(dim: Distribution) -> int:
    """The largest k with lo + k*q <= hi (a little slack for binary fractions such as 0.1)."""
    return int(math.floor((dim.high - dim.low) / dim.step + 1e-9))


def param_space(dims: Mapping[str, Distribution], passes: int = 1) -> dict[str, Any]:
    """Tune's param_space for the dimensions; `passes` > 1 repeats a grid with seeds seed, seed+1, ..."""
    from ray import tune

    space = {key: tune_domain(dim) for key, dim in dims.items()}
    if passes > 1:
        space[PASS_KEY] = tune.grid_search(list(range(passes)))
    return space


def decode(dims: Mapping[str, Distribution], config: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's config (as Tune drew it) -> {dotted key: the spec's value}."""
    values = {}
    for key, dim in dims.items():
        raw = config[key]
        if dim.discrete:
            values[key] = dim.values[int(raw)]
        elif dim.kind == "randint":
            values[key] = int(raw)
        elif dim.kind == "quniform":
            values[key] = float(round(dim.low + int(raw) * dim.step, 12))
        else:
            values[key] = float(raw)
    return values


def encode(dims: Mapping[str, Distribution], values: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `decode` (for points handed to a sampler)."""
    config = {}
    for key, dim in dims.items():
        value = values[key]
        if dim.discrete:
            config[key] = list(dim.values).index(value)
        elif dim.kind == "quniform":
            config[key] = int(round((value - dim.low) / dim.step))
        else:
            config[key] = value
    return config


def overrides(values: Mapping[str, Any]) -> list[str]:
    """`--set` texts for trial values: agent.optim.lr=0.0003, agent.net.hidden=[64, 64]."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def extremes(dim: Distribution) -> list[Any]:
    """The values at the ends of a dimension (every value of a choice or grid)."""
    if dim.discrete:
        return list(dim.values)
    if dim.kind == "randint":
        return [int(dim.low), int(dim.high)]
    if dim.kind == "quniform":
        return [dim.low, dim.low + quniform_steps(dim) * dim.step]
    return [dim.low, dim.high]


def check_space(raw: dict, dims: Mapping[str, Distribution], fixed: Mapping[str, Any] | None = None) -> None:
    """Each dimension must name a spec key that takes every value it can draw: the spec is validated
    with the ends of each range and every listed value (one dimension at a time, the others as the
    spec has them). A SpecError names the key, the value and what the spec says."""
    base = overrides(fixed or {})
    for key, dim in dims.items():
        for value in extremes(dim):
            try:
                spec_from_raw(raw, [*base, *overrides({key: value})], source="")
            except SpecError as exc:
                why = str(exc).removeprefix("invalid spec : ")
                raise SpecError(
                    f"search.space['{key}'] = {dim.text()} can draw {json.dumps(value)}, and the spec refuses "
                    f"it: {why} Fix the key or its range."
                ) from None


# ---- narrowing (stage 2 of the three-stage workflow) --------------------------------------------------
def narrow(dim: Distribution, best: Any, factor: float, good_values: list[Any] | None = None) -> Distribution:
    """The stage-2 dimension around the stage-1 `best`: a range keeps `factor` of its width, centred on
    `best` (in log scale for loguniform) and shifted to stay inside the old range; a choice or grid keeps
    `good_values` (the values the best trials had), or `best` alone."""
    if dim.discrete:
        kept = [value for value in dim.values if value in (good_values or [])] or [best]
        return Distribution(dim.kind, values=tuple(kept))
    if dim.kind == "randint":
        low, high = int(dim.low), int(dim.high)
        width = max(1, round((high - low) * factor))
        start = min(max(int(best) - width // 2, low), high - width)
        return Distribution("randint", start, start + width)
    if dim.kind == "quniform":
        steps = quniform_steps(dim)
        width = max(1, round(steps * factor))
        k = round((float(best) - dim.low) / dim.step)
        start = min(max(k - width // 2, 0), steps - width)
        return Distribution(
            "quniform", _tidy(dim.low + start * dim.step), _tidy(dim.low + (start + width) * dim.step), dim.step
        )
    log = dim.kind == "loguniform"
    scale = math.log if log else float
    back = math.exp if log else float
    low, high, centre = scale(dim.low), scale(dim.high), scale(float(best))
    width = (high - low) * factor
    start = min(max(centre - width / 2, low), high - width)
    new_low, new_high = back(start), back(start + width)
    tidy_low, tidy_high = _tidy(new_low), _tidy(new_high)
    if not tidy_low < tidy_high:  # rounding closed the range: keep the exact ends
        tidy_low, tidy_high = new_low, new_high
    return Distribution(dim.kind, max(tidy_low, dim.low), min(tidy_high, dim.high))


def _tidy(value: float) -> float:
    """Four significant digits: narrowed ranges stay readable in the spec."""
    return float(f"{value:.4g}")
