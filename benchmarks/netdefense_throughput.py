"""NetDefense throughput: env steps/s of dojo/NetDefense-v0 through gymnasium's and rldojo's engines.

Steps/s (env steps summed over envs) for 1 env and for 200 envs against B-line with random blue
actions: one env stepped in a plain loop (the single-core figure; also with CAGE-2's 145 actions,
and the same simulator and scenario driven through CybORG's own ChallengeWrapper, as shipped),
gymnasium SyncVectorEnv and AsyncVectorEnv (one process per env), and rldojo's engines through
`make_vec`: sync (in process), workers (2 worker processes, shared memory) and auto. Actions are drawn in advance; each figure is
the median of `--repeats` timed runs, each on an env built and warmed up afresh, with the repeats
taken in turn across the engines so a slow spell of a shared machine lands on all of them alike.

    .venv/bin/python benchmarks/netdefense_throughput.py            # the full table (~10 minutes)
    .venv/bin/python benchmarks/netdefense_throughput.py --quick    # a smoke run of the script
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from rich.console import Console
from rich.table import Table

ENV_ID = "dojo/NetDefense-v0"
KWARGS = {"red_agent": "b_line", "episode_length": 100}
ENGINES = [
    "CybORG ChallengeWrapper",
    "raw loop (145 actions)",
    "raw loop",
    "gym sync",
    "gym async",
    "rldojo sync",
    "rldojo workers",
    "rldojo auto",
]
RAW = {"raw loop": 54, "raw loop (145 actions)": 145}
SIZES = (1, 200)


def make_env() -> gym.Env:
    import rldojo  # noqa: F401  (registers dojo/ ids in a spawned worker too)

    return gym.make(ENV_ID, disable_env_checker=True, **KWARGS)


def build(engine: str, num_envs: int):
    from rldojo.envs import make_vec

    if engine == "gym sync":
        return gym.vector.SyncVectorEnv([make_env] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    if engine == "gym async":
        return gym.vector.AsyncVectorEnv([make_env] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    mode = engine.split()[1]
    return make_vec(
        ENV_ID, num_envs, seed=0, vectorize=mode, env_kwargs=KWARGS, workers=2 if mode == "workers" else None
    )


def time_vector(venv, actions: np.ndarray, seconds: float) -> float:
    """Env steps per second, stepping through `actions` (one batch per row) for about `seconds`."""
    start = time.perf_counter()
    done = 0
    for row in actions:
        venv.step(row)
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return done * actions.shape[1] / elapsed


def time_raw(actions: np.ndarray, seconds: float, action_set: str) -> float:
    env = gym.make(ENV_ID, disable_env_checker=True, action_set=action_set, **KWARGS)
    env.reset(seed=0)
    start = time.perf_counter()
    done = 0
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        done += 1
        if terminated or truncated:
            env.reset()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    env.close()
    return done / elapsed


def time_challenge_wrapper(actions: np.ndarray, seconds: float) -> float:
    """The same simulator and scenario driven as CybORG ships it: its ChallengeWrapper, step by step."""
    env = gym.make(ENV_ID, disable_env_checker=True, action_set="full", **KWARGS)
    challenge = env.unwrapped.seat.challenge
    challenge.reset()
    start = time.perf_counter()
    done = 0
    for action in actions:
        challenge.step(action=int(action))
        done += 1
        if done % KWARGS["episode_length"] == 0:
            challenge.reset()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    env.close()
    return done / elapsed


AUTO_CHOICES: dict[int, list[str]] = {}


def measure(engine: str, num_envs: int, seconds: float) -> float | None:
    """One timed run of `seconds` on a freshly built and warmed-up vector env (None: not applicable)."""
    rng = np.random.default_rng(0)
    if engine == "CybORG ChallengeWrapper":
        return time_challenge_wrapper(rng.integers(0, 145, 1_000_000), seconds) if num_envs == 1 else None
    if engine in RAW:
        if num_envs > 1:
            return None
        return time_raw(rng.integers(0, RAW[engine], 1_000_000), seconds, "full" if RAW[engine] == 145 else "reduced")
    venv = build(engine, num_envs)
    if engine == "rldojo auto":
        workers = getattr(venv, "num_workers", None)
        AUTO_CHOICES.setdefault(num_envs, []).append("in-process" if workers is None else f"{workers} workers")
    try:
        actions = rng.integers(0, 54, (max(64, 200_000 // num_envs), num_envs))  # more than any run needs
        venv.reset(seed=0)
        time_vector(venv, actions, seconds / 4)  # warm-up
        return time_vector(venv, actions, seconds)
    finally:
        venv.close()


def fmt(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the script runs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from loguru import logger

    import rldojo  # noqa: F401  (registers the dojo/ ids)

    logger.disable("rldojo")
    console = Console(width=150)
    load_before = os.getloadavg()
    seconds = 0.3 if args.quick else 4.0
    repeats = 1 if args.quick else args.repeats
    started = time.perf_counter()
    results: dict[int, dict[str, float | None]] = {}
    for num_envs in SIZES:
        runs: dict[str, list[float]] = {engine: [] for engine in ENGINES}
        for _repeat in range(repeats):
            for engine in ENGINES:
                rate = measure(engine, num_envs, seconds)
                if rate is not None:
                    runs[engine].append(rate)
        results[num_envs] = {e: statistics.median(r) if r else None for e, r in runs.items()}
        for engine in ENGINES:
            console.log(f"x{num_envs} {engine}: runs {', '.join(fmt(r) for r in runs[engine]) or '—'} steps/s")

    table = Table(title=f"{ENV_ID} vs B-line, env steps/s (median of {repeats}; workers: 2 processes)")
    table.add_column("engine")
    for num_envs in SIZES:
        table.add_column(f"{num_envs} env{'s' if num_envs > 1 else ''}", justify="right")
    table.add_column("200 envs / gym sync", justify="right")
    table.add_column("200 envs / gym async", justify="right")
    for engine in ENGINES:
        row = [results[n][engine] for n in SIZES]
        big, sync, asyn = results[200][engine], results[200]["gym sync"], results[200]["gym async"]
        table.add_row(
            engine,
            *(fmt(rate) for rate in row),
            f"{big / sync:.2f}x" if big and sync else "—",
            f"{big / asyn:.2f}x" if big and asyn else "—",
        )
    console.print(table)
    console.print("auto chose: " + "; ".join(f"x{n}: {', '.join(c)}" for n, c in AUTO_CHOICES.items()))
    console.print(
        f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}; "
        f"wall {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
