"""Wall time for PPO to solve CartPole-v1: rldojo vs Stable-Baselines3, same machine, same run.

Solved = mean return of 20 deterministic evaluation episodes >= 475, checked every
`--eval-every` frames for both libraries; evaluation time is excluded from both clocks.
SB3 runs the RL Zoo's tuned CartPole PPO (8 envs, n_steps 32, batch 256, 20 epochs, gae_lambda
0.8, gamma 0.98, linear lr 1e-3 and clip 0.2); rldojo runs its default spec, which uses the same
hyperparameters. Seeds alternate between the two libraries so machine noise hits both alike.

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
    spec = load_spec("classic/ppo_cartpole", [
        f"meta.seed={seed}", "meta.sessions=1", f"meta.torch_threads={threads}",
        f"train.max_frames={MAX_FRAMES}", f"train.eval_every={eval_every}",
        f"train.eval_episodes={EVAL_EPISODES}", f"train.stop_at_eval_return={SOLVED}",
        "train.checkpoint_every=0", "train.log_every=8192", "track.tensorboard=false", "track.plots=false",
    ])
    with tempfile.TemporaryDirectory() as tmp:
        result = Session(spec, Path(tmp), 0).run()
    return {
        "solved_s": result["solved_train_seconds"], "solved_frame": result["solved_frame"],
        "fps": result["frames"] / result["train_seconds"],
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
            self.solved_frame: int | None = None
            self.solved_s: float | None = None
            self.start = time.perf_counter()
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
            started = time.perf_counter()
            mean_return = self._evaluate()
            self.eval_seconds += time.perf_counter() - started
            if mean_return >= SOLVED:
                self.solved_frame = self.num_timesteps
                self.solved_s = time.perf_counter() - self.start - self.eval_seconds
                return False
            return True

    env = make_vec_env("CartPole-v1", n_envs=num_envs, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                ent_coef=0.0, learning_rate=lambda progress: progress * 1e-3,
                clip_range=lambda progress: progress * 0.2, seed=seed, verbose=0, device="cpu")
    callback = SolveCallback()
    callback.start = time.perf_counter()
    model.learn(MAX_FRAMES, callback=callback)
    train_s = time.perf_counter() - callback.start - callback.eval_seconds
    return {"solved_s": callback.solved_s, "solved_frame": callback.solved_frame,
            "fps": model.num_timesteps / train_s}


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

    table = Table(title=f"PPO CartPole-v1 time to solve (eval mean of {EVAL_EPISODES} greedy episodes >= {SOLVED:.0f}, "
                        f"checked every {args.eval_every} frames; eval time excluded; torch threads {args.threads})")
    for column in ("seed", "rldojo s", "rldojo frames", "rldojo fps", "SB3 s", "SB3 frames", "SB3 fps"):
        table.add_column(column, justify="right")
    for seed, ours, theirs in rows:
        table.add_row(str(seed), fmt(ours["solved_s"]), fmt(ours["solved_frame"], 0), fmt(ours["fps"], 0),
                      fmt(theirs["solved_s"]), fmt(theirs["solved_frame"], 0), fmt(theirs["fps"], 0))

    def median(key, which):
        values = [r[which][key] for r in rows if r[which][key] is not None]
        return statistics.median(values) if values else None

    ours_s, theirs_s = median("solved_s", 1), median("solved_s", 2)
    ours_fps, theirs_fps = median("fps", 1), median("fps", 2)
    table.add_row("median", fmt(ours_s), fmt(median("solved_frame", 1), 0), fmt(ours_fps, 0),
                  fmt(theirs_s), fmt(median("solved_frame", 2), 0), fmt(theirs_fps, 0), style="bold")
    console.print(table)
    unsolved = [(seed, lib) for seed, ours, theirs in rows
                for lib, r in (("rldojo", ours), ("SB3", theirs)) if r["solved_s"] is None]
    if ours_s and theirs_s:
        console.print(f"time-to-solve ratio rldojo/SB3 (medians): [bold]{ours_s / theirs_s:.2f}[/] (target <= 0.5)")
    console.print(f"training frames/s ratio rldojo/SB3 (medians): [bold]{ours_fps / theirs_fps:.2f}[/] (target >= 2)")
    console.print(f"unsolved within {MAX_FRAMES:,} frames: {unsolved or 'none'}")


if __name__ == "__main__":
    main()
