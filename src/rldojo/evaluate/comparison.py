"""What a comparison found: the result `rldojo compare` builds and the renderers print."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rldojo.evaluate.pareto import SubsetWeighting
from rldojo.evaluate.sources import Cell

Metric = Literal["return", "success"]
METRICS: tuple[str, ...] = ("return", "success")


@dataclass(frozen=True)
class CompareResult:
    """Everything compare found and wrote."""

    labels: tuple[str, ...]
    """Model names, baseline first when there is one."""
    sources: dict[str, str]
    """Where each model's numbers came from (eval.json, or trial.json over sessions)."""
    kind: str
    """What every model's numbers measure: `evaluation` (eval.json) or `training` (trial.json)."""
    envs: tuple[str, ...]
    """Envs compared: those every model has."""
    dropped: dict[str, tuple[str, ...]]
    """Env left out -> the models without the metric on it (not evaluated there, or no success rate)."""
    metric: Metric
    level: float
    epsilon: float
    ci_aware: bool
    baseline: str | None
    cells: dict[str, dict[str, Cell]]
    """model -> env -> value, interval, sample count."""
    winners: dict[str, tuple[str, ...]]
    """env -> models not beaten on it (★ in the table)."""
    dominance: tuple[tuple[str, str], ...]
    """(A, B) for every A that dominates B."""
    frontier: tuple[str, ...]
    """Models no other model dominates."""
    weighting: SubsetWeighting | None
    """Affine subset weighting; None beyond MAX_SUBSET_ENVS envs."""
    png_path: Path
    markdown_path: Path
    json_path: Path
    markdown: str
    bar_count: int
    """Bars drawn in the PNG (models x envs)."""
    curve_count: int
    """Training curves drawn in the PNG (one per run folder with session metrics)."""
