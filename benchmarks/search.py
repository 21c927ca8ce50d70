"""Search at equal compute: ASHA + Optuna's TPE against random search without early stopping, and
GP-UCB's simple regret against random picks.

Part 1 runs `rldojo search` on PPO CartPole-v1 (specs/search/ppo_cartpole_search.yaml, one session
per trial, metric return_ma) on a local Ray with this machine's cores. ASHA + TPE runs `--trials`
trials of up to `--frames` frames each, ASHA stopping the weak ones at frames/9 and frames/3; the
frames its trials trained in all are then given to random search (sampler random, scheduler none) as
whole trials of `--frames` frames: round(ASHA's total / frames) of them. Reported per method, over
`--repeats` repeats (seeds 0, 1, ...): the best return_ma found (the best trial that trained its
whole budget), the frames trained, the wall time of the search, and the time until the best trial
finished. LunarLander does not fit 2 cores in a reasonable time; CartPole keeps the comparison honest.

Part 2 runs GP-UCB (rldojo.search.gpucb, beta_t of Srinivas et al. 2010, delta 0.1) on a synthetic
set of 100 candidates (a 10 x 10 grid over [0, 1]^2 with a global optimum of 1.0 and a lower hill
of 0.5, observations with Gaussian noise of sd 0.05), and random picks (recommending the best noisy
observation) on the same set: mean simple regret f(x*) - f(recommended) after 5, 10, 20 and 30 rounds
over `--regret-seeds` seeds.

    python benchmarks/search.py                  # 3 repeats, 16 trials of up to 100k frames
    python benchmarks/search.py --short          # 1 repeat, 6 trials of up to 12k frames: a quick check
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

SPEC = "search/ppo_cartpole_search"
REGRET_ROUNDS = (5, 10, 20, 30)


def run_method(method: str, frames: int, trials: int, seed: int, root: Path) -> dict:
    """One search; -> best metric, frames trained, wall seconds, seconds until the best trial finished."""
    from rldojo.run.spec import load_spec
    from rldojo.search.tune import start_search

    sets = [f"train.max_frames={frames}", f"meta.seed={seed}", f"search.trials={trials}", "search.keep_checkpoints=0"]
    sets += [f"train.checkpoint_every={frames // 2}", f"train.log_every={max(256, frames // 50)}"]
    if method == "asha_tpe":
        sets += ["search.sampler=optuna_tpe", f"search.scheduler={{name: asha, grace_period: {frames // 9}}}"]
    else:
        sets += ["search.sampler=random", "search.scheduler=none"]
    spec = load_spec(SPEC, sets)
    started = time.time()
    outcome = start_search(spec, root / method, ["benchmarks/search.py"], show_progress=False)
    wall = time.time() - started
    best = outcome.best
    found = (best.run_dir / "trial.json").stat().st_mtime - started if best is not None else None
    return {
        "method": method,
        "seed": seed,
        "trials": len(outcome.records),
        "best": None if best is None else best.metric,
        "frames": sum(record.frames for record in outcome.records),
        "wall_s": wall,
        "best_found_s": found,
        "stopped_early": sum(record.status == "stopped early" for record in outcome.records),
    }


def compare_searches(frames: int, trials: int, repeats: int) -> list[dict]:
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="rldojo-search-bench-") as folder:
            for seed in range(repeats):
                asha = run_method("asha_tpe", frames, trials, seed, Path(folder) / f"r{seed}")
                random_trials = max(1, round(asha["frames"] / frames))
                plain = run_method("random", frames, random_trials, seed, Path(folder) / f"r{seed}")
                rows += [asha, plain]
                print(json.dumps(asha), json.dumps(plain), file=sys.stderr)
    finally:
        ray.shutdown()
    return rows


# ---- GP-UCB on a synthetic candidate set ------------------------------------------------------------
def two_hills(points: np.ndarray) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return np.exp(-((x - 0.67) ** 2 + (y - 0.33) ** 2) / 0.03) + 0.5 * np.exp(
        -((x - 0.22) ** 2 + (y - 0.78) ** 2) / 0.02
    )


def regret_curves(seeds: int) -> dict[str, np.ndarray]:
    from rldojo.search.gpucb import maximize

    grid = np.linspace(0.0, 1.0, 10)
    candidates = np.array([(a, b) for a in grid for b in grid])
    values = two_hills(candidates)
    rounds = max(REGRET_ROUNDS)
    gp = np.zeros((seeds, rounds))
    rand = np.zeros((seeds, rounds))
    for seed in range(seeds):
        noise = np.random.default_rng(1000 + seed)
        result = maximize(
            lambda i, noise=noise: float(values[i] + noise.normal(0, 0.05)), candidates, rounds, seed=seed
        )
        gp[seed] = values.max() - values[result.recommendations]
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(values), rounds)
        observed = values[picks] + rng.normal(0, 0.05, rounds)
        best_so_far = [picks[int(np.argmax(observed[: t + 1]))] for t in range(rounds)]
        rand[seed] = values.max() - values[best_so_far]
    return {"gp_ucb": gp, "random": rand}


# ---- report -------------------------------------------------------------------------------------------
def _mean_sd(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def search_table(rows: list[dict], frames: int) -> Table:
    table = Table(title=f"PPO CartPole-v1, trials of up to {frames:,} frames, equal frames per repeat (mean ± sd)")
    for column in (
        "method",
        "repeats",
        "trials",
        "stopped early",
        "frames",
        "best return_ma",
        "wall s",
        "best found at s",
    ):
        table.add_column(column, justify="left" if column == "method" else "right")
    for method, label in (("asha_tpe", "ASHA + TPE"), ("random", "random, no early stop")):
        mine = [row for row in rows if row["method"] == method]
        table.add_row(
            label,
            str(len(mine)),
            _mean_sd([row["trials"] for row in mine]),
            _mean_sd([row["stopped_early"] for row in mine]),
            f"{statistics.mean(row['frames'] for row in mine):,.0f}",
            _mean_sd([row["best"] for row in mine if row["best"] is not None]),
            _mean_sd([row["wall_s"] for row in mine]),
            _mean_sd([row["best_found_s"] for row in mine if row["best_found_s"] is not None]),
        )
    return table


def regret_table(curves: dict[str, np.ndarray]) -> Table:
    seeds = len(curves["gp_ucb"])
    table = Table(title=f"simple regret on 100 synthetic candidates (mean ± standard error over {seeds} seeds)")
    table.add_column("picks")
    for rounds in REGRET_ROUNDS:
        table.add_column(f"after {rounds} rounds", justify="right")
    for name, label in (("gp_ucb", "GP-UCB (delta 0.1)"), ("random", "random")):
        regret = curves[name]
        cells = [
            f"{regret[:, r - 1].mean():.3f} ± {regret[:, r - 1].std(ddof=1) / np.sqrt(len(regret)):.3f}"
            for r in REGRET_ROUNDS
        ]
        table.add_row(label, *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="1 repeat, 6 trials of up to 12k frames, 5 regret seeds")
    parser.add_argument("--frames", type=int, default=100_000, help="frame budget of one trial")
    parser.add_argument("--trials", type=int, default=16, help="ASHA + TPE trials")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--regret-seeds", type=int, default=20)
    parser.add_argument("--skip-searches", action="store_true", help="only the GP-UCB regret part")
    parser.add_argument("--out", type=Path, help="write the measurements as JSON here")
    args = parser.parse_args()
    if args.short:
        args.frames, args.trials, args.repeats, args.regret_seeds = 12_000, 6, 1, 5
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    console = Console(width=None if sys.stdout.isatty() else 150)
    started = time.time()
    rows = [] if args.skip_searches else compare_searches(args.frames, args.trials, args.repeats)
    curves = regret_curves(args.regret_seeds)
    console.print(
        f"{date.today()}, {platform.node()} ({os.cpu_count()} CPU cores), "
        f"python benchmarks/search.py {' '.join(sys.argv[1:])}, {time.time() - started:.0f} s"
    )
    if rows:
        console.print(search_table(rows, args.frames))
    console.print(regret_table(curves))
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "searches": rows,
                    "regret": {k: v.mean(axis=0).tolist() for k, v in curves.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
