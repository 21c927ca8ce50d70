"""One number over a trial's sessions, with an interval that means something at small n."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rldojo.evaluate.stats import MIN_VALUES_FOR_INTERVAL, sessions_interval

#: Re-exported for reports: below this many sessions the interval is their range.
MIN_SESSIONS_FOR_INTERVAL = MIN_VALUES_FOR_INTERVAL


def mean_ci(values: list[float | None], level: float = 0.95) -> dict[str, Any]:
    """Mean over sessions with `evaluate.stats.sessions_interval`: the sessions' range under
    `MIN_VALUES_FOR_INTERVAL` sessions, else the bootstrap interval of the mean (both stay within
    the data). `method` says which."""
    clean = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": None, "std": None, "ci_low": None, "ci_high": None, "n": 0, "level": level, "method": "none"}
    interval = sessions_interval(clean, level)
    return {
        "mean": float(np.mean(clean)),
        "std": float(np.std(clean, ddof=1)) if len(clean) > 1 else None,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "n": len(clean),
        "level": level,
        "method": interval.method,
    }


def describe_interval(agg: dict[str, Any]) -> str:
    """`range of 3 sessions` / `95% bootstrap interval over 8 sessions` / `one session`."""
    if agg.get("method") == "range":
        return f"range of {agg['n']} sessions"
    if agg.get("method") == "bootstrap":
        return f"{agg['level']:.0%} bootstrap interval over {agg['n']} sessions"
    return "one session" if agg.get("n") == 1 else "no sessions"
