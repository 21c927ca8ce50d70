"""Workflow search on dojo/NetDefense-v0: GP-UCB picks a reward-shaping workflow for PPO against B-line,
then the winner is trained against the uniform workflow and no workflow, and all are scored natively.

1. Search: `specs/cyber/workflow_search.yaml` (GP-UCB over its named workflows, each described by the
   mean weight it gives each kind of host), scaled to this machine: `--envs` envs stepped in process,
   `--rounds` rounds of `--frames` frames, each round scored by the mean over envs of each env's last
   3 training episodes of the native CAGE-2 return (`last_k_per_env_native`; no evaluation phase).
2. Training: the winning workflow, `uniform` and no workflow, each for the same `--frames` frames with
   `--seeds` seeds (seeds from 100, apart from the search's).
3. Evaluation: every trained policy (greedy) and the react-and-restore baseline play `--episodes`
   episodes of 30, 50 and 100 steps with the native CAGE-2 reward (no shaping), on the same seeds,
   through rldojo's evaluation path (`benchmarks/netdefense_eval.py`). A cell pools the episodes of
   all seeds: mean with its 80% BCa bootstrap interval; the per-seed means are given too.

    .venv/bin/python benchmarks/netdefense_workflow.py                  # about 20 minutes on 2 cores
    .venv/bin/python benchmarks/netdefense_workflow.py --frames 50000 --rounds 6
    .venv/bin/python benchmarks/netdefense_workflow.py --rounds 2 --frames 5000 --seeds 1 --episodes 5
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netdefense_eval import cell, play  # noqa: E402  (the evaluation of benchmarks/netdefense_eval.py)

SPEC = str(Path(__file__).resolve().parents[1] / "specs" / "cyber" / "workflow_search.yaml")
SEED_BASE = 100


def scaled_sets(args: argparse.Namespace) -> list[str]:
    """The spec scaled to this machine: fewer envs stepped in process, smaller PPO batches."""
    return [
        f"env.num_envs={args.envs}",
        "env.vectorize=sync",
        f"train.max_frames={args.frames}",
        "train.checkpoint_every=0",
        f"train.log_every={max(1000, args.frames // 20)}",
        f"agent.rollout_steps={args.rollout_steps}",
        f"agent.minibatch_size={args.envs * args.rollout_steps // 4}",
    ]


def run_search(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """GP-UCB over the spec's workflows; -> the rounds, the recommended workflow and its setting."""
    from rldojo.run.spec import load_spec
    from rldojo.search.tune import start_search

    sets = scaled_sets(args) + [
        f"search.scheduler.rounds={args.rounds}",
        f"search.scheduler.budget={args.frames}",
        "search.keep_checkpoints=0",
        f"meta.seed={args.search_seed}",
    ]
    spec = load_spec(SPEC, sets)
    started = time.time()
    outcome = start_search(spec, root / "search", ["benchmarks/netdefense_workflow.py"], show_progress=False)
    state = json.loads((outcome.experiment_dir / "gp_ucb.json").read_text())
    workflows = {candidate.name: candidate.set["env.kwargs.workflow"] for candidate in spec.search.candidates}
    return {
        "wall_s": time.time() - started,
        "rounds": state["rounds"],
        "recommended": state["recommended"],
        "posterior": dict(zip(workflows, zip(state["posterior"]["mean"], state["posterior"]["sd"]))),
        "workflows": workflows,
        "experiment": str(outcome.experiment_dir),
    }


class NativeScore:
    """A training callback: last_k_per_env_native over the run's training episodes (as the search scored)."""

    def __init__(self) -> None:
        from rldojo.search.metric import TrialMetric

        self.metric = TrialMetric("last_k_per_env_native", last_k=3)

    def on_episode(self, session: int, episode: dict[str, Any]) -> None:
        self.metric.on_episode(session, episode)


def train(args: argparse.Namespace, workflow: Any, seed: int, root: Path) -> tuple[Path, float, float]:
    """One run of the spec under `workflow` (None: none); -> run folder, training score, wall seconds."""
    import rldojo

    sets = scaled_sets(args) + [f"env.kwargs.workflow={json.dumps(workflow)}", f"meta.seed={seed}"]
    score = NativeScore()
    started = time.time()
    run = rldojo.train(SPEC, sets, out=root / "runs", callbacks=[score])
    return Path(run.path), score.metric.value(), time.time() - started


