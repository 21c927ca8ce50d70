"""Text worlds: speed, the built-in expert's success rate, and a random valid-action policy's.

    python benchmarks/text_worlds.py                 # every world in WORLDS, 200 tasks each
    python benchmarks/text_worlds.py --tasks 50 --worlds dojo/TextCraft-v0

Per world: env steps/s for one env and for 8 envs (rldojo's make_vec: in-process, gymnasium's
AsyncVectorEnv, and rldojo's worker engine; median of
`--repeats` runs, a random valid action each step), the expert's success over `--tasks` sampled tasks
(`reset(seed=i)` picks task i's id the way training does), and a random valid-action policy's
success on the same tasks, its episodes cut at `--random-max-turns` turns (BabyAI's own limits run
to hundreds of turns; a random walk only rarely wins before).

ALFWorld (`dojo/ALFWorld-v0`, generated scenes): the same measurements; per task type the expert's
success is printed too. SciWorld (`dojo/SciWorld-v0`): a JVM per env, loads of 1-55 s, gold paths
of up to 763 actions, so instead of `--tasks` sampled tasks the expert (the gold path) and the
random policy play `--sciworld-variations` train variations of every one of the 30 task families
(gold path with a turn limit of `--sciworld-max-turns`), reported per family, with the resident
memory of each env's JVM (after a reset and the speed run).

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
    "dojo/ALFWorld-v0",
    "dojo/SciWorld-v0",
]
# Worlds whose steps/s through the env server is compared with the same env in-process.
SERVED_WORLDS: list[str] = ["dojo/WebShop-v0"]


@dataclass
class Row:
    world: str
    steps_1: float
    steps_8_sync: float
    steps_8_async: float
    steps_8_workers: float
    expert_success: float
    expert_turns: float
    random_success: float


def random_action(rng: np.random.Generator, available: list[str]) -> str:
    return str(available[rng.integers(len(available))]) if len(available) else "look"


def play_expert(env: gym.Env, info: dict) -> dict:
    """Follow `info["expert_action"]` from a reset until the episode ends; the last info."""
    done = False
    while not done and info["expert_action"] is not None:
        _, _, term, trunc, info = env.step(info["expert_action"])
        done = term or trunc
    return info


def random_steps_per_second(env: gym.Env, steps: int, seed: int) -> float:
    """Steps per second of `env` playing random available actions (resets included)."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, info = env.step(random_action(rng, info["available_actions"]))
        if term or trunc:
            _, info = env.reset(seed=seed + i + 1)
    return steps / (time.perf_counter() - start)


def steps_per_second_single(world: str, steps: int, seed: int) -> float:
    env = gym.make(world)
    rate = random_steps_per_second(env, steps, seed)
    env.close()
    return rate


def steps_per_second_vector(world: str, steps: int, seed: int, mode: str, num_envs: int = 8) -> float:
    # A SciWorld step that ends episodes resets them inside the step (task loading takes seconds,
    # tens of seconds on a loaded machine): give it room before a worker counts as hung.
    venv = make_vec(world, num_envs, seed=seed, vectorize=mode, step_timeout=600.0)
    rng = np.random.default_rng(seed)
    obs, infos = venv.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(steps):
        actions = tuple(random_action(rng, infos["available_actions"][i]) for i in range(num_envs))
        obs, rewards, terms, truncs, infos = venv.step(actions)
    rate = steps * num_envs / (time.perf_counter() - start)
    venv.close()
    return rate


def success_rates(world: str, tasks: int, random_max_turns: int, first: int = 0) -> tuple[float, float, float]:
    """(expert success, expert mean turns, random valid-action success) over `tasks` sampled tasks."""
    env = gym.make(world)
    random_env = gym.make(world, max_turns=random_max_turns)
    rng = np.random.default_rng(0)
    expert_wins, random_wins, turns = 0, 0, []
    for seed in range(first, first + tasks):
        obs, info = env.reset(seed=seed)
        task_id = info["task_id"]
        info = play_expert(env, info)
        expert_wins += bool(info["won"])
        turns.append(info["turn"])
        if world == "dojo/ALFWorld-v0":
            row = ALFWORLD_BY_TYPE.setdefault(env.unwrapped.goal.task_type, [0, 0])
            row[0] += bool(info["won"])
            row[1] += 1
        obs, info = random_env.reset(seed=seed, options={"task_id": task_id})
        done = False
        while not done:
            obs, reward, term, trunc, info = random_env.step(random_action(rng, info["available_actions"]))
            done = term or trunc
        random_wins += bool(info["won"])
    return expert_wins / tasks, float(np.mean(turns)), random_wins / tasks


