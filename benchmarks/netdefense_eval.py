"""Blue's mean CAGE-2 reward per 30-, 50- and 100-step episode: trained runs against the baselines.

For each episode length, every policy plays the same evaluation episodes (same seeds) of
dojo/NetDefense-v0 against one red agent with the native CAGE-2 reward (a run's workflow shaping,
if any, is off): the sleep and react-and-restore baselines, and the greedy policy of each run
folder given. Each cell is the mean return with its 80% BCa bootstrap interval (rldojo's
evaluation statistics), played through rldojo's evaluation path (`play_greedy`), as `rldojo eval`.

    .venv/bin/python benchmarks/netdefense_eval.py runs/ppo_netdefense_bline_<stamp> --red b_line
    .venv/bin/python benchmarks/netdefense_eval.py --red meander --episodes 50     # baselines only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

ENV_ID = "dojo/NetDefense-v0"
LEVEL = 0.8


def play(agent: Any, kwargs: dict[str, Any], episodes: int, seed: int) -> list[float]:
    from rldojo.evaluate.play import play_greedy

    return [episode["return"] for episode in play_greedy(agent, ENV_ID, episodes, seed, env_kwargs=kwargs)]


def cell(returns: list[float]) -> dict[str, Any]:
    from rldojo.evaluate.stats import bootstrap_mean_interval

    interval = bootstrap_mean_interval(returns, LEVEL)
    return {"mean": float(np.mean(returns)), "low": interval.low, "high": interval.high, "episodes": len(returns)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run folders of agents trained on dojo/NetDefense-v0")
    parser.add_argument("--red", choices=["b_line", "meander"], default="b_line", help="red agent (default b_line)")
    parser.add_argument("--lengths", type=int, nargs="+", default=[30, 50, 100], help="episode lengths")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per policy and length")
    parser.add_argument("--seed", type=int, default=10_000, help="seed of the evaluation episodes")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()

    import rldojo
    from rldojo.envs import make_env
    from rldojo.envs.cyber.baselines import ReactRestorePolicy, SleepPolicy

    probe = make_env(ENV_ID)
    names = probe.unwrapped.action_names
    probe.close()
    policies: dict[str, tuple[Any, dict[str, Any]]] = {
        "sleep": (SleepPolicy(names), {}),
        "react-and-restore": (ReactRestorePolicy(names), {}),
    }
    for run in args.runs:
        policy = rldojo.load(run)
        if policy.spec.env.id != ENV_ID:
            raise SystemExit(f"{run} was trained on {policy.spec.env.id}, not {ENV_ID}")
        # The run's own options (action set, green users, scenario), without its shaping.
        own = {k: v for k, v in policy.spec.env.kwargs.items() if k not in ("workflow", "workflow_weight")}
        policies[f"{policy.spec.name} ({run.name})"] = (policy.agent, own)

    console = Console(width=160)
    table = Table(title=f"{ENV_ID} vs {args.red}: blue's mean return per episode, 80% bootstrap interval")
    table.add_column("blue policy")
    for length in args.lengths:
        table.add_column(f"{length} steps", justify="right")
    results: dict[str, dict[str, Any]] = {}
    for name, (agent, own) in policies.items():
        row = results.setdefault(name, {})
        for length in args.lengths:
            kwargs = {**own, "red_agent": args.red, "episode_length": length}
            row[str(length)] = cell(play(agent, kwargs, args.episodes, args.seed))
        table.add_row(
            name, *(f"{c['mean']:.1f} [{c['low']:.1f}, {c['high']:.1f}]" for c in (row[str(n)] for n in args.lengths))
        )
        console.log(f"played {name}")
    console.print(table)
    console.print(f"{args.episodes} episodes per cell, seeds from {args.seed}; native CAGE-2 reward")
    if args.json:
        args.json.write_text(json.dumps({"red": args.red, "results": results}, indent=2))


if __name__ == "__main__":
    main()
