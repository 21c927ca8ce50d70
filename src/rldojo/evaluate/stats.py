"""Per-env metrics over evaluation episodes, with intervals users can trust.

The rules, which are also the reference for the numbers in eval.json:

- Every return must be a finite number and every env needs at least one episode; anything else is
  an EvaluationError, never a silently wrong mean.
- Success: the env's own flags (0/1 or true/false) when it gives one for every episode. Without
  flags, on score tasks (every return lies in [0, 1]) an episode succeeds when its score is
  non-zero. Otherwise (CartPole returns 500, MountainCar returns -110) success is undefined (None).
- A task is binary when every return is 0 or 1; then accuracy = mean return = success rate.
- std is the sample standard deviation (ddof=1): undefined (None) for a single episode.
- Intervals: Jeffreys, Beta(0.5 + k, 0.5 + n - k), for success rates, and for the mean return of
  binary tasks (that mean is a proportion); a seeded BCa bootstrap for other mean returns; a
  Student t interval for a handful of per-seed values (sessions of a training run). The Jeffreys
  bounds are the equal-tailed Beta quantiles (80% = 10th and 90th percentiles), with the standard
  boundary rule (Brown, Cai and DasGupta 2001): the lower bound is 0 when k = 0 and the upper bound
  is 1 when k = n. Without it the interval would exclude the observed rate (1.0 above an upper bound
  of 0.97) and its coverage would collapse for rates near 0 or 1. A mean of one value has no
  interval: its bounds are None with a note.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from numbers import Real
from typing import Literal

import numpy as np
from scipy import stats as sps

from rldojo.evaluate._base import ResultModel
from rldojo.evaluate.errors import EvaluationError

DEFAULT_LEVEL = 0.8
"""Default two-sided confidence level: the 10th to 90th percentile."""
DEFAULT_RESAMPLES = 10_000
"""Bootstrap resamples: the interval bounds move by well under 1% of their width between seeds."""
_BOOTSTRAP_CELLS = 4_000_000  # resamples x samples held in memory at once (32 MB of float64)

IntervalMethod = Literal["jeffreys", "bootstrap", "t", "none", "range"]
SuccessSource = Literal["flag", "nonzero_score"]


class Interval(ResultModel):
    """A two-sided confidence interval; both bounds are None where no interval exists."""

    low: float | None
    """Lower bound, or None when undefined (see note)."""
    high: float | None
    """Upper bound, or None when undefined (see note)."""
    level: float
    """Two-sided confidence level, e.g. 0.8 for the 10th to 90th percentile."""
    method: IntervalMethod
    """How it was computed: jeffreys (Beta posterior), bootstrap (BCa), t (Student), range (min to
    max of a few values, where an interval for the mean would mean little), none."""
    note: str | None = None
    """Why the interval is undefined or degenerate, when it is."""

    @property
    def defined(self) -> bool:
        """Whether both bounds exist."""
        return self.low is not None and self.high is not None


class EnvMetrics(ResultModel):
    """What one env's evaluation episodes say, with intervals."""

    env: str
    """The env id, e.g. CartPole-v1 or dojo/TextCraft-v0."""
    episodes: int
    """Number of episodes (samples) behind every number here."""
    mean_return: float
    """Mean episode return (mean score)."""
    std_return: float | None
    """Sample standard deviation of the returns (ddof=1); None for a single episode."""
    median_return: float
    """Median episode return."""
    min_return: float
    """Lowest episode return."""
    max_return: float
    """Highest episode return."""
    return_ci: Interval
    """Interval for the mean return: Jeffreys on binary tasks, BCa bootstrap otherwise."""
    binary: bool
    """Every return is 0 or 1 (a right/wrong task)."""
    accuracy: float | None
    """Share of episodes scored 1 on binary tasks; None otherwise."""
    success_source: SuccessSource | None
    """Where success comes from: the env's flags, or non-zero scores on a [0, 1] score task."""
    successes: int | None
    """Successful episodes; None where success is undefined."""
    success_rate: float | None
    """successes / episodes; None where success is undefined."""
    success_ci: Interval | None
    """Jeffreys interval for the success rate; None where success is undefined."""
    mean_length: float | None
    """Mean episode length in steps (turns for text worlds); None when lengths were not given."""


class AggregateMetrics(ResultModel):
    """Numbers over all envs of an evaluation."""

    envs: int
    """Number of envs."""
    episodes: int
    """Episodes over all envs."""
    weighted_mean_return: float
    """Mean over all episodes pooled (envs weighted by their episode counts). Only meaningful when
    the envs share a score scale, e.g. [0, 1] text-world scores."""
    macro_mean_return: float
    """Unweighted mean of the per-env mean returns."""
    success_envs: list[str]
    """Envs where success is defined; the overall success rate pools exactly these."""
    success_episodes: int
    """Episodes of the envs in success_envs."""
    successes: int | None
    """Successful episodes over success_envs; None when no env defines success."""
    success_rate: float | None
    """Overall success rate: successes / success_episodes (each env weighted by its episodes)."""
    success_ci: Interval | None
    """Jeffreys interval for the overall success rate."""


