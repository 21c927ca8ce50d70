"""Render a comparison: the rich table, the markdown block for reports, the JSON summary."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from rldojo.evaluate.comparison import CompareResult
from rldojo.evaluate.sources import Cell

WINNER_MARK = "★"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    magnitude = abs(value)
    return f"{value:.1f}" if magnitude >= 100 else f"{value:.2f}" if magnitude >= 1 else f"{value:.3f}"


def _bounds_text(cell: Cell) -> str:
    interval = cell.interval
    return f"[{_fmt(interval.low)}, {_fmt(interval.high)}]" if interval.defined else "[no CI]"


def _cell_text(cell: Cell) -> str:
    return f"{_fmt(cell.value)} {_bounds_text(cell)}"


def _delta_text(cell: Cell, base: Cell) -> str:
    delta = cell.value - base.value
    return f"Δ {'+' if delta >= 0 else ''}{_fmt(delta)}"


def relation_lines(result: CompareResult) -> list[str]:
    lines = [f"{a} ≻ {b}" for a, b in result.dominance]
    return lines or ["no model dominates another"]


def comparison_table(result: CompareResult) -> Table:
    """The rich table: one row per env, one column per model, winners marked with ★."""
    mode = "CI-aware" if result.ci_aware else "plain"
    table = Table(
        title=f"compare {describe_kind(result)}: mean {result.metric} with {result.level:.0%} CI "
        f"({WINNER_MARK} = winner)",
        caption=f"dominance: {mode}, epsilon {result.epsilon:g}; n = samples behind each value",
    )
    table.add_column("env", style="bold")
    for label in result.labels:
        header = f"{label}\n(baseline)" if label == result.baseline else label
        table.add_column(escape(header), justify="right")
    for env in result.envs:
        row = [escape(env)]
        for label in result.labels:
            cell = result.cells[label][env]
            # Three short lines (value, interval, n and delta) keep columns narrow for many models.
            value = _fmt(cell.value)
            if label in result.winners[env]:
                value = f"[bold green]{value} {WINNER_MARK}[/]"
            extra = f"n={cell.n}"
            if result.baseline and label != result.baseline:
                extra += f" {_delta_text(cell, result.cells[result.baseline][env])}"
            row.append(f"{value}\n{escape(_bounds_text(cell))}\n[dim]{extra}[/]")
        table.add_row(*row)
    table.add_section()
    table.add_row("Pareto frontier", *["yes" if label in result.frontier else "—" for label in result.labels])
    if result.weighting is not None:
        shares = result.weighting.shares
        table.add_row("subset-weight share", *[f"{shares[label]:.0%}" for label in result.labels])
    return table


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def describe_kind(result: CompareResult) -> str:
    """What the compared numbers are, for the top of every output."""
    if result.kind == "training":
        return "training results (final return MA per session, trial.json)"
    return "evaluations (episodes played by rldojo eval, eval.json)"


def comparison_markdown(result: CompareResult) -> str:
    """A markdown block for reports: the table, frontier, dominance, dropped envs and the figure."""
    labels = list(result.labels)
    header = [f"{label} (baseline)" if label == result.baseline else label for label in labels]
    lines = [
        f"### Comparison of {describe_kind(result)}: mean {result.metric}, {result.level:.0%} CI",
        "",
        "| env | " + " | ".join(_md_escape(h) for h in header) + " |",
        "|---|" + "---:|" * len(labels),
    ]
    for env in result.envs:
        cells = []
        for label in labels:
            cell = result.cells[label][env]
            text = f"{_cell_text(cell)} n={cell.n}"
            if result.baseline and label != result.baseline:
                text += f" {_delta_text(cell, result.cells[result.baseline][env])}"
            cells.append(f"**{text} {WINNER_MARK}**" if label in result.winners[env] else text)
        lines.append(f"| {_md_escape(env)} | " + " | ".join(cells) + " |")
    on_frontier = ["yes" if label in result.frontier else "—" for label in labels]
    lines.append("| Pareto frontier | " + " | ".join(on_frontier) + " |")
    if result.weighting is not None:
        shares = result.weighting.shares
        percent = [f"{shares[label]:.0%}" for label in labels]
        lines.append("| subset-weight share | " + " | ".join(percent) + " |")
    mode = "CI-aware" if result.ci_aware else "plain"
    lines += [
        "",
        f"{WINNER_MARK} marks each env's winner(s); dominance is {mode} with epsilon {result.epsilon:g}.",
        "",
        f"- Pareto frontier: {', '.join(result.frontier) or 'empty (a dominance cycle)'}",
        "- dominance (A ≻ B: A dominates B):",
        *[f"  - {line}" for line in relation_lines(result)],
    ]
    for env, lacking in result.dropped.items():
        lines.append(f"- dropped {env}: no {result.metric} for {', '.join(lacking)}")
    for label in labels:
        lines.append(f"- {label}: {result.sources[label]}")
    lines += ["", f"![comparison]({result.png_path.name})", ""]
    return "\n".join(lines)


def summary_json(result: CompareResult) -> dict:
    return {
        "labels": list(result.labels),
        "sources": result.sources,
        "kind": result.kind,
        "metric": result.metric,
        "level": result.level,
        "epsilon": result.epsilon,
        "ci_aware": result.ci_aware,
        "baseline": result.baseline,
        "envs": list(result.envs),
        "dropped": {env: list(lacking) for env, lacking in result.dropped.items()},
        "cells": {
            label: {
                env: {
                    "value": c.value,
                    "low": c.interval.low,
                    "high": c.interval.high,
                    "n": c.n,
                    "method": c.interval.method,
                }
                for env, c in cells.items()
            }
            for label, cells in result.cells.items()
        },
        "winners": {env: list(w) for env, w in result.winners.items()},
        "dominance": [list(pair) for pair in result.dominance],
        "frontier": list(result.frontier),
        "subset_shares": None if result.weighting is None else result.weighting.shares,
        "png": result.png_path.name,
    }
