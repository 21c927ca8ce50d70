"""Learning curves as PNG: one per session, and the trial's mean with a band over sessions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

#: Column only language-model runs write (their stage index): their evaluations are not greedy returns.
_LANGUAGE_MODEL_COLUMN = "stage"


def eval_label(metrics: dict[str, list[float]]) -> str:
    """Legend of the `eval_return` points: tensor agents evaluate greedily; language-model agents
    report the mean native reward of held-out tasks, sampled at generation.eval_temperature."""
    if _LANGUAGE_MODEL_COLUMN in metrics:
        return "held-out mean reward (eval temperature)"
    return "eval return (greedy)"


def plot_session_curve(metrics: dict[str, list[float]], path: Path, title: str, eval_legend: str | None = None) -> None:
    """return, return MA and evaluations over frames; `eval_legend` names the evaluations (default:
    `eval_label(metrics)`)."""
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
            ax.plot(frames[ok], ev[ok], "o-", color="tab:orange", ms=4, lw=1, label=eval_legend or eval_label(metrics))
    _save(fig, ax, path, title, "return")


#: Below this many curves the band is their range; from it on, a bootstrap interval of the mean.
MIN_CURVES_FOR_INTERVAL = 5


def mean_band(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 200) -> tuple[np.ndarray, ...]:
    """Interpolate (frames, values) curves onto one grid -> grid, mean, low, high. The band is the
    curves' range (min to max) under `MIN_CURVES_FOR_INTERVAL` curves, else a 95% percentile
    bootstrap interval of the mean (seeded); both stay within the curves, so a bounded return
    gives a bounded band."""
    curves = [(f, v) for f, v in curves if f.size]
    if not curves:
        return (np.array([]),) * 4
    end = min(f[-1] for f, _ in curves)
    start = max(f[0] for f, _ in curves)
    grid = np.linspace(start, end, points) if end > start else np.array([start])
    values = np.stack([np.interp(grid, f, v) for f, v in curves])
    mean = values.mean(0)
    if len(curves) < MIN_CURVES_FOR_INTERVAL:
        return grid, mean, values.min(0), values.max(0)
    picks = np.random.default_rng(0).integers(0, len(curves), size=(2000, len(curves)))
    means = values[picks].mean(axis=1)  # (resamples, points)
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return grid, mean, low, high


def band_label(count: int) -> str:
    return f"range of {count} sessions" if count < MIN_CURVES_FOR_INTERVAL else "95% bootstrap interval of the mean"


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
        ax.fill_between(grid, low, high, color="black", alpha=0.15, label=band_label(len(curves)))
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