def check_level(level: float) -> float:
    """Return `level` as a float if it is a usable two-sided confidence level, else raise."""
    ok = isinstance(level, Real) and not isinstance(level, bool) and 0.0 < level < 1.0
    if not ok:
        raise EvaluationError(
            f"Confidence level {level!r} is not allowed: give a number strictly between 0 and 1, "
            "e.g. 0.8 for an 80% interval (10th to 90th percentile) or 0.95."
        )
    return float(level)


def finite_values(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """`values` as a 1-D float array; raise if it is empty or holds NaN, infinity or non-numbers."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise EvaluationError(f"{what}: the values are not all numbers ({error}).") from None
    if array.ndim != 1:
        raise EvaluationError(f"{what}: expected a flat list of numbers, got shape {array.shape}.")
    if array.size == 0:
        raise EvaluationError(f"{what}: no values. At least one episode is needed for a number.")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise EvaluationError(
            f"{what}: {bad.size} of {array.size} values are NaN or infinite (first at position "
            f"{int(bad[0])}). An undefined score cannot be averaged; fix what produced it or drop "
            "those episodes explicitly."
        )
    return array


def jeffreys_interval(successes: int, n: int, level: float = DEFAULT_LEVEL) -> Interval:
    """Jeffreys interval for a success rate: equal-tailed quantiles of Beta(0.5+k, 0.5+n-k).

    The lower bound is 0 when successes = 0 and the upper bound is 1 when successes = n (the
    standard boundary rule; see the module docstring).
    """
    level = check_level(level)
    integral = all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in (successes, n))
    if not integral or n < 1 or not 0 <= successes <= n:
        raise EvaluationError(
            f"Jeffreys interval needs whole counts with 0 <= successes <= n and n >= 1; got "
            f"successes={successes!r}, n={n!r}."
        )
    tail = (1.0 - level) / 2.0
    low, high = sps.beta.ppf([tail, 1.0 - tail], 0.5 + successes, 0.5 + n - successes)
    low = 0.0 if successes == 0 else float(low)
    high = 1.0 if successes == n else float(high)
    return Interval(low=low, high=high, level=level, method="jeffreys")


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    level: float = DEFAULT_LEVEL,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """BCa bootstrap interval for the mean of `values` (scipy, vectorized, seeded)."""
    level = check_level(level)
    sample = finite_values(values, "bootstrap interval")
    if sample.size < 2:
        return Interval(low=None, high=None, level=level, method="none", note="one sample: no interval")
    if np.ptp(sample) == 0.0:
        value = float(sample[0])
        return Interval(low=value, high=value, level=level, method="bootstrap", note="all values equal")
    batch = max(1, min(n_resamples, _BOOTSTRAP_CELLS // sample.size))
    for method in ("BCa", "percentile"):  # BCa can be undefined on odd data; percentile never is
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = sps.bootstrap(
                (sample,),
                np.mean,
                confidence_level=level,
                n_resamples=n_resamples,
                method=method,
                vectorized=True,
                batch=batch,
                rng=np.random.default_rng(seed),
            )
        low, high = (float(b) for b in result.confidence_interval)
        if np.isfinite(low) and np.isfinite(high):
            note = None if method == "BCa" else "BCa undefined; percentile bootstrap"
            return Interval(low=low, high=high, level=level, method="bootstrap", note=note)
    raise AssertionError("percentile bootstrap of finite values gave a non-finite bound")


#: Below this many values (e.g. training sessions) `sessions_interval` gives their range.
MIN_VALUES_FOR_INTERVAL = 5


def sessions_interval(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> Interval:
    """An interval for the mean of a few values (one per training session) that stays within the
    data, so a bounded score gets bounded bounds: the range (min to max) under
    `MIN_VALUES_FOR_INTERVAL` values, else the bootstrap interval of the mean."""
    level = check_level(level)
    sample = finite_values(values, "sessions interval")
    if sample.size < 2:
        return Interval(low=None, high=None, level=level, method="none", note="one sample: no interval")
    if sample.size < MIN_VALUES_FOR_INTERVAL:
        note = f"{sample.size} values: their range, not a confidence interval"
        return Interval(low=float(sample.min()), high=float(sample.max()), level=level, method="range", note=note)
    return bootstrap_mean_interval(sample, level)


def t_mean_interval(values: Sequence[float] | np.ndarray, level: float = DEFAULT_LEVEL) -> Interval:
    """Student t interval for the mean of a few values (e.g. one final return per training seed)."""
    level = check_level(level)
    sample = finite_values(values, "t interval")
    if sample.size < 2:
        return Interval(low=None, high=None, level=level, method="none", note="one sample: no interval")
    mean = float(sample.mean())
    sem = float(sample.std(ddof=1)) / np.sqrt(sample.size)
    if sem == 0.0:
        return Interval(low=mean, high=mean, level=level, method="t", note="all values equal")
    low, high = sps.t.interval(level, df=sample.size - 1, loc=mean, scale=sem)
    return Interval(low=float(low), high=float(high), level=level, method="t")


def success_outcomes(
    returns: np.ndarray, flags: Sequence[float | bool | None] | None, what: str
) -> tuple[np.ndarray | None, SuccessSource | None]:
    """Per-episode success (bool array) and its source, following the module's rule."""
    if flags is not None:
        marks = np.array([np.nan if f is None else float(f) for f in flags], dtype=float)
        given = ~np.isnan(marks)
        if given.any():
            if marks.size != returns.size:
                raise EvaluationError(
                    f"{what}: {marks.size} success flags for {returns.size} episodes; give one per episode."
                )
            if not given.all():
                raise EvaluationError(
                    f"{what}: success is given for {int(given.sum())} of {marks.size} episodes. "
                    "Give it for every episode, or for none (then score tasks count non-zero scores)."
                )
            if not np.isin(marks, (0.0, 1.0)).all():
                odd = marks[~np.isin(marks, (0.0, 1.0))][0]
                raise EvaluationError(f"{what}: success flag {odd!r} is not allowed; flags are 0/1 or false/true.")
            return marks == 1.0, "flag"
    if ((returns >= 0.0) & (returns <= 1.0)).all():
        return returns != 0.0, "nonzero_score"
    return None, None


def env_metrics(
    env: str,
    returns: Sequence[float] | np.ndarray,
    *,
    success: Sequence[float | bool | None] | None = None,
    lengths: Sequence[float] | np.ndarray | None = None,
    level: float = DEFAULT_LEVEL,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> EnvMetrics:
    """Metrics of one env's episodes: returns, optional success flags and lengths, one per episode."""
    level = check_level(level)
    what = f"env {env!r}"
    values = finite_values(returns, f"{what} returns")
    outcomes, source = success_outcomes(values, success, what)
    mean_length = None
    if lengths is not None:
        steps = finite_values(lengths, f"{what} lengths")
        if steps.size != values.size:
            raise EvaluationError(f"{what}: {steps.size} lengths for {values.size} returns.")
        mean_length = float(steps.mean())

    n = int(values.size)
    binary = bool(np.isin(values, (0.0, 1.0)).all())
    if binary:
        return_ci = jeffreys_interval(int(values.sum()), n, level)
    else:
        return_ci = bootstrap_mean_interval(values, level, n_resamples=n_resamples, seed=seed)
    successes = None if outcomes is None else int(outcomes.sum())
    return EnvMetrics(
        env=env,
        episodes=n,
        mean_return=float(values.mean()),
        std_return=float(values.std(ddof=1)) if n > 1 else None,
        median_return=float(np.median(values)),
        min_return=float(values.min()),
        max_return=float(values.max()),
        return_ci=return_ci,
        binary=binary,
        accuracy=float(values.mean()) if binary else None,
        success_source=source,
        successes=successes,
        success_rate=None if successes is None else successes / n,
        success_ci=None if successes is None else jeffreys_interval(successes, n, level),
        mean_length=mean_length,
    )


def aggregate_metrics(metrics: Sequence[EnvMetrics], level: float = DEFAULT_LEVEL) -> AggregateMetrics:
    """Pool per-env metrics: envs weighted by their episode counts, overall success rate with CI."""
    level = check_level(level)
    if not metrics:
        raise EvaluationError("Nothing to aggregate: no env was evaluated.")
    names = [m.env for m in metrics]
    if len(set(names)) != len(names):
        raise EvaluationError(f"Each env may appear once in an aggregate; got {names}.")
    counts = np.array([m.episodes for m in metrics], dtype=float)
    means = np.array([m.mean_return for m in metrics])
    scored = [m for m in metrics if m.successes is not None]
    successes = sum(m.successes for m in scored) if scored else None  # type: ignore[misc]
    success_episodes = sum(m.episodes for m in scored)
    return AggregateMetrics(
        envs=len(metrics),
        episodes=int(counts.sum()),
        weighted_mean_return=float((counts * means).sum() / counts.sum()),
        macro_mean_return=float(means.mean()),
        success_envs=[m.env for m in scored],
        success_episodes=success_episodes,
        successes=successes,
        success_rate=None if successes is None else successes / success_episodes,
        success_ci=None if successes is None else jeffreys_interval(successes, success_episodes, level),
    )
