"""GRPO, LM-PPO and A*PO side by side: the same world, model, sampling and episode budget.

Each (algorithm, seed) trains rldojo's tiny model from scratch in its own process on a one-turn
world defined here, `rldojo-bench/KeyDoors-v0`: the observation names the key's colour and lists
four doors in a task-dependent order; opening the door of the key's colour wins (chance 0.25). The
model scores the listed actions (`choose` mode), so every algorithm starts at chance and the
comparison is about the update, not the parser. Every run has the same number of training
episodes: GRPO and LM-PPO play `groups x group_size` episodes per iteration; A*PO's
budget counts its offline phase (`num_tasks x k` reference episodes) plus one episode per task per
iteration. Reported per algorithm, median over seeds: seconds per iteration (rollout + update,
evaluation excluded), the whole stage's seconds, peak resident memory of the process, generated
tokens, and held-out success after the budget (100 episodes, seeded, greedy). The paper's claim
(A*PO up to 2x faster than GRPO/PPO with over 30% less peak memory, on GPUs and 1.5B-7B models) is
the paper's; this table says what holds for the tiny model on 2 CPU cores.

    python benchmarks/lm_algos.py                  # 3 seeds, 512 training episodes per run
    python benchmarks/lm_algos.py --episodes 64 --seeds 1      # a quick check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ALGOS = ("grpo", "lm_ppo", "apo")
COLOURS = ("red", "blue", "green", "yellow")
KEY_DOORS = "rldojo-bench/KeyDoors-v0"


def register_key_doors() -> None:
    import gymnasium as gym

    from rldojo.envs.text.protocol import TextEnv, WorldStep

    class KeyDoors(TextEnv):
        """One turn: the key's colour is named; of four listed doors, that colour's wins."""

        has_expert = True

        def __init__(self, max_turns: int = 1, render_mode: str | None = None):
            super().__init__(max_turns=max_turns, render_mode=render_mode)

        @property
        def num_tasks(self) -> int:
            return 10_000

        def _load_task(self, task_id, rng):
            order = np.random.default_rng(task_id).permutation(len(COLOURS))
            self.colour = COLOURS[task_id % len(COLOURS)]
            self.doors = [f"open {COLOURS[i]} door" for i in order]
            return "Open the door your key fits.", f"Your key is {self.colour}. You see four doors."

        def _step_world(self, action: str) -> WorldStep:
            won = action == f"open {self.colour} door"
            return WorldStep(
                observation="The door opens." if won else "It is locked.", reward=float(won), won=won, done=True
            )

        def _available_actions(self) -> list[str]:
            return list(self.doors)

        def _expert_action(self) -> str:
            return f"open {self.colour} door"

    if KEY_DOORS not in gym.registry:
        gym.register(KEY_DOORS, entry_point=KeyDoors)


GROUPS, GROUP_SIZE = 2, 4  # GRPO and LM-PPO: 8 episodes per iteration
APO_TASKS, APO_K = 16, 8  # A*PO's offline phase: 128 reference episodes


def stage_params(algo: str, episodes: int, lr: float = 3e-3) -> tuple[dict, int]:
    """The stage's section and its iteration count for `episodes` training episodes in all."""
    per_iteration = GROUPS * GROUP_SIZE
    if algo == "grpo":
        return {
            "algo": "grpo",
            "groups": GROUPS,
            "group_size": GROUP_SIZE,
            "optim": {"lr": lr},
        }, episodes // per_iteration
    if algo == "lm_ppo":
        params = {
            "algo": "lm_ppo",
            "groups": GROUPS,
            "group_size": GROUP_SIZE,
            "optim": {"lr": lr},
            "critic_optim": {"lr": lr},
        }
        return params, episodes // per_iteration
    offline = APO_TASKS * APO_K
    online = max(APO_TASKS, episodes - offline)
    params = {
        "algo": "apo",
        "num_tasks": APO_TASKS,
        "k": APO_K,
        "tasks_per_iteration": APO_TASKS,
        "optim": {"lr": lr},
    }
    return params, online // APO_TASKS


def spec_dict(algo: str, episodes: int, seed: int, lr: float = 3e-3) -> dict:
    params, iterations = stage_params(algo, episodes, lr)
    return {
        "name": f"lm_algos_{algo}",
        "env": {"id": KEY_DOORS, "num_envs": 8},
        "agent": {
            "model": {"path": "tiny", "max_model_len": 256},
            "generation": {"action_mode": "choose", "temperature": 1.0, "max_new_tokens": 16},
            **params,
        },
        "train": {"iterations": iterations, "eval_every": 0, "eval_episodes": 100, "max_frames": 10_000_000},
        "meta": {"sessions": 1, "seed": seed},
        "track": {"tensorboard": False, "plots": False},
    }


