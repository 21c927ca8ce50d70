"""Session: one seed of one spec. Builds env and agent, runs the loop, tracks, evaluates, checkpoints.

Folder `s<i>/`: metrics.csv, tb/, log.txt, curve.png, ckpt/last.pt, ckpt/best.pt, result.json.

Resuming restores the agent (nets, optimizer, RNG), the counters, the return window and the
schedules from ckpt/last.pt, rebuilds the env with a fresh seed (env internals are not
checkpointed, so the episode in progress at the checkpoint is dropped), cuts metrics.csv back to
the checkpoint's frame, and carries on to the same budget.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from loguru import logger

from rldojo.algos.base import TensorAgent
from rldojo.algos.normalized import NormalizedAgent
from rldojo.envs import episode_success, final_observations, make_vec
from rldojo.errors import CheckpointError
from rldojo.run import interrupt
from rldojo.run.checkpoint import load_checkpoint, save_checkpoint
from rldojo.run.evaluation import evaluate_agent, summarize_episodes
from rldojo.run.registry import ALGOS
from rldojo.run.spec import Spec
from rldojo.track.log import add_file_log
from rldojo.track.plots import plot_session_curve
from rldojo.track.tracker import Tracker, read_metrics

ProgressFn = Callable[[int, dict[str, Any]], None]

#: Offset between training and evaluation env seeds, so evaluation sees other initial states.
EVAL_SEED_OFFSET = 100_000
#: Offset per resume, so a resumed session does not replay the episodes it already saw.
RESUME_SEED_OFFSET = 7_919


def build_agent(spec: Spec, obs_space, action_space, num_envs: int, seed: int) -> TensorAgent:
    """The spec's agent for these spaces, wrapped for observation/reward normalisation and Atari reward
    clipping when the env section asks for them (the wrapper's statistics live in its checkpoints)."""
    torch.manual_seed(seed)  # network init
    entry = ALGOS[spec.agent.algo]
    agent = entry.agent(spec.agent, obs_space, action_space, num_envs, spec.train.max_frames, seed)
    env = spec.env
    if env.normalize_obs or env.normalize_reward or env.clips_atari_rewards():
        agent = NormalizedAgent(
            agent,
            normalize_obs=env.normalize_obs,
            normalize_reward=env.normalize_reward,
            obs_clip=env.normalize_obs_clip,
            reward_clip=env.normalize_reward_clip,
            gamma=float(getattr(spec.agent, "gamma", 0.99)),
            sign_rewards=env.clips_atari_rewards(),
        )
    return agent


class Session:
    def __init__(self, spec: Spec, run_dir: Path, index: int, progress: ProgressFn | None = None) -> None:
        self.spec, self.index = spec, index
        self.seed = spec.meta.seed + index
        self.dir = Path(run_dir) / f"s{index}"
        self.ckpt_dir = self.dir / "ckpt"
        self.progress = progress

    # ------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train to the budget (or resume toward it) and return the session's result."""
        result_path = self.dir / "result.json"
        if result_path.exists():
            done = json.loads(result_path.read_text())
            if done.get("status") == "done":
                logger.info("session {} already finished; skipping", self.index)
                return done
        self.dir.mkdir(parents=True, exist_ok=True)
        log_id = add_file_log(self.dir / "log.txt")
        try:
            return self._run()
        finally:
            logger.remove(log_id)

    def _run(self) -> dict[str, Any]:
        if getattr(ALGOS[self.spec.agent.algo].agent, "language_model", False):
            from rldojo.run.episode_loop import run_lm_session  # whole episodes, not vector steps

            return run_lm_session(self)
        spec, train = self.spec, self.spec.train
        torch.set_num_threads(spec.meta.torch_threads)
        checkpoint = self._load_resume_checkpoint()
        state = checkpoint["session"] if checkpoint else self._fresh_state()
        env_seed = self.seed + RESUME_SEED_OFFSET * state["resumes"]
        env = make_vec(
            spec.env.id,
            spec.env.num_envs,
            seed=env_seed,
            vectorize=spec.env.vectorize,
            env_kwargs=spec.env.kwargs,
            max_episode_steps=spec.env.max_episode_steps,
            workers=spec.env.workers,
            step_timeout=spec.env.step_timeout,
            max_restarts=spec.env.max_restarts,
            ray_address=spec.env.ray_address,
            atari=spec.env.atari_options(),
        )
        agent = build_agent(spec, env.single_observation_space, env.single_action_space, spec.env.num_envs, self.seed)
        logger.debug("agent {}: {}", spec.agent.algo, spec.agent.model_dump())
        logger.debug("parameters: {:,}", sum(p.numel() for m in agent.modules().values() for p in m.parameters()))
        if checkpoint:
            agent.load_state_dict(checkpoint["agent"])
            torch.set_rng_state(checkpoint["torch_rng"])
            logger.info("session {} resumed at frame {} (resume #{})", self.index, state["frame"], state["resumes"])
        tracker = Tracker(
            self.dir,
            agent.metric_names,
            tensorboard=spec.track.tensorboard,
            wandb_cfg=spec.track.wandb,
            run_name=f"{spec.name}-s{self.index}",
            resume_frame=state["frame"] if checkpoint else None,
        )
        logger.info(
            "session {} seed {}: {} x{} ({}), {} for {} frames",
            self.index,
            self.seed,
            spec.env.id,
            spec.env.num_envs,
            type(env).__name__,
            spec.agent.algo,
            train.max_frames,
        )
        try:
            status = self._loop(env, agent, tracker, state)
        finally:
            env.close()
            tracker.close()
        return self._finish(agent, state, status)

    # ------------------------------------------------------------------------------------------
    def _fresh_state(self) -> dict[str, Any]:
        train = self.spec.train
        return {
            "frame": 0,
            "episode": 0,
            "resumes": 0,
            "train_seconds": 0.0,
            "wall_seconds": 0.0,
            "eval_seconds": 0.0,
            "cpu_seconds": 0.0,
            "eval_cpu_seconds": 0.0,
            "next_log": train.log_every,
            "next_eval": train.eval_every if train.eval_every else math.inf,
            "next_ckpt": train.checkpoint_every if train.checkpoint_every else math.inf,
            "window_returns": [],
            "window_lengths": [],
            "window_success": [],
            "best_return_ma": -math.inf,
            "best_eval_return": -math.inf,
            "last_eval": None,
            "solved_frame": None,
            "solved_train_seconds": None,
            "solved_cpu_seconds": None,
        }

    def _load_resume_checkpoint(self) -> dict | None:
        path = self.ckpt_dir / "last.pt"
        if not path.exists():
            return None
        checkpoint = load_checkpoint(path)
        if checkpoint.get("algo") != self.spec.agent.algo or checkpoint.get("seed") != self.seed:
            raise CheckpointError(
                f"checkpoint '{path}' belongs to algo '{checkpoint.get('algo')}' seed {checkpoint.get('seed')}, "
                f"but this session is algo '{self.spec.agent.algo}' seed {self.seed}."
            )
        checkpoint["session"]["resumes"] += 1
        for key in ("cpu_seconds", "eval_cpu_seconds"):  # checkpoints written before CPU accounting
            checkpoint["session"].setdefault(key, 0.0)
        return checkpoint

    def _checkpoint(self, name: str, agent: TensorAgent, state: dict[str, Any]) -> None:
        save_checkpoint(
            self.ckpt_dir / f"{name}.pt",
            {
                "spec_name": self.spec.name,
                "algo": self.spec.agent.algo,
                "seed": self.seed,
                "session_index": self.index,
                "frame": state["frame"],
                "agent": agent.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "session": dict(state),
            },
        )

    # ------------------------------------------------------------------------------------------
    def _loop(self, env, agent: TensorAgent, tracker: Tracker, state: dict[str, Any]) -> str:
        spec, train = self.spec, self.spec.train
        num_envs = spec.env.num_envs
        window = train.return_window
        returns = deque(state["window_returns"], maxlen=window)
        lengths = deque(state["window_lengths"], maxlen=window)
        successes = deque(state["window_success"], maxlen=window)
        pending_returns: list[float] = []
        pending_lengths: list[int] = []
        metrics: dict[str, float] = {name: math.nan for name in agent.metric_names}
        ep_return = np.zeros(num_envs)
        ep_length = np.zeros(num_envs, dtype=np.int64)

        obs, _ = env.reset(seed=self.seed + RESUME_SEED_OFFSET * state["resumes"])
        frame = state["frame"]
        row_frame, row_seconds = frame, state["train_seconds"]
        wall_before = state["wall_seconds"]
        # CPU time of this process (torch runs one thread): robust to other load on a shared machine.
        cpu_before = state.get("cpu_seconds", 0.0) + state.get("eval_cpu_seconds", 0.0)
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        last_progress = 0.0
        status = "done"

        def sync_state() -> None:
            wall = wall_before + time.perf_counter() - wall_start
            # Training time excludes evaluation, so fps and time-to-solve measure learning only.
            state.update(
                frame=frame,
                window_returns=list(returns),
                window_lengths=list(lengths),
                window_success=list(successes),
                wall_seconds=wall,
                train_seconds=wall - state["eval_seconds"],
                cpu_seconds=cpu_before + time.process_time() - cpu_start - state["eval_cpu_seconds"],
            )

        def log_row(eval_summary: dict | None = None) -> None:
            nonlocal row_frame, row_seconds, pending_returns, pending_lengths
            sync_state()
            interval = state["train_seconds"] - row_seconds
            row = {
                "frame": frame,
                "episode": state["episode"],
                "return": float(np.mean(pending_returns)) if pending_returns else math.nan,
                "return_ma": float(np.mean(returns)) if returns else math.nan,
                "length": float(np.mean(pending_lengths)) if pending_lengths else math.nan,
                "success_ma": float(np.mean(successes)) if successes else math.nan,
                "fps": (frame - row_frame) / interval if interval > 0 else math.nan,
                "lr": agent.current_lr(),
                "wall": round(state["wall_seconds"], 3),
                **metrics,
            }
            if eval_summary:
                row.update(
                    eval_return=eval_summary["return_mean"],
                    eval_return_std=eval_summary["return_std"],
                    eval_success=eval_summary["success"],
                )
            tracker.log(row)
            if returns and row["return_ma"] > state["best_return_ma"]:
                state["best_return_ma"] = row["return_ma"]
            row_frame, row_seconds = frame, state["train_seconds"]
            pending_returns, pending_lengths = [], []

        while frame < train.max_frames:
            actions = agent.act(obs)
            next_obs, rewards, terminated, truncated, infos = env.step(actions)
            done = terminated | truncated
            final_obs = final_observations(infos, done, next_obs) if done.any() else next_obs
            ready = agent.observe(rewards, terminated, truncated, next_obs, final_obs)
            ep_return += rewards
            ep_length += 1
            frame += num_envs
            if done.any():
                success = episode_success(infos, done)
                for i in np.flatnonzero(done):
                    returns.append(float(ep_return[i]))
                    lengths.append(int(ep_length[i]))
                    pending_returns.append(float(ep_return[i]))
                    pending_lengths.append(int(ep_length[i]))
                    if not math.isnan(success[i]):
                        successes.append(float(success[i]))
                state["episode"] += int(done.sum())
                ep_return[done] = 0.0
                ep_length[done] = 0
            obs = next_obs
            if ready:
                metrics = agent.update(progress=frame / train.max_frames)

            eval_summary = None
            if frame >= state["next_eval"]:
                sync_state()
                eval_summary = self._evaluate(agent, state, frame)
                state["next_eval"] += train.eval_every
            if frame >= state["next_log"] or eval_summary is not None:
                log_row(eval_summary)
                while state["next_log"] <= frame:
                    state["next_log"] += train.log_every
            if frame >= state["next_ckpt"]:
                sync_state()
                self._checkpoint("last", agent, state)
                state["next_ckpt"] += train.checkpoint_every
            if self.progress is not None:
                now = time.perf_counter()
                if now - last_progress > 0.25:
                    last_progress = now
                    sync_state()
                    self._report_progress(state, returns)
            if state["solved_frame"] is not None:
                logger.info(
                    "session {} reached eval return {} at frame {}: stopping early",
                    self.index,
                    train.stop_at_eval_return,
                    frame,
                )
                break
            if interrupt.requested():
                status = "interrupted"
                logger.warning("session {} interrupted at frame {}: writing ckpt/last.pt", self.index, frame)
                break

        last_eval = state["last_eval"]
        if (
            status == "done"
            and train.eval_every
            and state["solved_frame"] is None
            and (last_eval is None or last_eval["frame"] != frame)
        ):
            log_row(self._evaluate(agent, state, frame))
        elif frame != row_frame:
            log_row()
        sync_state()
        if self.progress is not None:
            self._report_progress(state, returns)
        self._checkpoint("last", agent, state)
        if not train.eval_every and returns and float(np.mean(returns)) >= state["best_return_ma"]:
            self._checkpoint("best", agent, state)  # no evaluation: best by training return MA
        return status

    def _evaluate(self, agent: TensorAgent, state: dict[str, Any], frame: int) -> dict:
        train, env_spec = self.spec.train, self.spec.env
        started, cpu_started = time.perf_counter(), time.process_time()
        episodes = evaluate_agent(
            agent,
            env_spec.id,
            train.eval_episodes,
            seed=self.seed + EVAL_SEED_OFFSET,
            env_kwargs=env_spec.kwargs,
            max_episode_steps=env_spec.max_episode_steps,
            atari=env_spec.atari_options(),
        )
        summary = summarize_episodes(episodes)
        summary["frame"] = frame
        state["last_eval"] = summary
        logger.info(
            "session {} frame {}: eval return {:.1f} +- {:.1f} over {} episodes{}",
            self.index,
            frame,
            summary["return_mean"],
            summary["return_std"],
            summary["episodes"],
            "" if summary["success"] is None else f", success {summary['success']:.2f}",
        )
        if summary["return_mean"] > state["best_eval_return"]:
            state["best_eval_return"] = summary["return_mean"]
            self._checkpoint("best", agent, state)
        # Evaluation, and the best checkpoint it writes, is not training time: keep it out of fps
        # and time-to-solve.
        state["eval_seconds"] += time.perf_counter() - started
        state["eval_cpu_seconds"] += time.process_time() - cpu_started
        target = train.stop_at_eval_return
        if target is not None and summary["return_mean"] >= target and state["solved_frame"] is None:
            state["solved_frame"] = frame
            state["solved_train_seconds"] = state["train_seconds"]
            state["solved_cpu_seconds"] = state["cpu_seconds"]
        return summary

    def _report_progress(self, state: dict[str, Any], returns: deque) -> None:
        self.progress(
            self.index,
            {
                "frame": state["frame"],
                "total": self.spec.train.max_frames,
                "fps": state["frame"] / state["train_seconds"] if state["train_seconds"] > 0 else 0.0,
                "return_ma": float(np.mean(returns)) if returns else math.nan,
                "success_ma": float(np.mean(state["window_success"])) if state["window_success"] else math.nan,
            },
        )

    def _finish(self, agent: TensorAgent, state: dict[str, Any], status: str) -> dict[str, Any]:
        metrics_path = self.dir / "metrics.csv"
        metrics = read_metrics(metrics_path)
        ma = [v for v in metrics.get("return_ma", []) if not math.isnan(v)]
        if self.spec.track.plots:
            plot_session_curve(metrics, self.dir / "curve.png", f"{self.spec.name} — session {self.index}")
        window_success = state["window_success"]
        result = {
            "session": self.index,
            "seed": self.seed,
            "status": status,
            "frames": state["frame"],
            "episodes": state["episode"],
            "final_return_ma": ma[-1] if ma else None,
            "best_return_ma": max(ma) if ma else None,
            "success_ma": float(np.mean(window_success)) if window_success else None,
            "best_eval_return": None if math.isinf(state["best_eval_return"]) else state["best_eval_return"],
            "last_eval": state["last_eval"],
            "solved_frame": state["solved_frame"],
            "solved_train_seconds": state["solved_train_seconds"],
            "solved_cpu_seconds": state.get("solved_cpu_seconds"),
            "cpu_seconds": state.get("cpu_seconds"),
            "fps": state["frame"] / state["train_seconds"] if state["train_seconds"] > 0 else None,
            "train_seconds": state["train_seconds"],
            "wall_s": state["wall_seconds"],
            "resumes": state["resumes"],
        }
        tmp = self.dir / "result.json.tmp"
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, self.dir / "result.json")
        return result
