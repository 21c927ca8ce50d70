"""Text worlds: speed, the built-in expert's success rate, and a random valid-action policy's.

    python benchmarks/text_worlds.py                 # every world in WORLDS, 200 tasks each
    python benchmarks/text_worlds.py --tasks 50 --worlds dojo/TextCraft-v0

Per world: env steps/s for one env and for 8 envs (rldojo's make_vec, sync and async; median of
`--repeats` runs, a random valid action each step), the expert's success over `--tasks` sampled tasks
(`reset(seed=i)` picks task i's id the way training does), and a random valid-action policy's
success on the same tasks, its episodes cut at `--random-max-turns` turns (BabyAI's own limits run
to hundreds of turns; a random walk only rarely wins before).

Env server: for each world of SERVED_WORLDS, steps/s of the same random valid-action play through
`rldojo env serve` (a separate process, `RemoteTextEnv` client) and in-process.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from loguru import logger
from rich.console import Console
from rich.table import Table

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs import make_vec
from rldojo.envs.server import EnvServerError, RemoteTextEnv

# One row per world; add a world by adding its id (it must follow the TextEnv protocol).
WORLDS: list[str] = [
    "dojo/TextCraft-v0",
    "dojo/BabyAI-GoToRedBall-v0",
    "dojo/BabyAI-GoToLocal-v0",
    "dojo/BabyAI-PickupLoc-v0",
    "dojo/BabyAI-PutNextLocal-v0",
    "dojo/BabyAI-Open-v0",
    "dojo/BabyAI-UnlockLocal-v0",
    "dojo/BabyAI-GoToSeq-v0",
    "dojo/BabyAI-BossLevel-v0",
    "dojo/WebShop-v0",
]
# Worlds whose steps/s through the env server is compared with the same env in-process.
SERVED_WORLDS: list[str] = ["dojo/WebShop-v0"]


@dataclass
class Row:
    world: str
    steps_1: float
    steps_8_sync: float
    steps_8_async: float
    expert_success: float
    expert_turns: float
    random_success: float


def random_action(rng: np.random.Generator, available: list[str]) -> str:
    return str(available[rng.integers(len(available))]) if len(available) else "look"


def steps_per_second_single(world: str, steps: int, seed: int) -> float:
    env = gym.make(world)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        obs, reward, term, trunc, info = env.step(random_action(rng, info["available_actions"]))
        if term or trunc:
            obs, info = env.reset(seed=seed + i + 1)
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def steps_per_second_vector(world: str, steps: int, seed: int, mode: str, num_envs: int = 8) -> float:
    venv = make_vec(world, num_envs, seed=seed, vectorize=mode)
    rng = np.random.default_rng(seed)
    obs, infos = venv.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        actions = tuple(random_action(rng, infos["available_actions"][i]) for i in range(num_envs))
        obs, rewards, terms, truncs, infos = venv.step(actions)
    rate = steps * num_envs / (time.perf_counter() - start)
    venv.close()
    return rate


def success_rates(world: str, tasks: int, random_max_turns: int) -> tuple[float, float, float]:
    """(expert success, expert mean turns, random valid-action success) over `tasks` sampled tasks."""
    env = gym.make(world)
    random_env = gym.make(world, max_turns=random_max_turns)
    rng = np.random.default_rng(0)
    expert_wins, random_wins, turns = 0, 0, []
    for seed in range(tasks):
        obs, info = env.reset(seed=seed)
        task_id = info["task_id"]
        done = False
        while not done and info["expert_action"] is not None:
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            done = term or trunc
        expert_wins += bool(info["won"])
        turns.append(info["turn"])
        obs, info = random_env.reset(seed=seed, options={"task_id": task_id})
        done = False
        while not done:
            obs, reward, term, trunc, info = random_env.step(random_action(rng, info["available_actions"]))
            done = term or trunc
        random_wins += bool(info["won"])
    return expert_wins / tasks, float(np.mean(turns)), random_wins / tasks


def served_steps_per_second(world: str, steps: int, seed: int) -> tuple[float, float]:
    """(in-process, through the env server) steps/s of the same random valid-action play."""
    with socket.socket() as probe:  # a free loopback port for the server process
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = f"from rldojo.envs.server import serve; serve({world!r}, port={port})"
    server = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                remote = RemoteTextEnv(f"http://127.0.0.1:{port}")
                break
            except EnvServerError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        rates = []
        for env in (gym.make(world), remote):
            rng = np.random.default_rng(seed)
            obs, info = env.reset(seed=seed)
            start = time.perf_counter()
            for i in range(steps):
                obs, reward, term, trunc, info = env.step(random_action(rng, info["available_actions"]))
                if term or trunc:
                    obs, info = env.reset(seed=seed + i + 1)
            rates.append(steps / (time.perf_counter() - start))
            env.close()
        return rates[0], rates[1]
    finally:
        server.terminate()
        server.wait(10)


def measure(world: str, args: argparse.Namespace) -> Row:
    def median(fn, *a) -> float:
        return statistics.median(fn(*a) for _ in range(args.repeats))

    steps_1 = median(steps_per_second_single, world, args.steps, 0)
    steps_8_sync = median(steps_per_second_vector, world, args.steps // 8 + 1, 0, "sync")
    steps_8_async = median(steps_per_second_vector, world, args.steps // 8 + 1, 0, "async")
    expert, expert_turns, random = success_rates(world, args.tasks, args.random_max_turns)
    return Row(world, steps_1, steps_8_sync, steps_8_async, expert, expert_turns, random)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="*", default=WORLDS)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--steps", type=int, default=400, help="env steps per speed measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--random-max-turns", type=int, default=50)
    args = parser.parse_args()
    logger.remove()  # the library's debug lines (e.g. the BabyAI bot giving up after a random detour)
    logger.add(sys.stderr, level="INFO")
    console = Console(width=150)
    table = Table(title=f"Text worlds ({args.tasks} sampled tasks each; steps/s median of {args.repeats})")
    for column in ("world", "steps/s 1 env", "steps/s 8 sync", "steps/s 8 async", "expert success",
                   "expert turns", f"random success (<= {args.random_max_turns} turns)"):
        table.add_column(column, justify="left" if column == "world" else "right")
    for world in args.worlds:
        console.log(f"measuring {world} ...")
        row = measure(world, args)
        table.add_row(row.world, f"{row.steps_1:,.0f}", f"{row.steps_8_sync:,.0f}", f"{row.steps_8_async:,.0f}",
                      f"{row.expert_success:.1%}", f"{row.expert_turns:.1f}", f"{row.random_success:.1%}")
    console.print(table)
    served = Table(title=f"Env server round trip (random valid actions, {args.steps} steps; median of {args.repeats})")
    for column in ("world", "steps/s in-process", "steps/s via server", "server / in-process"):
        served.add_column(column, justify="left" if column == "world" else "right")
    for world in [w for w in SERVED_WORLDS if w in args.worlds]:
        console.log(f"measuring {world} through the env server ...")
        runs = [served_steps_per_second(world, args.steps, 0) for _ in range(args.repeats)]
        local, remote = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        served.add_row(world, f"{local:,.0f}", f"{remote:,.0f}", f"{remote / local:.1%}")
    console.print(served)


if __name__ == "__main__":
    main()
