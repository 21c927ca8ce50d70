"""`rldojo compare`: judge models (eval.json files or run folders) env by env, with honest intervals.

Outputs in the out folder: compare.png (bars with CI whiskers per env; training curves for run
folders), compare.md (a markdown block for reports) and compare.json (the same numbers for tools).
The console gets a rich table: value and interval per env, the winner of each env marked with ★,
the Pareto frontier, every dominance relation and the Affine subset-weight share of each model.

The winners of an env are the models no other model beats there under the chosen relation
(epsilon margin or CI-aware), so overlapping intervals in CI-aware mode mark several winners.
Models are compared on the envs they all have; the others are named as dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from loguru import logger
from rich.console import Console
from rich.markup import escape

from rldojo.evaluate.comparison import METRICS, CompareResult, Metric
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.pareto import (
    MAX_SUBSET_ENVS,
    Score,
    check_epsilon,
    dominance_pairs,
    pareto_frontier,
    subset_weights,
)
from rldojo.evaluate.plots import plot_comparison
from rldojo.evaluate.render import comparison_markdown, comparison_table, relation_lines, summary_json
from rldojo.evaluate.sources import Cell, ModelResults, load_model_results
from rldojo.evaluate.stats import DEFAULT_LEVEL, check_level


def _check_like_with_like(models: list[ModelResults]) -> None:
    """Evaluations (episodes played by `rldojo eval`) and training return MAs measure different
    things (greedy play on fresh episodes vs exploring policies during training, and many episodes
    vs one value per session): compare one kind only."""
    kinds = {model.kind for model in models}
    if len(kinds) == 1:
        return
    trained = ", ".join(str(m.path) for m in models if m.kind == "training")
    evaluated = ", ".join(str(m.path) for m in models if m.kind == "evaluation")
    raise EvaluationError(
        f"compare takes like with like, but {evaluated} hold evaluations (eval.json: episodes played by "
        f"`rldojo eval`) while {trained} hold only training return MAs (trial.json: one value per session). "
        f"Evaluate those runs first (`rldojo eval RUN` writes RUN/eval.json, which compare then uses), or "
        "compare run folders without eval.json only."
    )


def _unique_labels(models: list[ModelResults]) -> list[str]:
    seen: dict[str, int] = {}
    labels = []
    for model in models:
        count = seen.get(model.label, 0) + 1
        seen[model.label] = count
        labels.append(model.label if count == 1 else f"{model.label} ({count})")
    return labels


def _resolve_baseline(baseline: str | None, labels: list[str], models: list[ModelResults]) -> str | None:
    if baseline is None:
        return None
    for label, model in zip(labels, models):
        if baseline in (label, str(model.path), model.path.name) or Path(baseline) == model.path:
            return label
    raise EvaluationError(f"Baseline {baseline!r} is not one of the compared models: {', '.join(labels)}.")


def _cells_for(model: ModelResults, metric: Metric) -> dict[str, Cell]:
    return model.returns if metric == "return" else model.success


def _shared_envs(
    labels: list[str], models: list[ModelResults], metric: Metric
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    per_model = [_cells_for(model, metric) for model in models]
    every_env: list[str] = []
    for model in models:  # every evaluated env, so envs without the metric are reported as dropped
        every_env += [env for env in model.returns if env not in every_env]
    shared = [env for env in every_env if all(env in cells for cells in per_model)]
    dropped = {
        env: tuple(label for label, cells in zip(labels, per_model) if env not in cells)
        for env in every_env
        if env not in shared
    }
    if not shared:
        having = "; ".join(f"{label}: {', '.join(cells) or 'none'}" for label, cells in zip(labels, per_model))
        what = "envs" if metric == "return" else "envs with a defined success rate"
        raise EvaluationError(f"The models share no {what}, so there is nothing to compare ({having}).")
    return shared, dropped


def compare(
    paths: Sequence[Path],
    baseline: str | None = None,
    out_dir: Path = Path("compare"),
    level: float = DEFAULT_LEVEL,
    epsilon: float = 0.0,
    ci_aware: bool = False,
    *,
    metric: Metric = "return",
    seed: int = 0,
) -> CompareResult:
    """Compare eval.json files and/or run folders; write compare.png, compare.md and compare.json."""
    level = check_level(level)
    if metric not in METRICS:
        raise EvaluationError(f"Metric {metric!r} is not allowed; choose one of {', '.join(METRICS)}.")
    epsilon = check_epsilon(epsilon)
    if len(paths) < 2:
        raise EvaluationError(f"compare needs at least two eval.json files or run folders; got {len(paths)}.")
    models = [load_model_results(Path(p), level, seed=seed) for p in paths]
    _check_like_with_like(models)
    labels = _unique_labels(models)
    base = _resolve_baseline(baseline, labels, models)
    if base is not None:  # baseline first: it is the column every delta refers to
        order = sorted(range(len(labels)), key=lambda i: labels[i] != base)
        models, labels = [models[i] for i in order], [labels[i] for i in order]

    envs, dropped = _shared_envs(labels, models, metric)
    for env, lacking in dropped.items():
        logger.debug("compare: dropped env {} (no {} for {})", env, metric, ", ".join(lacking))
    cells = {label: {env: _cells_for(model, metric)[env] for env in envs} for label, model in zip(labels, models)}
    table = {
        label: {env: Score(c.value, c.interval.low, c.interval.high) for env, c in by_env.items()}
        for label, by_env in cells.items()
    }
    options = {"epsilon": epsilon, "ci_aware": ci_aware}
    winners = {env: tuple(pareto_frontier(table, [env], **options)) for env in envs}
    dominance = tuple(dominance_pairs(table, envs, **options))
    frontier = tuple(pareto_frontier(table, envs, **options))
    weighting = subset_weights(table, envs, **options) if len(envs) <= MAX_SUBSET_ENVS else None

    out_dir = Path(out_dir)
    png_path = out_dir / "compare.png"
    curves = {
        label: (model.curve_env or "training", model.curve)
        for label, model in zip(labels, models)
        if model.curve is not None
    }
    counts = plot_comparison(png_path, labels, envs, cells, winners, curves, metric, level)
    result = CompareResult(
        labels=tuple(labels),
        sources={label: model.source for label, model in zip(labels, models)},
        kind=models[0].kind,
        envs=tuple(envs),
        dropped=dropped,
        metric=metric,
        level=level,
        epsilon=epsilon,
        ci_aware=ci_aware,
        baseline=base,
        cells=cells,
        winners=winners,
        dominance=dominance,
        frontier=frontier,
        weighting=weighting,
        png_path=png_path,
        markdown_path=out_dir / "compare.md",
        json_path=out_dir / "compare.json",
        markdown="",
        bar_count=counts.bars,
        curve_count=counts.curves,
    )
    markdown = comparison_markdown(result)
    result.markdown_path.write_text(markdown, encoding="utf-8")
    result.json_path.write_text(json.dumps(summary_json(result), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    logger.info("compare: wrote {}, {} and {}", png_path, result.markdown_path, result.json_path)
    return replace(result, markdown=markdown)


def default_out_dir() -> Path:
    """runs/compare_<YYYYmmdd-HHMMSS>, next to the run folders."""
    return Path("runs") / f"compare_{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def compare_command(
    paths: Sequence[Path],
    baseline: str | None = None,
    out: Path | None = None,
    level: float = DEFAULT_LEVEL,
    epsilon: float = 0.0,
    ci_aware: bool = False,
    metric: str = "return",
    console: Console | None = None,
) -> int:
    """The CLI's compare: print the table and relations, write the outputs, return the exit code."""
    console = console or Console()
    result = compare(
        [Path(p) for p in paths],
        baseline=baseline,
        out_dir=out or default_out_dir(),
        level=level,
        epsilon=epsilon,
        ci_aware=ci_aware,
        metric=metric,  # type: ignore[arg-type]
    )
    console.print(comparison_table(result))
    frontier = ", ".join(result.frontier) or "empty (a dominance cycle)"
    console.print(f"Pareto frontier: {escape(frontier)}")
    console.print("dominance (A ≻ B: A dominates B):")
    for line in relation_lines(result):
        console.print(f"  {escape(line)}")
    for env, lacking in result.dropped.items():
        console.print(f"[yellow]dropped {escape(env)}[/]: no {result.metric} for {escape(', '.join(lacking))}")
    for label in result.labels:
        console.print(f"[dim]{escape(label)}: {escape(result.sources[label])}[/]")
    paths = f"figure: {result.png_path}\nmarkdown: {result.markdown_path}\nnumbers: {result.json_path}"
    console.print(escape(paths))
    return 0
