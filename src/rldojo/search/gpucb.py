"""GP-UCB over a finite candidate set (Srinivas, Krause, Kakade and Seeger, 2010).

Each round t picks the candidate x that maximises mu(x) + sqrt(beta_t) * sigma(x), where mu and sigma
are a Gaussian process's posterior mean and standard deviation given the observations so far, and

    beta_t = 2 log(|D| t^2 pi^2 / (6 delta))

(their Theorem 1 for a finite set D: with probability 1 - delta the regret grows sublinearly). The
objective is only ever called on candidates, so any expensive evaluation fits: training an agent
for a budget, running a workflow and scoring it.

```python
from rldojo.search.gpucb import maximize

result = maximize(lambda index: score(candidates[index]), features, rounds=20, delta=0.1, seed=0)
result.best  # the candidate with the highest posterior mean among those tried
```

The Gaussian process is scikit-learn's: a constant times a Matern 5/2 kernel (one length scale per
feature) plus white noise for noisy objectives, its hyperparameters fitted by maximum likelihood
each round. Features are scaled to [0, 1] over the candidate set first, and the scores are
standardised inside the model (`normalize_y`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel


def ucb_beta(t: int, candidates: int, delta: float) -> float:
    """beta_t = 2 log(|D| t^2 pi^2 / (6 delta)) for round t (from 1) over |D| = `candidates`."""
    if t < 1 or candidates < 1 or not 0 < delta < 1:
        raise ValueError(f"ucb_beta needs t >= 1, candidates >= 1 and 0 < delta < 1 (got {t}, {candidates}, {delta})")
    return 2.0 * math.log(candidates * t**2 * math.pi**2 / (6.0 * delta))


def scale_features(features: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """(candidates, features) scaled to [0, 1] per feature (a constant feature becomes 0)."""
    x = np.asarray(features, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError("features must be a non-empty (candidates, features) array of finite numbers")
    low, span = x.min(axis=0), np.ptp(x, axis=0)
    return (x - low) / np.where(span > 0, span, 1.0)


class GPUCB:
    """The GP-UCB state over one candidate set: `suggest()` the next candidate, `tell(index, value)` what
    it scored (higher is better), `posterior()` the model, `best()` the recommendation."""

    def __init__(
        self,
        features: Sequence[Sequence[float]] | np.ndarray,
        delta: float = 0.1,
        seed: int = 0,
        restarts: int = 0,
    ) -> None:
        self.x = scale_features(features)
        self.delta = delta
        self.rng = np.random.default_rng(seed)
        dims = self.x.shape[1]
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            length_scale=np.full(dims, 0.3), length_scale_bounds=(0.1, 10.0), nu=2.5
        ) + WhiteKernel(1e-2, (1e-6, 1.0))
        self.gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, n_restarts_optimizer=restarts, random_state=seed
        )
        self.indices: list[int] = []
        self.values: list[float] = []

    @property
    def size(self) -> int:
        """|D|, the number of candidates."""
        return len(self.x)

    def tell(self, index: int, value: float) -> None:
        """Candidate `index` scored `value` (one noisy observation; a candidate may be told several)."""
        if not 0 <= index < self.size:
            raise IndexError(f"candidate {index} is not one of the {self.size}")
        if not math.isfinite(value):
            raise ValueError(f"candidate {index} scored {value}; GP-UCB needs finite scores")
        self.indices.append(int(index))
        self.values.append(float(value))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a few points rarely pin every length scale
            self.gp.fit(self.x[self.indices], np.asarray(self.values))

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation) at every candidate; before any observation (0, 1) everywhere."""
        if not self.values:
            return np.zeros(self.size), np.ones(self.size)
        mean, std = self.gp.predict(self.x, return_std=True)
        return mean, std

    def beta(self) -> float:
        """beta_t of the next round."""
        return ucb_beta(len(self.values) + 1, self.size, self.delta)

    def scores(self) -> np.ndarray:
        """mu + sqrt(beta_t) sigma at every candidate, for the next round."""
        mean, std = self.posterior()
        return mean + math.sqrt(self.beta()) * std

    def suggest(self) -> int:
        """The next candidate: the highest upper confidence bound, ties broken at random."""
        scores = self.scores()
        ties = np.flatnonzero(scores >= scores.max() - 1e-12)
        return int(self.rng.choice(ties))

    def best(self) -> int:
        """The recommendation: the candidate tried so far with the highest posterior mean."""
        if not self.values:
            raise ValueError("no candidate has been tried yet")
        mean, _ = self.posterior()
        tried = sorted(set(self.indices))
        return tried[int(np.argmax(mean[tried]))]


@dataclass
class GPUCBResult:
    """What `maximize` did: each round's pick and score, and the recommendation."""

    picks: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    recommendations: list[int] = field(default_factory=list)
    """The recommended candidate after each round (simple regret is judged on these)."""
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def best(self) -> int:
        return self.recommendations[-1]


def maximize(
    objective: Callable[[int], float],
    features: Sequence[Sequence[float]] | np.ndarray,
    rounds: int,
    delta: float = 0.1,
    seed: int = 0,
    on_round: Callable[[int, int, float, GPUCB], None] | None = None,
) -> GPUCBResult:
    """Run GP-UCB for `rounds` rounds: each calls `objective(index)` on the chosen candidate (higher is
    better; negate a cost). `on_round(round, index, value, model)` is called after each round."""
    model = GPUCB(features, delta=delta, seed=seed)
    result = GPUCBResult()
    for round_ in range(1, rounds + 1):
        index = model.suggest()
        value = float(objective(index))
        model.tell(index, value)
        result.picks.append(index)
        result.values.append(value)
        result.recommendations.append(model.best())
        if on_round is not None:
            on_round(round_, index, value, model)
    result.mean, result.std = model.posterior()
    return result
