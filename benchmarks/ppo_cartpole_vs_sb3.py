"""Wall time for PPO to solve CartPole-v1: rldojo vs Stable-Baselines3, same machine, same run.

Solved = mean return of 20 deterministic evaluation episodes >= 475, checked every
`--eval-every` frames for both libraries; evaluation time is excluded from both clocks.
SB3 runs the RL Zoo's tuned CartPole PPO (8 envs, n_steps 32, batch 256, 20 epochs, gae_lambda
0.8, gamma 0.98, linear lr 1e-3 and clip 0.2); rldojo runs its default spec, which uses the same
hyperparameters. Seeds alternate between the two libraries so machine noise hits both alike.
Besides wall time, each side's process CPU time is reported (both run torch on one thread): on a
shared, loaded machine it is the steadier measure of the work each library does.

    ./dojo bench benchmarks/ppo_cartpole_vs_sb3.py --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

SOLVED = 475.0
EVAL_EPISODES = 20
MAX_FRAMES = 100_000


def run_rldojo(seed: int, eval_every: int, threads: int) -> dict:
    from rldojo.run.session import Session
    from rldojo.run.spec import load_spec
    from rldojo.track.log import setup_quiet_child

    setup_quiet_child()
    spec = load_spec(
        "classic/ppo_cartpole",
        [
            f"meta.seed={seed}",
            "meta.sessions=1",
            f"meta.torch_threads={threads}",
            f"train.max_frames={MAX_FRAMES}",
            f"train.eval_every={eval_every}",
            f"train.eval_episodes={EVAL_EPISODES}",
            f"train.stop_at_eval_return={SOLVED}",
            "train.checkpoint_every=0",
            "train.log_every=8192",
            "track.tensorboard=false",
            "track.plots=false",
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = Session(spec, Path(tmp), 0).run()
    return {
        "solved_s": result["solved_train_seconds"],
        "solved_frame": result["solved_frame"],
        "fps": result["frames"] / result["train_seconds"],
        "solved_cpu_s": result["solved_cpu_seconds"],
        "cpu_fps": result["frames"] / result["cpu_seconds"],
    }


def run_sb3(seed: int, eval_every: int, threads: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(threads)
    num_envs = 8

    class SolveCallback(BaseCallback):
        """Every eval_every frames: 20 greedy episodes on a separate vector env, clock paused."""

        def __init__(self) -> None:
            super().__init__()
            self.eval_seconds = 0.0
            self.eval_cpu_seconds = 0.0
            self.solved_frame: int | None = None
            self.solved_s: float | None = None
            self.solved_cpu_s: float | None = None
            self.start = time.perf_counter()
            self.cpu_start = time.process_time()
            self.eval_env = gym.make_vec("CartPole-v1", num_envs=EVAL_EPISODES, vectorization_mode="sync")

        def _evaluate(self) -> float:
            obs, _ = self.eval_env.reset(seed=seed + 100_000)
            returns = np.zeros(EVAL_EPISODES)
            finished = np.zeros(EVAL_EPISODES, dtype=bool)
            while not finished.all():
                actions, _ = self.model.predict(obs, deterministic=True)
                obs, rewards, terminated, truncated, _ = self.eval_env.step(actions)
                returns += rewards * ~finished
                finished |= terminated | truncated
            return float(returns.mean())

        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every != 0:
                return True
            started, cpu_started = time.perf_counter(), time.process_time()
            mean_return = self._evaluate()
            self.eval_seconds += time.perf_counter() - started
            self.eval_cpu_seconds += time.process_time() - cpu_started
            if mean_return >= SOLVED:
                self.solved_frame = self.num_timesteps
                self.solved_s = time.perf_counter() - self.start - self.eval_seconds
                self.solved_cpu_s = time.process_time() - self.cpu_start - self.eval_cpu_seconds
                return False
            return True

    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=lambda progress: progress * 1e-3,
        clip_range=lambda progress: progress * 0.2,
        seed=seed,
        verbose=0,
        device="cpu",
    )
    callback = SolveCallback()
    callback.start, callback.cpu_start = time.perf_counter(), time.process_time()
    model.learn(MAX_FRAMES, callback=callback)
    train_s = time.perf_counter() - callback.start - callback.eval_seconds
    train_cpu_s = time.process_time() - callback.cpu_start - callback.eval_cpu_seconds
    return {
        "solved_s": callback.solved_s,
        "solved_frame": callback.solved_frame,
        "fps": model.num_timesteps / train_s,
        "solved_cpu_s": callback.solved_cpu_s,
        "cpu_fps": model.num_timesteps / train_cpu_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per library (>= 3)")
    parser.add_argument("--eval-every", type=int, default=2048, help="frames between solve checks")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both libraries")
    args = parser.parse_args()
    console = Console()
    rows = []
    for seed in range(args.seeds):
        ours = run_rldojo(seed, args.eval_every, args.threads)
        theirs = run_sb3(seed, args.eval_every, args.threads)
        rows.append((seed, ours, theirs))
        console.print(f"seed {seed}: rldojo {ours}  sb3 {theirs}")

    def fmt(value, digits=2):
        return "not solved" if value is None else f"{value:,.{digits}f}"

    table = Table(
        title=f"PPO CartPole-v1 time to solve (eval mean of {EVAL_EPISODES} greedy episodes >= {SOLVED:.0f}, "
        f"checked every {args.eval_every} frames; eval time excluded; torch threads {args.threads})"
    )
    columns = (
        "seed",
        "rldojo s",
        "rldojo CPU s",
        "rldojo frames",
        "rldojo fps",
        "rldojo CPU fps",
        "SB3 s",
        "SB3 CPU s",
        "SB3 frames",
        "SB3 fps",
        "SB3 CPU fps",
    )
    for column in columns:
        table.add_column(column, justify="right")
    keys = (("solved_s", 2), ("solved_cpu_s", 2), ("solved_frame", 0), ("fps", 0), ("cpu_fps", 0))
    for seed, ours, theirs in rows:
        table.add_row(str(seed), *[fmt(ours[k], d) for k, d in keys], *[fmt(theirs[k], d) for k, d in keys])

    def median(key, which):
        values = [r[which][key] for r in rows if r[which][key] is not None]
        return statistics.median(values) if values else None

    table.add_row(
        "median", *[fmt(median(k, 1), d) for k, d in keys], *[fmt(median(k, 2), d) for k, d in keys], style="bold"
    )
    console.print(table)
    for label, key, target in (
        ("time-to-solve, wall", "solved_s", "<= 0.5"),
        ("time-to-solve, CPU", "solved_cpu_s", "<= 0.5"),
        ("training frames/s, wall", "fps", ">= 2"),
        ("training frames/s, CPU", "cpu_fps", ">= 2"),
    ):
        ours_m, theirs_m = median(key, 1), median(key, 2)
        if ours_m and theirs_m:
            console.print(f"{label} ratio rldojo/SB3 (medians): [bold]{ours_m / theirs_m:.2f}[/] (target {target})")
    unsolved = [
        (seed, lib)
        for seed, ours, theirs in rows
        for lib, r in (("rldojo", ours), ("SB3", theirs))
        if r["solved_s"] is None
    ]
    console.print(f"unsolved within {MAX_FRAMES:,} frames: {unsolved or 'none'}")


if __name__ == "__main__":
    main()