# ---- one run, in its own process (peak memory is per process) -------------------------------------
def run_one(algo: str, episodes: int, seed: int, out: Path, lr: float = 3e-3) -> None:
    from rldojo.algos.lm_agent import LMAgent
    from rldojo.run.spec import spec_from_raw
    from rldojo.run.trial import new_run_dir, run_trial, write_spec_file
    from rldojo.track.tracker import read_metrics

    register_key_doors()
    generated = {"tokens": 0, "episodes": 0}
    original_play = LMAgent.play

    def counting_play(self, starts, stats=None):  # training episodes only (evaluation plays apart)
        played = original_play(self, starts, stats)
        generated["tokens"] += sum(ep.generated_tokens for ep in played)
        generated["episodes"] += len(played)
        return played

    LMAgent.play = counting_play
    spec = spec_from_raw(spec_dict(algo, episodes, seed, lr), [], source="lm_algos")
    with tempfile.TemporaryDirectory() as folder:
        run_dir = new_run_dir(spec, Path(folder))
        write_spec_file(run_dir, spec, None)
        started = time.perf_counter()
        trial = run_trial(spec, run_dir, show_progress=False)
        wall = time.perf_counter() - started
        result = trial["sessions"][0]
        metrics = read_metrics(run_dir / "s0" / "metrics.csv")
    # Iterations are the rows with an update (A*PO's offline phase has none; its time is in stage_s).
    updates = [i for i, v in enumerate(metrics.get("update_s", [])) if v == v]
    iteration_s = [metrics["rollout_s"][i] + metrics["update_s"][i] for i in updates]
    stage = result["stages"][-1]
    record = {
        "algo": algo,
        "seed": seed,
        "iterations": spec.train.iterations,
        "iteration_s": statistics.median(iteration_s) if iteration_s else float("nan"),
        "episode_s": stage["wall_s"] / max(1, generated["episodes"]),
        "stage_s": stage["wall_s"],
        "wall_s": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "generated_tokens": generated["tokens"],
        "training_episodes": generated["episodes"],
        "base_success": result["stages"][0]["success"],
        "success": stage["success"],
        "success_low": stage["success_low"],
        "success_high": stage["success_high"],
    }
    out.write_text(json.dumps(record))


# ---- the table ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=512, help="training episodes per run (A*PO: both phases)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--lr", type=float, default=3e-3, help="peak learning rate of every algorithm (and LM-PPO's critic)"
    )
    parser.add_argument("--one", choices=ALGOS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.episodes, args.seed, args.out, args.lr)
        return

    console = Console()
    records: dict[str, list[dict]] = {algo: [] for algo in ALGOS}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.seeds):  # seeds in turn across the algorithms: a slow spell hits all
            for algo in ALGOS:
                out = Path(folder) / f"{algo}_{seed}.json"
                command = [
                    sys.executable,
                    __file__,
                    "--one",
                    algo,
                    "--seed",
                    str(seed),
                    "--episodes",
                    str(args.episodes),
                ]
                subprocess.run([*command, "--out", str(out)], check=True)
                records[algo].append(json.loads(out.read_text()))
                r = records[algo][-1]
                console.print(
                    f"{algo} seed {seed}: {r['iteration_s']:.3f} s/iteration, stage {r['stage_s']:.1f} s, "
                    f"peak {r['peak_rss_mb']:.0f} MB, {r['generated_tokens']:,} tokens, "
                    f"success {r['base_success']:.2f} -> {r['success']:.2f}"
                )
    table = Table(
        title=f"GRPO vs LM-PPO vs A*PO: {KEY_DOORS}, tiny model, {args.episodes} training episodes, "
        f"lr {args.lr:g}, median of {args.seeds} seed(s)"
    )
    for column in (
        "algorithm",
        "iterations",
        "s / iteration",
        "stage s (all episodes)",
        "peak RSS MB",
        "generated tokens",
        "held-out success (base -> after)",
    ):
        table.add_column(column, justify="left" if column == "algorithm" else "right")
    for algo, rows in records.items():

        def med(key: str, rows: list[dict] = rows) -> float:
            return statistics.median(r[key] for r in rows)

        table.add_row(
            algo,
            f"{med('iterations'):.0f}",
            f"{med('iteration_s'):.3f}",
            f"{med('stage_s'):.1f}",
            f"{med('peak_rss_mb'):.0f}",
            f"{med('generated_tokens'):,.0f}",
            f"{med('base_success'):.2f} -> {med('success'):.2f}",
        )
    console.print(table)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    console.print(f"load average {load} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