def evaluate(args: argparse.Namespace, agents: list[Any], own: dict[str, Any]) -> dict[str, Any]:
    """Each agent over the episode lengths, native reward; cells pool the agents' episodes."""
    row: dict[str, Any] = {}
    for length in args.lengths:
        kwargs = {**own, "red_agent": "b_line", "episode_length": length}
        per_agent = [play(agent, kwargs, args.episodes, args.eval_seed) for agent in agents]
        pooled = [value for returns in per_agent for value in returns]
        row[str(length)] = {**cell(pooled), "per_seed": [float(np.mean(returns)) for returns in per_agent]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", type=int, default=16, help="envs per run, stepped in process (default 16)")
    parser.add_argument("--frames", type=int, default=100_000, help="frames of each search round and each run")
    parser.add_argument("--rollout-steps", type=int, default=64, help="PPO rollout steps per env (default 64)")
    parser.add_argument("--rounds", type=int, default=4, help="GP-UCB rounds (default 4)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per workflow (default 3)")
    parser.add_argument("--search-seed", type=int, default=0, help="seed of the search's first round")
    parser.add_argument("--lengths", type=int, nargs="+", default=[30, 50, 100], help="evaluation episode lengths")
    parser.add_argument("--episodes", type=int, default=50, help="evaluation episodes per policy and length")
    parser.add_argument("--eval-seed", type=int, default=10_000, help="seed of the evaluation episodes")
    parser.add_argument("--out", type=Path, help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from rldojo.envs import make_env
    from rldojo.envs.cyber.baselines import ReactRestorePolicy

    console = Console(width=170)
    started = time.time()
    root = args.out or Path(tempfile.mkdtemp(prefix="netdefense_workflow_"))
    search = run_search(args, root)
    console.log(f"search: {args.rounds} rounds of {args.frames:,} frames in {search['wall_s']:.0f} s")

    table = Table(title=f"GP-UCB over workflows: PPO vs B-line, {args.envs} envs, {args.frames:,} frames a round")
    for column in ("round", "workflow", "UCB mean ± sd before", "beta", "score (last 3 per env, native)"):
        table.add_column(column, justify="left" if column == "workflow" else "right")
    for entry in search["rounds"]:
        value = "—" if entry["value"] is None else f"{entry['value']:.1f}"
        table.add_row(
            str(entry["round"]),
            entry["name"],
            f"{entry['mean']:.1f} ± {entry['sd']:.2f}",
            f"{entry['beta']:.2f}",
            value,
        )
    console.print(table)
    winner = search["recommended"]
    console.print(f"recommended workflow: [bold]{winner}[/] ({json.dumps(search['workflows'][winner])})")

    contenders = {f"winner: {winner}": search["workflows"][winner]}
    if winner != "uniform":
        contenders["uniform"] = "uniform"
    contenders["no workflow"] = None
    probe = make_env("dojo/NetDefense-v0")
    names = probe.unwrapped.action_names
    probe.close()
    results: dict[str, Any] = {
        "react-and-restore": {"train": None, "eval": evaluate(args, [ReactRestorePolicy(names)], {})}
    }
    import rldojo

    for label, workflow in contenders.items():
        runs = [train(args, workflow, SEED_BASE + index, root) for index in range(args.seeds)]
        console.log(f"trained {label}: {', '.join(f'{wall:.0f} s' for _, _, wall in runs)}")
        agents = [rldojo.load(run).agent for run, _, _ in runs]
        results[label] = {
            "workflow": workflow,
            "train": [score for _, score, _ in runs],
            "eval": evaluate(args, agents, {}),
            "runs": [str(run) for run, _, _ in runs],
        }
        console.log(f"evaluated {label}")

    table = Table(
        title=(
            f"dojo/NetDefense-v0 vs B-line: blue's native CAGE-2 return per episode, {args.seeds} seeds x "
            f"{args.episodes} episodes pooled, 80% bootstrap interval"
        )
    )
    table.add_column("blue policy")
    table.add_column("training score (per seed)", justify="right")
    for length in args.lengths:
        table.add_column(f"{length} steps", justify="right")
    table.add_column(f"{args.lengths[-1]} steps per seed", justify="right")
    for label, result in results.items():
        cells = [result["eval"][str(length)] for length in args.lengths]
        train_scores = "—" if result["train"] is None else ", ".join(f"{score:.1f}" for score in result["train"])
        table.add_row(
            label,
            train_scores,
            *(f"{c['mean']:.1f} [{c['low']:.1f}, {c['high']:.1f}]" for c in cells),
            ", ".join(f"{value:.1f}" for value in cells[-1]["per_seed"]),
        )
    console.print(table)
    wall = time.time() - started
    console.print(
        f"{date.today()}, {platform.machine()} {platform.processor() or ''}, wall {wall:.0f} s; "
        f"PPO {args.envs} envs x {args.rollout_steps} steps a rollout, {args.frames:,} frames per run; "
        f"evaluation seeds from {args.eval_seed}; runs under {root}"
    )
    if args.json:
        payload = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
        args.json.write_text(json.dumps({**payload, "wall_s": wall, "search": search, "results": results}, indent=2))


if __name__ == "__main__":
    main()
