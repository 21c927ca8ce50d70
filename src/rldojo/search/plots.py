"""PNG plots of a search: the metric against each parameter, ASHA's rungs, GP-UCB's model."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rldojo.run.search_spec import Distribution  # noqa: E402
from rldojo.search.experiment import TrialRecord  # noqa: E402

_STATUS_STYLE = {
    "done": {"color": "tab:blue", "label": "trained its whole budget"},
    "stopped early": {"color": "tab:gray", "label": "stopped early"},
}


def plot_file_name(key: str) -> str:
    """agent.optim.lr -> metric_vs_agent.optim.lr.png (safe in any file system)."""
    return "metric_vs_" + re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".png"


def plot_parameters(
    records: Sequence[TrialRecord],
    dims: dict[str, Distribution],
    metric: str,
    out_dir: Path,
    title: str,
    best: TrialRecord | None,
) -> list[Path]:
    """One plot per parameter: each finished trial's metric against its value (log scale for loguniform,
    one column per listed value for choice and grid), the best trial starred."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    finished = [record for record in records if record.finished]
    for key, dim in dims.items():
        fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
        labels = [json.dumps(value) for value in dim.values] if dim.discrete else []
        for status, style in _STATUS_STYLE.items():
            group = [record for record in finished if record.status == status and key in record.values]
            if not group:
                continue
            xs = [_position(dim, record.values[key], index) for index, record in enumerate(group)]
            ax.scatter(xs, [record.metric for record in group], s=22, alpha=0.8, **style)
        if best is not None and key in best.values:
            ax.scatter(
                [_position(dim, best.values[key], 0, jitter=False)],
                [best.metric],
                marker="*",
                s=180,
                color="tab:orange",
                edgecolor="black",
                zorder=3,
                label=f"best ({best.name})",
            )
        if dim.discrete:
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=20 if max(map(len, labels)) > 6 else 0, fontsize=8)
        elif dim.kind == "loguniform":
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(metric)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        path = out_dir / plot_file_name(key)
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written


def _position(dim: Distribution, value, index: int, jitter: bool = True) -> float:
    if not dim.discrete:
        return float(value)
    spread = ((index * 0.618) % 1.0 - 0.5) * 0.3 if jitter else 0.0  # deterministic jitter in the column
    return list(dim.values).index(value) + spread


def plot_rungs(records: Sequence[TrialRecord], rungs: Sequence[float], metric: str, path: Path, title: str) -> Path:
    """Every trial's reported metric over frames, ASHA's rungs as vertical lines with how many trials
    reached each: the survivors of the last rung in colour, the trials stopped early in grey."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    reached = {rung: 0 for rung in rungs}
    for record in records:
        if not record.history:
            continue
        frames, values = zip(*record.history)
        done = record.status == "done"
        ax.plot(
            frames,
            values,
            lw=1.4 if done else 0.9,
            alpha=0.9 if done else 0.5,
            color=None if done else "tab:gray",
            label=record.name if done else None,
        )
        for rung in rungs:
            if max(frames) >= rung:
                reached[rung] += 1
    started = sum(1 for record in records if record.history)
    top = ax.get_ylim()[1]
    for rung in rungs:
        ax.axvline(rung, color="black", lw=0.8, ls="--", alpha=0.6)
        ax.text(rung, top, f" {reached[rung]}/{started}", va="top", fontsize=8)
    ax.set_xlabel("frames")
    ax.set_ylabel(metric)
    ax.set_title(title + " (dashed: rungs, with the trials that reached them)", fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best", title="trained to the end", title_fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_gp_ucb(
    names: Sequence[str],
    mean: np.ndarray,
    std: np.ndarray,
    observations: Sequence[tuple[int, float]],
    metric: str,
    path: Path,
    title: str,
) -> Path:
    """GP-UCB's posterior over the candidates (mean and 2 standard deviations) and every observation."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(names)), 4.2), dpi=110)
    xs = np.arange(len(names))
    ax.errorbar(xs, mean, yerr=2 * std, fmt="o", color="tab:blue", capsize=3, label="posterior mean ± 2 sd")
    if observations:
        picked, values = zip(*observations)
        ax.scatter(picked, values, marker="x", color="tab:orange", zorder=3, label="observed (one per round)")
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=30 if max(map(len, names)) > 6 else 0, fontsize=8, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def asha_rungs(grace_period: float, reduction_factor: float, max_t: float) -> list[float]:
    """The frames of ASHA's rungs (Ray's: grace_period * reduction_factor^k below max_t)."""
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return [grace_period * reduction_factor**k for k in range(count) if grace_period * reduction_factor**k < max_t]
