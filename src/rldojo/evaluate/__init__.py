"""Evaluation users can trust: per-env metrics with Jeffreys and bootstrap intervals, eval.json,
Pareto dominance and frontier, Affine subset weighting, and `rldojo compare`.

`rldojo compare` lives in rldojo.evaluate.compare (not imported here: it pulls in matplotlib).
"""

from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.pareto import Score, dominance_pairs, dominates, pareto_frontier, subset_weights
from rldojo.evaluate.results import EvalReport, build_eval_report, load_eval_json, write_eval_json
from rldojo.evaluate.stats import (
    DEFAULT_LEVEL,
    EnvMetrics,
    Interval,
    aggregate_metrics,
    bootstrap_mean_interval,
    env_metrics,
    jeffreys_interval,
    t_mean_interval,
)

__all__ = [
    "DEFAULT_LEVEL",
    "EnvMetrics",
    "EvalReport",
    "EvaluationError",
    "Interval",
    "Score",
    "aggregate_metrics",
    "bootstrap_mean_interval",
    "build_eval_report",
    "dominance_pairs",
    "dominates",
    "env_metrics",
    "jeffreys_interval",
    "load_eval_json",
    "pareto_frontier",
    "subset_weights",
    "t_mean_interval",
    "write_eval_json",
]
