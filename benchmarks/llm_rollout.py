"""Rollout throughput of language-model agents: batched multi-turn rollouts over 16 envs against
one env at a time, same model, same episodes (tasks and seeds), in the same run.

The model is rldojo's default tiny model (random weights, so every reply runs to max_new_tokens:
the worst case for generation, and the same work in every variant). Completion tokens/s counts
the tokens the model wrote; medians of `--repeats` runs. Also shown: batched without the prefix
cache (every turn re-reads the whole context), to show what reusing keys and values is worth.

    python benchmarks/llm_rollout.py                 # TextCraft, 16 envs, 16 episodes, 3 repeats
    python benchmarks/llm_rollout.py --env dojo/BabyAI-GoToLocal-v0 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

from rldojo.llm.rollout import RolloutStats, play
from rldojo.run.agents import build_lm_agent, make_text_envs
from rldojo.run.spec import spec_from_raw
from rldojo.track.log import setup_console

console = Console()


def build(env_id: str, kwargs: dict, num_envs: int, max_new_tokens: int):
    spec = spec_from_raw(
        {
            "name": "rollout_bench",
            "env": {"id": env_id, "num_envs": num_envs, "kwargs": kwargs},
            "agent": {
                "algo": "grpo",
                "model": {"path": "tiny", "max_model_len": 2048},
                "generation": {"max_new_tokens": max_new_tokens, "temperature": 1.0},
            },
            "meta": {"sessions": 1, "seed": 0},
        },
        [],
        source="benchmark",
    )
    envs = make_text_envs(spec, num_envs)
    return build_lm_agent(spec, 0, envs), envs


def run(agent, envs, starts, cache: bool, seed: int) -> tuple[float, int, float]:
    """(completion tokens/s, completion tokens, seconds) of playing `starts` over `envs`."""
    backend = agent.actor.backend
    backend.sync_weights()
    stats = RolloutStats()
    keys_kept = backend.max_cached
    backend.max_cached = keys_kept if cache else 0
    try:
        start = time.perf_counter()
        play(agent.actor, envs, starts, agent.sampling(), torch.Generator().manual_seed(seed), stats)
        seconds = time.perf_counter() - start
    finally:
        backend.max_cached = keys_kept
    return stats.generated_tokens / seconds, stats.generated_tokens, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dojo/TextCraft-v0")
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-turns", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    setup_console(False)
    torch.set_num_threads(1)
    kwargs = {"max_turns": args.max_turns}
    if "TextCraft" in args.env:
        kwargs["depths"] = [1, 2]
    agent, envs = build(args.env, kwargs, args.envs, args.max_new_tokens)
    starts = [agent.runtime.train_tasks.next() for _ in range(args.episodes)]
    variants = {
        f"batched, {args.envs} envs": (envs, True),
        f"batched, {args.envs} envs, no prefix cache": (envs, False),
        "one env at a time": (envs[:1], True),
    }
    rates: dict[str, list[float]] = {name: [] for name in variants}
    tokens: dict[str, int] = {}
    for repeat in range(args.repeats):
        for name, (group, cache) in variants.items():
            rate, count, _ = run(agent, group, starts, cache, seed=repeat)
            rates[name].append(rate)
            tokens[name] = count
    table = Table(
        title=f"{args.env}: {args.episodes} episodes, up to {args.max_turns} turns, "
        f"{args.max_new_tokens} new tokens per turn; tiny model "
        f"({agent.lm.parameter_count():,} parameters), torch threads 1, median of {args.repeats}"
    )
    for column in ("rollout", "completion tokens", "completion tokens/s", "vs one env"):
        table.add_column(column, justify="right")
    base = statistics.median(rates["one env at a time"])
    for name, values in rates.items():
        median = statistics.median(values)
        table.add_row(name, f"{tokens[name]:,}", f"{median:,.0f}", f"{median / base:.2f}x")
    console.print(table)
    console.print(
        f"load average while measuring: {', '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )
    for env in envs:
        env.close()


if __name__ == "__main__":
    main()