# ALFWorld task type -> [expert wins, episodes], filled by success_rates while it plays ALFWorld.
ALFWORLD_BY_TYPE: dict[str, list[int]] = {}


@dataclass
class FamilyRow:
    family: str
    expert_wins: int
    random_wins: int
    episodes: int
    expert_turns: float
    gold_length: float
    load_s: float
    score: float


def sciworld_by_family(
    variations: int, max_turns: int, random_max_turns: int, families: list[str] | None = None
) -> list[FamilyRow]:
    """Gold-path expert and random valid actions on the first train variations of every family."""
    from rldojo.envs.text.sciworld import task_families

    env = gym.make("dojo/SciWorld-v0", max_turns=max_turns, list_actions=False)
    random_env = gym.make("dojo/SciWorld-v0", max_turns=random_max_turns, gold_path=False)
    rng = np.random.default_rng(0)
    rows = []
    for family in families or task_families():
        first = env.unwrapped._first_of[family][0]
        wins, random_wins, turns, gold, loads, scores = 0, 0, [], [], [], []
        for task_id in range(first, first + variations):
            start = time.perf_counter()
            obs, info = env.reset(seed=0, options={"task_id": task_id})
            loads.append(time.perf_counter() - start)
            gold.append(len(env.unwrapped.gold))
            info = play_expert(env, info)
            wins += bool(info["won"])
            turns.append(info["turn"])
            scores.append(info["score"])
            obs, info = random_env.reset(seed=0, options={"task_id": task_id})
            done = False
            while not done:
                obs, reward, term, trunc, info = random_env.step(random_action(rng, info["available_actions"]))
                done = term or trunc
            random_wins += bool(info["won"])
        rows.append(
            FamilyRow(
                family,
                wins,
                random_wins,
                variations,
                float(np.mean(turns)),
                float(np.mean(gold)),
                float(np.mean(loads)),
                float(np.mean(scores)),
            )
        )
        logger.info(
            f"{family}: gold {wins}/{variations} (score {np.mean(scores):.2f}), random {random_wins}/{variations}"
        )
    env.close()
    random_env.close()
    return rows


def jvm_memory_mb(steps: int) -> float:
    """Resident memory (MB) of one SciWorld env's JVM after a reset and `steps` random valid actions."""
    env = gym.make("dojo/SciWorld-v0")
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    for i in range(steps):
        obs, reward, term, trunc, info = env.step(random_action(rng, info["available_actions"]))
        if term or trunc:
            obs, info = env.reset(seed=i + 1)
    with open(f"/proc/{env.unwrapped.jvm_pid}/status") as handle:
        rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS"))
    env.close()
    return rss / 1024


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
            rates.append(random_steps_per_second(env, steps, seed))
            env.close()
        return rates[0], rates[1]
    finally:
        server.terminate()
        server.wait(10)


