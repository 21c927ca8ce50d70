"""Vector-env throughput: rldojo's engines against gymnasium's, envpool, and the one-core limit.

Steps/s (env steps summed over envs) for CartPole-v1 at 8, 64 and 200 envs, for a CartPole
wrapper that busy-waits 200 us per step at 8 and 64 envs, and for ALE/Pong-v5 with rldojo's Atari
preprocessing at 8 envs: rldojo sync / workers / pool / native / envpool / auto, gymnasium
SyncVectorEnv and AsyncVectorEnv (SAME_STEP autoreset), envpool used directly (its own NEXT_STEP
autoreset), and one env stepped in a plain loop (the single-core limit). Random actions are drawn
in advance; each figure is the median of 3 timed runs of ~0.6 s, each on an env built and warmed
up afresh, with the repeats taken in turn across the engines. The target: on every row, auto
within 10% of the best engine measured (the raw loop is one env, not an engine).

Then PPO in frames/s of training time, median of 3 sessions taken in turn: on CartPole (the
default spec) make_vec's auto engine and the worker engine against the core's gymnasium
SyncVectorEnv path; on Pong (specs/classic/ppo_pong.yaml, 8 envs) the envpool engine and auto
against gymnasium's SyncVectorEnv of the same preprocessed envs.

    ./dojo bench benchmarks/vector_throughput.py            # the full table (~8 minutes)
    ./dojo bench benchmarks/vector_throughput.py --quick    # a smoke run of the script
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from rich.console import Console
from rich.table import Table

BUSY_ID = "rldojo-bench/BusyCartPole-v0"
BUSY_US = 200.0
PONG_ID = "ALE/Pong-v5"
ENGINES = [
    "raw loop",
    "gym sync",
    "gym async",
    "envpool",
    "rldojo sync",
    "rldojo workers",
    "rldojo pool",
    "rldojo native",
    "rldojo envpool",
    "rldojo auto",
]
#: Engines that step the same kind of batch as auto (all but the one-env loop).
RIVALS = [engine for engine in ENGINES if engine not in ("raw loop", "rldojo auto")]


class BusyWait(gym.Wrapper):
    """CartPole whose step also burns BUSY_US of CPU: a stand-in for an env with real work per step."""

    def step(self, action):
        end = time.perf_counter() + BUSY_US * 1e-6
        while time.perf_counter() < end:
            pass
        return self.env.step(action)


def busy_cartpole() -> gym.Env:
    return BusyWait(gym.make("CartPole-v1"))


def register_busy() -> None:
    if BUSY_ID not in gym.registry:
        gym.register(BUSY_ID, entry_point=busy_cartpole)


# ---- one measurement ---------------------------------------------------------------------------
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


def single_env(env_id: str) -> gym.Env:
    """One env as every engine builds it (Atari ids with rldojo's preprocessing)."""
    from rldojo.envs import make_env

    return make_env(env_id)


def time_raw(env_id: str, actions: np.ndarray, seconds: float) -> float:
    env = single_env(env_id)
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


def build(engine: str, env_id: str, num_envs: int):
    from rldojo.envs import make_vec

    def make():
        return single_env(env_id)

    if engine == "gym sync":
        return gym.vector.SyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    if engine == "gym async":
        return gym.vector.AsyncVectorEnv([make] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    if engine == "envpool":
        import envpool

        if env_id == PONG_ID:  # the same preprocessing as rldojo's (see envpool_engine.py)
            return envpool.make_gymnasium(
                "Pong-v5",
                num_envs=num_envs,
                seed=0,
                reward_clip=False,
                use_fire_reset=False,
                repeat_action_probability=0.25,
            )
        return envpool.make_gymnasium(env_id, num_envs=num_envs, seed=0)
    mode = engine.split()[1]
    return make_vec(env_id, num_envs, vectorize=mode, workers=2 if mode in ("workers", "pool") else None)


AUTO_CHOICES: dict[tuple[str, int], list[str]] = {}


def describe_engine(venv) -> str:
    workers = getattr(venv, "num_workers", None)
    kind = type(venv).__name__
    if kind == "NativeVectorEnv":
        return "native"
    if kind == "EnvPoolVectorEnv":
        return "envpool"
    return "in-process" if workers is None else f"{workers} workers"


def measure(engine: str, env_id: str, num_envs: int, seconds: float) -> float | None:
    """One timed run of `seconds` on a freshly built and warmed-up vector env (None: not applicable)."""
    rng = np.random.default_rng(0)
    actions_n = 6 if env_id == PONG_ID else 2
    if engine == "raw loop":
        return time_raw(env_id, rng.integers(0, actions_n, 2_000_000), seconds)
    if engine in ("envpool", "rldojo envpool") and env_id == BUSY_ID:
        return None  # a Python env: envpool cannot run it
    if engine == "rldojo native" and env_id != "CartPole-v1":
        return None  # only CartPole registers a numpy-vectorised implementation
    venv = build(engine, env_id, num_envs)
    if engine == "rldojo auto":
        AUTO_CHOICES.setdefault((env_id, num_envs), []).append(describe_engine(venv))
    try:
        width = venv.batch_size if engine == "rldojo pool" else num_envs
        actions = rng.integers(0, actions_n, (max(64, 4_000_000 // num_envs), width))  # more than any run needs
        if engine == "envpool":
            venv.reset()
        else:
            venv.reset(seed=0)
        time_vector(venv, actions, seconds / 5)  # warm-up
        return time_vector(venv, actions, seconds)
    finally:
        venv.close()


# ---- PPO ---------------------------------------------------------------------------------------
PPO_SPECS = {"CartPole-v1": "classic/ppo_cartpole", PONG_ID: "classic/ppo_pong"}


def ppo_fps(env_id: str, vectorize: str, frames: int) -> float:
    """Training frames/s of the spec for `env_id`; 'gymnasium' is gymnasium's SyncVectorEnv of the
    same envs (rldojo's preprocessing for Atari) in place of make_vec."""
    import rldojo.run.vector_loop as session_module
    from rldojo.run.session import Session
    from rldojo.run.spec import load_spec

    spec = load_spec(
        PPO_SPECS[env_id],
        [
            f"env.vectorize={'sync' if vectorize == 'gymnasium' else vectorize}",
            "meta.sessions=1",
            f"train.max_frames={frames}",
            "train.eval_every=0",
            "train.checkpoint_every=0",
            f"train.log_every={frames // 2}",
            "track.tensorboard=false",
            "track.plots=false",
        ],
    )
    original = session_module.make_vec
    if vectorize == "gymnasium":

        def gym_make_vec(env_id, num_envs, seed=None, **_):
            venv = gym.vector.SyncVectorEnv(
                [lambda: single_env(env_id)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP
            )
            if seed is not None:
                venv.action_space.seed(seed)
            return venv

        session_module.make_vec = gym_make_vec
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = Session(spec, Path(tmp), 0).run()
    finally:
        session_module.make_vec = original
    return result["frames"] / result["train_seconds"]


def ppo_table(console: Console, env_id: str, paths: dict[str, str], frames: int, repeats: int) -> dict[str, float]:
    """PPO frames/s through each path (label -> vectorize), median of `repeats` taken in turn."""
    runs: dict[str, list[float]] = {path: [] for path in paths.values()}
    for _repeat in range(repeats):  # in turn across the paths, as above
        for path in runs:
            runs[path].append(ppo_fps(env_id, path, frames))
    ppo = {path: statistics.median(values) for path, values in runs.items()}
    console.log(
        f"PPO {env_id} frames/s runs: "
        + "; ".join(f"{path}: {', '.join(f'{r:,.0f}' for r in values)}" for path, values in runs.items())
    )
    table = Table(title=f"PPO {env_id} ({PPO_SPECS[env_id]}), training frames/s, {frames} frames, median of {repeats}")
    for label in paths:
        table.add_column(label, justify="right")
    table.add_row(*(f"{ppo[path]:,.0f}" for path in paths.values()))
    console.print(table)
    return ppo


# ---- report ------------------------------------------------------------------------------------
def fmt(rate: float | None) -> str:
    return "—" if rate is None else f"{rate / 1000:,.1f}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: check the script runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cases",
        nargs="+",
        metavar="ENVxN",
        help="only these table rows, e.g. CartPole-v1x200 (skips PPO and the target lines)",
    )
    args = parser.parse_args()

    from loguru import logger

    from rldojo.track.log import setup_quiet_child

    setup_quiet_child()
    logger.disable("rldojo")
    register_busy()
    console = Console(width=190)
    load_before = os.getloadavg()
    seconds = 0.05 if args.quick else 0.6  # of stepping per timed run
    cases = (
        [("CartPole-v1", "CartPole-v1", n) for n in (8, 64, 200)]
        + [(f"CartPole + {BUSY_US:.0f} us", BUSY_ID, n) for n in (8, 64)]
        + [("Pong (preprocessed)", PONG_ID, 8)]
    )
    if args.cases:
        cases = [case for case in cases if f"{case[1]}x{case[2]}" in args.cases]
    results: dict[tuple[str, int], dict[str, float | None]] = {}
    started = time.perf_counter()
    for label, env_id, n in cases:
        # Repeats go round the engines (A B C .. A B C ..), so a slow spell of this shared machine
        # lands on every engine alike instead of on whichever was being timed.
        runs: dict[str, list[float]] = {engine: [] for engine in ENGINES}
        for _repeat in range(args.repeats):
            for engine in ENGINES:
                rate = measure(engine, env_id, n, seconds)
                if rate is not None:
                    runs[engine].append(rate)
        row = results.setdefault((label, n), {})
        for engine in ENGINES:
            row[engine] = statistics.median(runs[engine]) if runs[engine] else None
            console.log(
                f"{label} x{n} {engine}: {fmt(row[engine])} steps/s (runs: {', '.join(fmt(r) for r in runs[engine])})"
            )
    table = Table(title=f"Env steps/s (median of {args.repeats}; 2 workers for workers/pool)")
    table.add_column("env")
    table.add_column("envs", justify="right")
    for engine in ENGINES:
        table.add_column(engine, justify="right")
    table.add_column("auto / best", justify="right")
    for (label, n), row in results.items():
        best = max(row[e] for e in RIVALS if row[e] is not None)
        table.add_row(label, str(n), *(fmt(row[e]) for e in ENGINES), f"{row['rldojo auto'] / best:.2f}")
    console.print(table)
    console.print(
        "auto chose: "
        + "; ".join(f"{env_id} x{n}: {', '.join(choices)}" for (env_id, n), choices in AUTO_CHOICES.items())
    )
    if args.cases:
        return

    frames = 4096 if args.quick else 24_576
    cartpole = ppo_table(
        console,
        "CartPole-v1",
        {"core gymnasium SyncVectorEnv": "gymnasium", "rldojo auto": "auto", "rldojo workers (forced)": "workers"},
        frames,
        args.repeats,
    )
    pong_frames = 2048 if args.quick else 8192
    pong = ppo_table(
        console,
        PONG_ID,
        {"gymnasium SyncVectorEnv": "gymnasium", "rldojo envpool": "envpool", "rldojo auto": "auto"},
        pong_frames,
        args.repeats,
    )

    def ratio(row: dict, a: str, b: str) -> str:
        return f"{row[a] / row[b]:.2f}x" if row.get(a) and row.get(b) else "—"

    busy64 = results[(f"CartPole + {BUSY_US:.0f} us", 64)]
    cart200 = results[("CartPole-v1", 200)]
    worst = min(results.items(), key=lambda item: item[1]["rldojo auto"] / max(item[1][e] or 0 for e in RIVALS))
    (worst_label, worst_n), worst_row = worst
    worst_ratio = worst_row["rldojo auto"] / max(worst_row[e] or 0 for e in RIVALS)
    console.print("Targets (2 cores):")
    console.print(
        f"  every row: rldojo auto / best engine >= 0.90 (lowest: {worst_ratio:.2f} on {worst_label} x{worst_n})"
    )
    console.print(
        f"  200 us env x64: rldojo workers / gym sync = {ratio(busy64, 'rldojo workers', 'gym sync')} "
        f"(target >= 1.8x; auto: {ratio(busy64, 'rldojo auto', 'gym sync')})"
    )
    console.print(
        f"  CartPole x200: rldojo workers / gym async = {ratio(cart200, 'rldojo workers', 'gym async')} (target >= 15x)"
    )
    console.print(
        f"  PPO CartPole: rldojo auto / core gymnasium path = {cartpole['auto'] / cartpole['gymnasium']:.2f}x "
        "(target >= 1.0x)"
    )
    console.print(
        f"  PPO Pong: rldojo envpool / gymnasium SyncVectorEnv = {pong['envpool'] / pong['gymnasium']:.2f}x; "
        f"auto: {pong['auto'] / pong['gymnasium']:.2f}x"
    )
    console.print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}; "
        f"wall {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
