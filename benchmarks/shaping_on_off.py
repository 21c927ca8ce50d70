"""Reward shaping on vs off: the same SFT -> GRPO pipeline on one world, trained with and without shaping.

Users of shaped GRPO on ALFWorld report 2-3x faster convergence and 20-30% fewer invalid actions.
This runs the shipped TextCraft pipeline (`llm/textcraft_sft_grpo`, the model writes its actions,
so invalid actions happen) once per seed and arm; the arms differ only in `env.shaping`:

    off       the native reward (1 for a win)
    bonus     + valid_action 0.05 and task_keyword 0.05 per step, at most 0.5 per episode
    penalty   - 0.1 per invalid action (invalid_action: -0.1), nothing added

Per arm, medians over seeds of: iterations until the 10-iteration moving average of the training
success (the native criterion, never the shaped reward) first reaches the threshold (0.9 x the
best arm's final moving average, per seed; none when no arm wins), the invalid-action rate over
the first and the last 10 iterations, and held-out success after GRPO (Jeffreys 80%); the curves
go to a PNG.

    python benchmarks/shaping_on_off.py                       # 3 seeds x 3 arms, ~45 min on 2 cores
    python benchmarks/shaping_on_off.py --seeds 0 --iterations 10 --set agent.stages.0.demo_episodes=60
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from rldojo.run.spec import load_spec
from rldojo.run.trial import new_run_dir, run_trial, write_spec_file
from rldojo.track.log import setup_console

console = Console(width=170)
ARMS: dict[str, dict[str, float]] = {
    "off": {},
    "bonus": {"valid_action": 0.05, "task_keyword": 0.05, "episode_bonus_cap": 0.5},
    "penalty": {"invalid_action": -0.1},
}
WINDOW = 10


def _moving(values: list[float], window: int = WINDOW) -> np.ndarray:
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _run(args: argparse.Namespace, seed: int, arm: str) -> dict:
    overrides = [
        *args.overrides,
        f"meta.seed={seed}",
        f"train.iterations={args.iterations}",
        "track.plots=false",
    ]
    overrides += [f"env.shaping.{term}={weight}" for term, weight in ARMS[arm].items()]
    spec = load_spec(args.spec, overrides)
    run_dir = new_run_dir(spec, args.runs_dir)
    write_spec_file(run_dir, spec, ["benchmarks/shaping_on_off.py", args.spec, *overrides, f"arm={arm}"])
    started = time.perf_counter()
    trial = run_trial(spec, run_dir, show_progress=False)
    wall = time.perf_counter() - started
    stages = {row["stage"]: row for row in trial["sessions"][0]["stages"]}
    with open(run_dir / "s0" / "metrics.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("stage") == "1" and r.get("success")]
    return {
        "success": [float(r["success"]) for r in rows],
        "invalid": [float(r["invalid_rate"]) for r in rows],
        "bonus": [float(r["shaping_bonus"]) for r in rows],
        "held_out": stages["grpo"],
        "sft": stages["sft"],
        "wall": wall,
        "run_dir": run_dir,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="llm/textcraft_sft_grpo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted.path=value")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/shaping"))
    parser.add_argument("--plot", type=Path, default=Path("shaping_on_off.png"))
    args = parser.parse_args()
    setup_console(False)
    load_start = os.getloadavg()[0]
    results: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    for seed in args.seeds:
        for arm in args.arms:
            result = _run(args, seed, arm)
            results[arm].append(result)
            console.print(f"seed {seed} arm {arm}: {result['wall']:.0f} s, run folder {result['run_dir']}")

    summary: dict[str, dict[str, list[float]]] = {arm: {} for arm in results}
    for index in range(len(args.seeds)):
        best = max(float(_moving(runs[index]["success"])[-1]) for runs in results.values())
        threshold = 0.9 * best
        for arm, runs in results.items():
            run = runs[index]
            moving = _moving(run["success"])
            reached = np.flatnonzero(moving >= threshold) if threshold > 0 else np.array([], dtype=int)
            cells = summary[arm]
            cells.setdefault("iterations_to_threshold", []).append(
                float(reached[0] + 1) if reached.size else float("nan")
            )
            cells.setdefault("invalid_first", []).append(float(np.mean(run["invalid"][:WINDOW])))
            cells.setdefault("invalid_last", []).append(float(np.mean(run["invalid"][-WINDOW:])))
            cells.setdefault("train_success_last", []).append(float(np.mean(run["success"][-WINDOW:])))
            cells.setdefault("bonus_last", []).append(float(np.mean(run["bonus"][-WINDOW:])))
            cells.setdefault("held_out", []).append(run["held_out"]["success"])
            cells.setdefault("sft", []).append(run["sft"]["success"])
            cells.setdefault("wall", []).append(run["wall"])

    def med(values: list[float]) -> str:
        finite = [v for v in values if not np.isnan(v)]
        if not finite:
            return "never"
        shown = ", ".join("never" if np.isnan(v) else f"{v:.3g}" for v in values)
        return f"{statistics.median(finite):.3g} ({shown})"

    title = f"reward shaping, {args.spec}, {args.iterations} GRPO iterations, seeds {args.seeds}"
    table = Table(title=title)
    columns = (
        "shaping",
        "iterations to threshold",
        "invalid rate, first 10",
        "invalid rate, last 10",
        "train success, last 10",
        "shaping bonus / episode, last 10",
        "held-out success (SFT)",
        "held-out success (GRPO)",
        "wall s",
    )
    for column in columns:
        table.add_column(column, justify="right")
    markdown = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for arm, cells in summary.items():
        row = (
            arm,
            med(cells["iterations_to_threshold"]),
            med(cells["invalid_first"]),
            med(cells["invalid_last"]),
            med(cells["train_success_last"]),
            med(cells["bonus_last"]),
            med(cells["sft"]),
            med(cells["held_out"]),
            med(cells["wall"]),
        )
        table.add_row(*row)
        markdown.append("| " + " | ".join(row) + " |")
    console.print(table)
    console.print("\n".join(markdown), markup=False, highlight=False, soft_wrap=True)
    intervals = [
        f"{arm} seed {seed}: {run['held_out']['success']:.3f} "
        f"[{run['held_out']['success_low']:.3f}, {run['held_out']['success_high']:.3f}]"
        for arm, runs in results.items()
        for seed, run in zip(args.seeds, runs)
    ]
    console.print("held-out after GRPO (Jeffreys 80%): " + "; ".join(intervals), markup=False, highlight=False)
    console.print(
        f"load average {load_start:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", highlight=False
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, colour in zip(results, ("tab:blue", "tab:orange", "tab:green")):
        for index, run in enumerate(results[arm]):
            label = arm if index == 0 else None
            axes[0].plot(_moving(run["success"]), color=colour, alpha=0.8, label=label)
            axes[1].plot(_moving(run["invalid"]), color=colour, alpha=0.8, label=label)
    axes[0].set(title="training success (native), 10-iteration mean", xlabel="GRPO iteration")
    axes[1].set(title="invalid-action rate, 10-iteration mean", xlabel="GRPO iteration")
    for axis in axes:
        axis.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    console.print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