def measure(world: str, args: argparse.Namespace) -> Row:
    def median(fn, *a) -> float:
        return statistics.median(fn(*a) for _ in range(args.repeats))

    if args.no_speed:
        steps_1 = steps_8_sync = steps_8_async = steps_8_workers = float("nan")
    else:
        steps_1 = median(steps_per_second_single, world, args.steps, 0)
        steps_8_sync = median(steps_per_second_vector, world, args.steps // 8 + 1, 0, "sync")
        steps_8_async = median(steps_per_second_vector, world, args.steps // 8 + 1, 0, "async")
        steps_8_workers = median(steps_per_second_vector, world, args.steps // 8 + 1, 0, "workers")
    args.sciworld_rows = getattr(args, "sciworld_rows", [])
    if args.no_success:
        return Row(
            world, steps_1, steps_8_sync, steps_8_async, steps_8_workers, float("nan"), float("nan"), float("nan")
        )
    if world == "dojo/SciWorld-v0":
        rows = sciworld_by_family(
            args.sciworld_variations, args.sciworld_max_turns, args.random_max_turns, args.sciworld_families
        )
        episodes = sum(r.episodes for r in rows)
        expert = sum(r.expert_wins for r in rows) / episodes
        random = sum(r.random_wins for r in rows) / episodes
        expert_turns = float(np.mean([r.expert_turns for r in rows]))
        args.sciworld_rows = rows
        return Row(world, steps_1, steps_8_sync, steps_8_async, steps_8_workers, expert, expert_turns, random)
    expert, expert_turns, random = success_rates(world, args.tasks, args.random_max_turns, args.first_seed)
    return Row(world, steps_1, steps_8_sync, steps_8_async, steps_8_workers, expert, expert_turns, random)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="*", default=WORLDS)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--steps", type=int, default=400, help="env steps per speed measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--random-max-turns", type=int, default=50)
    parser.add_argument("--sciworld-variations", type=int, default=2, help="train variations per SciWorld family")
    parser.add_argument("--sciworld-max-turns", type=int, default=1000, help="turn limit of SciWorld gold paths")
    parser.add_argument("--sciworld-families", nargs="*", default=None, help="only these SciWorld families")
    parser.add_argument("--no-speed", action="store_true", help="skip the steps/s measurements")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="sampled tasks use seeds first-seed, first-seed + 1, ..."
    )
    parser.add_argument("--no-success", action="store_true", help="skip the success runs (speed only)")
    args = parser.parse_args()
    logger.remove()  # the library's debug lines (e.g. the BabyAI bot giving up after a random detour)
    logger.add(sys.stderr, level="INFO")
    console = Console(width=150)
    table = Table(title=f"Text worlds ({args.tasks} sampled tasks each; steps/s median of {args.repeats})")
    for column in (
        "world",
        "steps/s 1 env",
        "steps/s 8 sync",
        "steps/s 8 gym async",
        "steps/s 8 rldojo workers",
        "expert success",
        "expert turns",
        f"random success (<= {args.random_max_turns} turns)",
    ):
        table.add_column(column, justify="left" if column == "world" else "right")
    for world in args.worlds:
        console.log(f"measuring {world} ...")
        row = measure(world, args)
        table.add_row(
            row.world,
            f"{row.steps_1:,.0f}",
            f"{row.steps_8_sync:,.0f}",
            f"{row.steps_8_async:,.0f}",
            f"{row.steps_8_workers:,.0f}",
            f"{row.expert_success:.1%}",
            f"{row.expert_turns:.1f}",
            f"{row.random_success:.1%}",
        )
    console.print(table)
    if "dojo/ALFWorld-v0" in args.worlds:
        by_type = Table(title=f"ALFWorld-style expert success per task type ({args.tasks} sampled tasks)")
        for column in ("task type", "expert wins", "success"):
            by_type.add_column(column, justify="left" if column == "task type" else "right")
        for kind, (wins, n) in sorted(ALFWORLD_BY_TYPE.items()):
            by_type.add_row(kind, f"{wins}/{n}", f"{wins / n:.1%}")
        console.print(by_type)
    if "dojo/SciWorld-v0" in args.worlds:
        per_family = Table(
            title=f"SciWorld per task family ({args.sciworld_variations} train variations each; gold "
            f"path up to {args.sciworld_max_turns} turns, random up to {args.random_max_turns})"
        )
        for column in ("family", "gold wins", "gold score", "gold length", "expert turns", "random wins", "load s"):
            per_family.add_column(column, justify="left" if column == "family" else "right")
        for r in args.sciworld_rows:
            per_family.add_row(
                r.family,
                f"{r.expert_wins}/{r.episodes}",
                f"{r.score:.2f}",
                f"{r.gold_length:.0f}",
                f"{r.expert_turns:.0f}",
                f"{r.random_wins}/{r.episodes}",
                f"{r.load_s:.1f}",
            )
        console.print(per_family)
        if not args.no_speed:
            console.print(f"SciWorld JVM resident memory per env: {jvm_memory_mb(args.steps // 4):,.0f} MB")
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
