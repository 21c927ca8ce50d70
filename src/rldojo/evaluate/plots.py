"""The compare figure: one bar per model on each env with CI whiskers, then training curves."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from rldojo.evaluate.curves import Curve
from rldojo.evaluate.sources import Cell

_COLUMNS = 4
_PALETTE = [f"C{i}" for i in range(10)]


@dataclass(frozen=True)
class PlotCounts:
    """What the saved figure holds, counted from its matplotlib objects."""

    bars: int
    curves: int


def model_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per model, the same in every panel."""
    return {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}


def _bar_panel(ax, env: str, labels: Sequence[str], cells: Mapping[str, Cell], winners, colours) -> None:
    positions = range(len(labels))
    values = [cells[label].value for label in labels]
    ax.bar(positions, values, color=[colours[label] for label in labels], edgecolor="black", linewidth=0.5)
    for x, label in enumerate(labels):
        interval = cells[label].interval
        if interval.low is not None and interval.high is not None:
            value = cells[label].value
            ax.errorbar(
                x,
                value,
                yerr=[[max(0.0, value - interval.low)], [max(0.0, interval.high - value)]],
                color="black",
                capsize=4,
                linewidth=1,
            )
        if label in winners:
            top = interval.high if interval.high is not None else cells[label].value
            ax.annotate("★", (x, top), ha="center", va="bottom", fontsize=12)
    ax.set_title(env, fontsize=10)
    ax.set_xticks(list(positions), labels, rotation=30, ha="right", fontsize=8)
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)


def _curve_panel(ax, env: str, curves: Mapping[str, Curve], colours) -> None:
    for label, curve in curves.items():
        ax.plot(curve.frames, curve.mean, color=colours[label], label=f"{label} ({curve.sessions} s.)")
        if curve.sessions > 1:
            ax.fill_between(curve.frames, curve.low, curve.high, color=colours[label], alpha=0.2, linewidth=0)
    ax.set_title(f"{env}: return MA, mean ± std over sessions", fontsize=10)
    ax.set_xlabel("frame")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def plot_comparison(
    path: Path,
    labels: Sequence[str],
    envs: Sequence[str],
    cells: Mapping[str, Mapping[str, Cell]],
    winners: Mapping[str, Sequence[str]],
    curves: Mapping[str, tuple[str, Curve]],
    metric: str,
    level: float,
) -> PlotCounts:
    """Save the figure to `path` (PNG, no display needed) and count its bars and curves."""
    colours = model_colours(labels)
    curve_envs: dict[str, dict[str, Curve]] = {}
    for label, (env, curve) in curves.items():
        curve_envs.setdefault(env, {})[label] = curve
    panels = len(envs) + len(curve_envs)
    columns = min(_COLUMNS, panels)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(4.2 * columns, 3.6 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, env in zip(axes, envs):
        _bar_panel(ax, env, labels, {label: cells[label][env] for label in labels}, winners[env], colours)
    for ax, (env, by_label) in zip(axes[len(envs) :], curve_envs.items()):
        _curve_panel(ax, env, by_label, colours)
    for ax in axes[panels:]:
        ax.set_visible(False)
    figure.suptitle(f"mean {metric} per env, {level:.0%} CI whiskers (★ = winner)", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    bars = sum(
        len(container.patches)
        for ax in figure.axes
        for container in ax.containers
        if isinstance(container, BarContainer)
    )
    lines = sum(len(ax.get_lines()) for ax in axes[len(envs) : panels])
    return PlotCounts(bars=bars, curves=lines)
