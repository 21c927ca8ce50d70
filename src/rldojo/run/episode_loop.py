"""The episode loop: a language-model agent plays whole episodes and trains stage after stage.

It builds `num_envs` text envs and the agent's model, evaluates on held-out tasks before the first
stage and after each one, and drives each stage's `steps()`: SFT optimizer steps, GRPO iterations
(one batched rollout over all envs, then the update). Rows, checkpoints and result.json go through
the same Recorder as the vector loop (same columns, same keys); result.json gains `stages` (one
held-out evaluation per stage boundary), and s<i>/stages.md shows the table base -> SFT -> GRPO.

Frames are agent turns (played, or imitated in SFT). `train.max_frames` caps the whole session;
`train.iterations` is the number of iterations of each RL stage, and when it is set `eval_every`
and `checkpoint_every` count iterations (otherwise frames).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from loguru import logger

from rldojo.algos.lm_agent import LMAgent
from rldojo.algos.stage import StageTrainer
from rldojo.evaluate.play import play_held_out, summarize
from rldojo.run import interrupt
from rldojo.run.agents import EVAL_SEED_OFFSET, build_lm_agent, held_out_starts, make_text_envs, write_eval_set
from rldojo.run.distributed import any_process, is_main
from rldojo.run.recorder import Recorder
from rldojo.run.report import stage_table_markdown


def run_episode_session(session: Any, recorder: Recorder, checkpoint: dict | None) -> tuple[str, dict]:
    """Train a language-model agent through its stages; returns (status, extra result fields)."""
    spec, state = session.spec, recorder.state
    envs = make_text_envs(spec, spec.env.num_envs, shaped=True)
    try:
        agent = build_lm_agent(spec, session.seed, envs, task_cursor=state.task_cursor, session_dir=session.dir)
        if checkpoint:
            agent.load_state_dict(checkpoint["agent"])
            torch.set_rng_state(checkpoint["torch_rng"])
            logger.info("session {} continues in stage {}", session.index, state.lm_stage)
        recorder.open_tracker(agent.metric_names + ("stage",), resumed=checkpoint is not None)
        eval_seed = session.seed + EVAL_SEED_OFFSET
        starts = held_out_starts(spec, eval_seed, spec.train.eval_episodes)
        if is_main():
            write_eval_set(session.dir, eval_seed, len(starts), starts)
        logger.info(
            "session {} seed {}: {} with {} envs, {} stages: {}",
            session.index,
            session.seed,
            spec.env.id,
            spec.env.num_envs,
            spec.agent.algo,
            " -> ".join(p.algo for p in agent.stage_params()),
        )
        status = EpisodeLoop(session, agent, recorder, starts, eval_seed).run()
    finally:
        for env in envs:
            env.close()
    if is_main():
        (session.dir / "stages.md").write_text(stage_table_markdown(state.stage_evals, spec.env.id))
    return status, {"stages": state.stage_evals}


class EpisodeLoop:
    def __init__(self, session: Any, agent: LMAgent, recorder: Recorder, starts: list, eval_seed: int) -> None:
        self.session, self.agent, self.recorder, self.starts = session, agent, recorder, starts
        self.eval_seed = eval_seed
        self.train, self.state = session.spec.train, recorder.state
        self.by_iterations = self.train.iterations is not None

    def sync(self) -> None:
        self.state.task_cursor = self.agent.runtime.train_tasks.cursor
        self.state.lm_in_stage = self.agent.trainer is not None

    def checkpoint(self, name: str) -> None:
        self.sync()
        self.recorder.checkpoint(name, self.agent)

    def log_row(self, metrics: dict[str, float], lr: float, eval_summary: dict | None = None) -> None:
        self.recorder.log_row({"stage": self.agent.stage, **metrics}, lr, eval_summary)

    def evaluate(self, label: str) -> dict[str, Any]:
        """Held-out episodes at the evaluation temperature, native rewards; a better mean return
        writes ckpt/best.pt."""
        self.sync()
        with self.recorder.evaluation_time():
            summary = summarize(play_held_out(self.agent, self.starts, self.eval_seed))
            self.recorder.record_eval(summary, self.agent)
        logger.info(
            "session {} {}: held-out success {:.3f} [{:.3f}, {:.3f}] over {} episodes, reward {:.3f}, turns {:.2f}, "
            "unparsed replies {:.0%} of turns (played as written, no fallback)",
            self.session.index,
            label,
            summary["success"],
            summary["success_low"],
            summary["success_high"],
            summary["episodes"],
            summary["return_mean"],
            summary["length_mean"],
            summary["unparsed_rate"],
        )
        return summary

    # ---- the loop -------------------------------------------------------------------------------
    def run(self) -> str:
        state, agent = self.state, self.agent
        stages = agent.stage_params()
        if not state.stage_evals:
            summary = self.evaluate("base model")
            state.stage_evals.append({"stage": "base", "wall_s": 0.0, **summary})
            self.log_row({}, math.nan, summary)
        status = "done"
        while state.lm_stage < len(stages):
            if self.recorder.stop_requested:  # a callback said stop (after an evaluation, a row or a checkpoint)
                status = "stopped"
                break
            if agent.trainer is None:
                agent.begin_stage(state.lm_stage)
                state.stage_started_wall = state.wall_seconds
                state.lm_in_stage = True
            status = self.run_stage(agent.trainer)
            if status in ("interrupted", "stopped"):
                break
            self.end_stage(status, len(stages))
        self.recorder.progress(self.train.max_frames, force=True)
        if status == "interrupted":
            logger.warning("session {} interrupted at frame {}: writing ckpt/last.pt", self.session.index, state.frame)
        self.checkpoint("last")
        return status if status in ("interrupted", "stopped") else "done"

    def end_stage(self, status: str, stage_count: int) -> None:
        """Evaluate after the stage, export its model, and move to the next stage."""
        state, agent = self.state, self.agent
        index = state.lm_stage
        name = agent.stage_name(index)
        facts = agent.end_stage()
        self.recorder.sync()
        stage_wall = state.wall_seconds - (state.stage_started_wall or 0.0)
        summary = self.evaluate(f"after stage {index} ({name})")
        state.stage_evals.append({"stage": name, "wall_s": stage_wall, **summary, **facts})
        self.log_row({}, math.nan, summary)
        if is_main():
            agent.lm.export(self.session.dir / "models" / f"{index}_{name}")
        state.lm_stage = index + 1
        state.lm_in_stage = False
        if status == "budget" and state.lm_stage < stage_count:
            logger.warning(
                "session {}: the frame budget (train.max_frames={}) is spent; stages after {} do not run",
                self.session.index,
                self.train.max_frames,
                name,
            )
            state.lm_stage = stage_count
        self.checkpoint("last")

    def stage_steps(self, trainer: StageTrainer) -> tuple[int, int, str] | None:
        """The bar's unit inside a stage: its optimizer steps (SFT) or iterations (RL with
        train.iterations); None when only the frame budget ends the stage."""
        done, of = trainer.progress()
        if of is None:
            return None
        name = self.agent.stage_name(self.state.lm_stage)
        stages = len(self.agent.stage_params())
        return done, of, f"{name} steps (stage {self.state.lm_stage + 1}/{stages})"

    def run_stage(self, trainer: StageTrainer) -> str:
        state, cadence, recorder = self.state, self.recorder.cadence, self.recorder
        for report in trainer.steps():
            state.frame += report.frames
            for ep in report.episodes:
                recorder.episode_done(ep.reward, ep.turns, float(ep.won))
            if report.iteration:
                state.lm_ticks += 1
            clock = state.lm_ticks if self.by_iterations else state.frame
            eval_summary = None
            if report.iteration and cadence.due("eval", clock):
                eval_summary = self.evaluate(f"iteration {state.lm_ticks}")
                cadence.advance("eval", clock)
            self.log_row(report.metrics, report.lr, eval_summary)
            if cadence.due("ckpt", clock):
                self.checkpoint("last")
                cadence.advance("ckpt", clock)
            steps = self.stage_steps(trainer)
            recorder.progress(self.train.max_frames, force=steps is not None and steps[0] >= steps[1], steps=steps)
            if any_process(interrupt.requested()):
                return "interrupted"
            if recorder.stop_requested:
                return "stopped"
            if state.frame >= self.train.max_frames:
                return "budget"
        return "done"
