"""Learning curves as PNG: one per session, and the trial's mean with a band over sessions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_session_curve(metrics: dict[str, list[float]], path: Path, title: str) -> None:
    frames = np.asarray(metrics.get("frame", []), dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if frames.size:
        ret = np.asarray(metrics["return"], dtype=float)
        ma = np.asarray(metrics["return_ma"], dtype=float)
        ok = ~np.isnan(ret)
        ax.plot(frames[ok], ret[ok], color="tab:blue", alpha=0.25, lw=1, label="return (since last row)")
        ok = ~np.isnan(ma)
        ax.plot(frames[ok], ma[ok], color="tab:blue", lw=2, label="return MA")
        ev = np.asarray(metrics.get("eval_return", [np.nan] * frames.size), dtype=float)
        ok = ~np.isnan(ev)
        if ok.any():
            ax.plot(frames[ok], ev[ok], "o-", color="tab:orange", ms=4, lw=1, label="eval return (greedy)")
    _save(fig, ax, path, title, "return")


def mean_band(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 200) -> tuple[np.ndarray, ...]:
    """Interpolate (frames, values) curves onto one grid -> grid, mean, low, high (min..max band
    with 1 curve, else mean +- 95% t-interval)."""
    from scipy import stats

    curves = [(f, v) for f, v in curves if f.size]
    if not curves:
        return (np.array([]),) * 4
    end = min(f[-1] for f, _ in curves)
    start = max(f[0] for f, _ in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([start])
    values = np.stack([np.interp(grid, f, v) for f, v in curves])
    mean = values.mean(0)
    if len(curves) == 1:
        return grid, mean, mean, mean
    half = stats.t.ppf(0.975, len(curves) - 1) * values.std(0, ddof=1) / np.sqrt(len(curves))
    return grid, mean, mean - half, mean + half


def plot_trial_curve(
    session_metrics: list[dict[str, list[float]]], path: Path, title: str, column: str = "return_ma"
) -> None:
    curves = []
    for metrics in session_metrics:
        frames = np.asarray(metrics.get("frame", []), dtype=float)
        values = np.asarray(metrics.get(column, []), dtype=float)
        ok = ~np.isnan(values)
        curves.append((frames[ok], values[ok]))
    grid, mean, low, high = mean_band(curves)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for i, (frames, values) in enumerate(curves):
        ax.plot(frames, values, lw=0.8, alpha=0.35, label=f"session {i}")
    if grid.size:
        ax.plot(grid, mean, color="black", lw=2, label=f"mean over {len(curves)} sessions")
        ax.fill_between(grid, low, high, color="black", alpha=0.15, label="95% CI")
    _save(fig, ax, path, title, column.replace("_", " "))


def _save(fig, ax, path: Path, title: str, ylabel: str) -> None:
    """Label a curve plot over frames, write it to `path` and free the figure."""
    ax.set_xlabel("frames")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
