"""The Session's loop for language-model agents: stages of whole episodes, not vector steps.

For an agent with `language_model = True` the Session hands over to `run_lm_session`. It builds
`num_envs` text envs and the agent's model, evaluates on held-out tasks before the first stage and
after each one, and drives each stage's `steps()`: SFT optimizer steps, GRPO iterations (one
batched rollout over all envs, then the update). Rows, checkpoints and result.json are the
Session's own (same columns, same keys), so trials, plots, search and `compare` work unchanged;
result.json gains `stages` (one held-out evaluation per stage boundary), and s<i>/stages.md shows
the table base -> SFT -> GRPO.

Frames are agent turns (played, or imitated in SFT). `train.max_frames` caps the whole session;
`train.iterations` is the number of iterations of each RL stage, and when it is set `eval_every`
and `checkpoint_every` count iterations (otherwise frames).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from loguru import logger

from rldojo.run import interrupt

#: Offset between training and evaluation task seeds (the Session's constant).
EVAL_SEED_OFFSET = 100_000


def is_language_model_agent(algo: str) -> bool:
    from rldojo.run.registry import ALGOS

    return bool(getattr(ALGOS[algo].agent, "language_model", False))


def _make_envs(spec, count: int, shaped: bool = False) -> list:
    """`count` envs of the spec; `shaped`: training envs, wrapped with env.shaping when it is set."""
    from rldojo.envs import make_env
    from rldojo.envs.text import ShapedReward

    envs = [make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps) for _ in range(count)]
    if shaped and spec.env.shaping is not None:
        envs = [ShapedReward(env, spec.env.shaping) for env in envs]
    return envs


def build_lm_agent(spec, seed: int, envs: list, task_cursor: int = 0):
    """The agent of `spec` with its model loaded, playing in `envs` (training tasks from `seed`)."""
    from rldojo.algos.lm_base import LMRuntime
    from rldojo.llm.tasks import TaskStream
    from rldojo.run.session import build_agent

    probe = envs[0]
    agent = build_agent(spec, probe.observation_space, probe.action_space, spec.env.num_envs, seed)
    task_env = _make_envs(spec, 1)[0]
    train_tasks = TaskStream(
        task_env, held_out=False, fraction=spec.agent.tasks.held_out, seed=seed, cursor=task_cursor
    )
    runtime = LMRuntime(
        env_id=spec.env.id,
        env_kwargs=dict(spec.env.kwargs),
        max_episode_steps=spec.env.max_episode_steps,
        envs=envs,
        train_tasks=train_tasks,
        iterations=spec.train.iterations,
        seed=seed,
    )
    agent.build(runtime)
    return agent


def held_out_starts(spec, seed: int, episodes: int) -> list:
    """The evaluation episodes: held-out tasks drawn from `seed` (the same at every evaluation)."""
    from rldojo.llm.tasks import TaskStream

    env = _make_envs(spec, 1)[0]
    try:
        stream = TaskStream(env, held_out=True, fraction=spec.agent.tasks.held_out, seed=seed)
        return [stream.next() for _ in range(episodes)]
    finally:
        env.close()


def evaluate_lm(agent, starts: list) -> tuple[dict[str, Any], list]:
    from rldojo.algos.lm_base import summarize_eval
    from rldojo.envs.text import native_rewards

    with native_rewards(agent.runtime.envs):
        episodes = agent.play(starts, evaluation=True)
    return summarize_eval(episodes), episodes


# ---- the session loop ---------------------------------------------------------------------------
def _fresh_lm_state(session) -> dict[str, Any]:
    state = session._fresh_state()
    state.update(
        lm_stage=0,
        lm_in_stage=False,
        lm_ticks=0,
        lm_next_eval=None,
        lm_next_ckpt=None,
        task_cursor=0,
        stage_evals=[],
        stage_started_wall=None,
    )
    return state


def run_lm_session(session) -> dict[str, Any]:
    """Train a language-model agent for one session (see the module docstring)."""
    from rldojo.run.session import EVAL_SEED_OFFSET as SESSION_EVAL_OFFSET
    from rldojo.track.tracker import Tracker

    spec, train = session.spec, session.spec.train
    torch.set_num_threads(spec.meta.torch_threads)
    checkpoint = session._load_resume_checkpoint()
    state = checkpoint["session"] if checkpoint else _fresh_lm_state(session)
    envs = _make_envs(spec, spec.env.num_envs, shaped=True)
    try:
        agent = build_lm_agent(spec, session.seed, envs, task_cursor=state["task_cursor"])
        if checkpoint:
            agent.load_state_dict(checkpoint["agent"])
            torch.set_rng_state(checkpoint["torch_rng"])
            logger.info(
                "session {} resumed at frame {}, stage {} (resume #{})",
                session.index,
                state["frame"],
                state["lm_stage"],
                state["resumes"],
            )
        tracker = Tracker(
            session.dir,
            agent.metric_names + ("stage",),
            tensorboard=spec.track.tensorboard,
            wandb_cfg=spec.track.wandb,
            run_name=f"{spec.name}-s{session.index}",
            resume_frame=state["frame"] if checkpoint else None,
        )
        starts = held_out_starts(spec, session.seed + SESSION_EVAL_OFFSET, train.eval_episodes)
        logger.info(
            "session {} seed {}: {} with {} envs, {} stages: {}",
            session.index,
            session.seed,
            spec.env.id,
            spec.env.num_envs,
            spec.agent.algo,
            " -> ".join(p.algo for p in agent.stage_params()),
        )
        try:
            status = _EpisodeLoop(session, agent, tracker, state, starts).run()
        finally:
            tracker.close()
    finally:
        for env in envs:
            env.close()
    result = session._finish(agent, state, status)
    result["stages"] = state["stage_evals"]
    _write_json(session.dir / "result.json", result)
    (session.dir / "stages.md").write_text(stage_table_markdown(state["stage_evals"], spec.env.id))
    return result


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


class _EpisodeLoop:
    def __init__(self, session, agent, tracker, state: dict[str, Any], starts: list) -> None:
        self.session, self.agent, self.tracker, self.state, self.starts = session, agent, tracker, state, starts
        self.train = session.spec.train
        window = self.train.return_window
        self.returns = deque(state["window_returns"], maxlen=window)
        self.lengths = deque(state["window_lengths"], maxlen=window)
        self.successes = deque(state["window_success"], maxlen=window)
        self.wall_before = state["wall_seconds"]
        self.wall_start = time.perf_counter()
        self.row_frame, self.row_seconds = state["frame"], state["train_seconds"]
        self.last_progress = 0.0
        self.by_iterations = self.train.iterations is not None
        if state["lm_next_eval"] is None:
            state["lm_next_eval"] = self.train.eval_every or math.inf
            state["lm_next_ckpt"] = self.train.checkpoint_every or math.inf

    # ---- bookkeeping ----------------------------------------------------------------------------
    def sync(self) -> None:
        state = self.state
        wall = self.wall_before + time.perf_counter() - self.wall_start
        state.update(
            window_returns=list(self.returns),
            window_lengths=list(self.lengths),
            window_success=list(self.successes),
            wall_seconds=wall,
            train_seconds=wall - state["eval_seconds"],
            task_cursor=self.agent.runtime.train_tasks.cursor,
            lm_in_stage=self.agent.trainer is not None,
        )

    def checkpoint(self, name: str) -> None:
        self.sync()
        self.session._checkpoint(name, self.agent, self.state)

    def log_row(self, metrics: dict[str, float], episodes: list, lr: float, eval_summary: dict | None = None) -> None:
        self.sync()
        state = self.state
        interval = state["train_seconds"] - self.row_seconds
        row = {
            "frame": state["frame"],
            "episode": state["episode"],
            "return": float(np.mean([ep.reward for ep in episodes])) if episodes else math.nan,
            "return_ma": float(np.mean(self.returns)) if self.returns else math.nan,
            "length": float(np.mean([ep.turns for ep in episodes])) if episodes else math.nan,
            "success_ma": float(np.mean(self.successes)) if self.successes else math.nan,
            "fps": (state["frame"] - self.row_frame) / interval
            if interval > 0 and state["frame"] > self.row_frame
            else math.nan,
            "lr": lr,
            "wall": round(state["wall_seconds"], 3),
            "stage": self.agent.stage,
            **metrics,
        }
        if eval_summary:
            row.update(
                eval_return=eval_summary["return_mean"],
                eval_return_std=eval_summary["return_std"],
                eval_success=eval_summary["success"],
            )
        self.tracker.log(row)
        if self.returns and row["return_ma"] > state["best_return_ma"]:
            state["best_return_ma"] = row["return_ma"]
        self.row_frame, self.row_seconds = state["frame"], state["train_seconds"]

    def evaluate(self, label: str) -> dict[str, Any]:
        state = self.state
        self.sync()
        started = time.perf_counter()
        summary, _ = evaluate_lm(self.agent, self.starts)
        summary["frame"] = state["frame"]
        state["eval_seconds"] += time.perf_counter() - started
        state["last_eval"] = summary
        logger.info(
            "session {} {}: held-out success {:.3f} [{:.3f}, {:.3f}] over {} episodes, reward {:.3f}, turns {:.2f}",
            self.session.index,
            label,
            summary["success"],
            summary["success_low"],
            summary["success_high"],
            summary["episodes"],
            summary["return_mean"],
            summary["length_mean"],
        )
        if summary["return_mean"] > state["best_eval_return"]:
            state["best_eval_return"] = summary["return_mean"]
            self.checkpoint("best")
        return summary

    def progress(self, force: bool = False) -> None:
        if self.session.progress is None:
            return
        now = time.perf_counter()
        if force or now - self.last_progress > 0.25:
            self.last_progress = now
            self.sync()
            self.session._report_progress(self.state, self.returns)

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> str:
        state, agent, train = self.state, self.agent, self.train
        stages = agent.stage_params()
        if not state["stage_evals"]:
            summary = self.evaluate("base model")
            state["stage_evals"].append({"stage": "base", "wall_s": 0.0, **summary})
            self.log_row({}, [], math.nan, summary)
        status = "done"
        while state["lm_stage"] < len(stages):
            index = state["lm_stage"]
            name = agent.stage_name(index)
            if agent.trainer is None:
                agent.begin_stage(index)
                state["stage_started_wall"] = state["wall_seconds"]
                state["lm_in_stage"] = True
            status = self.run_stage(agent.trainer)
            if status == "interrupted":
                break
            facts = agent.end_stage()
            self.sync()
            stage_wall = state["wall_seconds"] - (state["stage_started_wall"] or 0.0)
            summary = self.evaluate(f"after stage {index} ({name})")
            state["stage_evals"].append({"stage": name, "wall_s": stage_wall, **summary, **facts})
            self.log_row({}, [], math.nan, summary)
            agent.lm.export(self.session.dir / "models" / f"{index}_{name}")
            state["lm_stage"] = index + 1
            state["lm_in_stage"] = False
            if status == "budget" and state["lm_stage"] < len(stages):
                logger.warning(
                    "session {}: the frame budget (train.max_frames={}) is spent; stages after {} do not run",
                    self.session.index,
                    train.max_frames,
                    name,
                )
                state["lm_stage"] = len(stages)
            self.checkpoint("last")
        self.progress(force=True)
        if status == "interrupted":
            logger.warning(
                "session {} interrupted at frame {}: writing ckpt/last.pt", self.session.index, state["frame"]
            )
        self.checkpoint("last")
        return "interrupted" if status == "interrupted" else "done"

    def run_stage(self, trainer) -> str:
        state, train = self.state, self.train
        for report in trainer.steps():
            state["frame"] += report.frames
            for ep in report.episodes:
                self.returns.append(ep.reward)
                self.lengths.append(ep.turns)
                self.successes.append(float(ep.won))
            state["episode"] += len(report.episodes)
            if report.iteration:
                state["lm_ticks"] += 1
            clock = state["lm_ticks"] if self.by_iterations else state["frame"]
            eval_summary = None
            if report.iteration and clock >= state["lm_next_eval"]:
                eval_summary = self.evaluate(f"iteration {state['lm_ticks']}")
                while state["lm_next_eval"] <= clock:
                    state["lm_next_eval"] += train.eval_every
            self.log_row(report.metrics, report.episodes, report.lr, eval_summary)
            if clock >= state["lm_next_ckpt"]:
                self.checkpoint("last")
                while state["lm_next_ckpt"] <= clock:
                    state["lm_next_ckpt"] += train.checkpoint_every
            self.progress()
            if interrupt.requested():
                return "interrupted"
            if state["frame"] >= train.max_frames:
                return "budget"
        return "done"


# ---- reports ----------------------------------------------------------------------------------
def stage_table_markdown(stage_evals: list[dict[str, Any]], env_id: str) -> str:
    """The table base -> SFT -> GRPO of one session's held-out evaluations."""
    if not stage_evals:
        return ""
    level = int(round(100 * stage_evals[0].get("level", 0.8)))
    lines = [
        f"Held-out evaluation on {env_id} ({stage_evals[0]['episodes']} episodes per row; success with its "
        f"Jeffreys {level}% interval):",
        "",
        "| stage | success | interval | mean reward | mean turns | invalid actions | stage wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in stage_evals:
        lines.append(
            f"| {row['stage']} | {row['success']:.3f} | [{row['success_low']:.3f}, {row['success_high']:.3f}] "
            f"| {row['return_mean']:.3f} | {row['length_mean']:.2f} | {row['invalid_rate']:.3f} "
            f"| {row['wall_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def stage_report_section(trial: dict[str, Any]) -> str:
    """Markdown for a trial's report.md: each session's stage table (empty for tensor agents)."""
    parts = []
    for result in trial.get("sessions", []):
        stages = result.get("stages")
        if stages:
            parts.append(
                f"### Stages of session {result['session']} (seed {result['seed']})\n\n"
                + stage_table_markdown(stages, trial.get("env", ""))
            )
    return "\n".join(parts)
