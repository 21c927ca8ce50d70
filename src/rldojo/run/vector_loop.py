"""The vector loop: a tensor agent steps a vector env, learns when its buffer is ready.

Per step: `act(obs)`, `env.step`, `observe(...)`, and `update(progress)` when `observe` says the
buffer is ready. Finished episodes go to the Recorder (with their native return where the env
reports `info["native_reward"]` apart from a shaped reward); rows, greedy evaluations and checkpoints
come when the Cadence says so. Resuming rebuilds the env with a fresh seed (env internals are not
checkpointed, so the episode in progress at the checkpoint is dropped).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from loguru import logger

from rldojo.algos.base import TensorAgent
from rldojo.envs import episode_success, final_observations, make_vec
from rldojo.evaluate.play import play_greedy, summarize
from rldojo.run import interrupt
from rldojo.run.agents import EVAL_SEED_OFFSET, build_agent, write_eval_set
from rldojo.run.recorder import Recorder
from rldojo.run.videos import VideoRecorder, first_video_mark

#: Offset per resume, so a resumed session does not replay the episodes it already saw.
RESUME_SEED_OFFSET = 7_919


def run_vector_session(session: Any, recorder: Recorder, checkpoint: dict | None) -> tuple[str, dict]:
    """Train a tensor agent to the budget; returns (status, extra result fields)."""
    spec, state = session.spec, recorder.state
    env_seed = session.seed + RESUME_SEED_OFFSET * state.resumes
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
    agent = build_agent(spec, env.single_observation_space, env.single_action_space, spec.env.num_envs, session.seed)
    logger.debug("agent {}: {}", spec.agent.algo, spec.agent.model_dump())
    logger.debug("parameters: {:,}", sum(p.numel() for m in agent.modules().values() for p in m.parameters()))
    if checkpoint:
        agent.load_state_dict(checkpoint["agent"])
        torch.set_rng_state(checkpoint["torch_rng"])
    recorder.open_tracker(agent.metric_names, resumed=checkpoint is not None)
    write_eval_set(session.dir, session.seed + EVAL_SEED_OFFSET, spec.train.eval_episodes)
    logger.info(
        "session {} seed {}: {} x{} ({}), {} for {} frames",
        session.index,
        session.seed,
        spec.env.id,
        spec.env.num_envs,
        type(env).__name__,
        spec.agent.algo,
        spec.train.max_frames,
    )
    try:
        status = VectorLoop(session, agent, recorder).run(env, env_seed)
    finally:
        env.close()
    return status, {}


def step_info_values(infos: dict, done: np.ndarray, key: str) -> np.ndarray | None:
    """Per env, the number `info[key]` of this step (NaN where that env's info has none); None where no env
    reported `key`. In SAME_STEP mode an env whose episode just ended has its step's info in `final_info`
    (its own `info` is the reset's), so that is where its value is read."""
    final_info = infos.get("final_info") if done.any() else None
    in_final = isinstance(final_info, dict) and key in final_info
    if key not in infos and not in_final:
        return None
    values = np.full(done.shape, np.nan)
    if key in infos:
        present = np.asarray(infos.get("_" + key, np.ones(done.shape, dtype=bool)), dtype=bool) & ~done
        values[present] = np.asarray(infos[key], dtype=float)[present]
    if in_final:
        present = np.asarray(final_info.get("_" + key, done), dtype=bool) & done
        values[present] = np.asarray(final_info[key], dtype=float)[present]
    return values


class VectorLoop:
    def __init__(self, session: Any, agent: TensorAgent, recorder: Recorder) -> None:
        self.session, self.agent, self.recorder = session, agent, recorder
        self.spec, self.train, self.state = session.spec, session.spec.train, recorder.state
        self.metrics: dict[str, float] = {name: math.nan for name in agent.metric_names}
        self.videos: VideoRecorder | None = None
        self.last_filmed: int | None = None
        if self.spec.track.video_every:
            self.videos = VideoRecorder(self.spec, session.dir, session.seed + EVAL_SEED_OFFSET)
            first_video_mark(self.state, self.spec.track.video_every)

    def run(self, env: Any, env_seed: int) -> str:
        agent, recorder, train, state = self.agent, self.recorder, self.train, self.state
        num_envs = self.spec.env.num_envs
        ep_return = np.zeros(num_envs)
        ep_length = np.zeros(num_envs, dtype=np.int64)
        ep_native = np.zeros(num_envs)  # sum of info["native_reward"], for envs that report one
        ep_native_steps = np.zeros(num_envs, dtype=np.int64)
        obs, _ = env.reset(seed=env_seed)
        status = "done"
        while state.frame < train.max_frames:
            actions = agent.act(obs)
            next_obs, rewards, terminated, truncated, infos = env.step(actions)
            done = terminated | truncated
            final_obs = final_observations(infos, done, next_obs) if done.any() else next_obs
            ready = agent.observe(rewards, terminated, truncated, next_obs, final_obs)
            ep_return += rewards
            ep_length += 1
            native = step_info_values(infos, done, "native_reward")
            if native is not None:
                reported = ~np.isnan(native)
                ep_native[reported] += native[reported]
                ep_native_steps += reported
            state.frame += num_envs
            if done.any():
                success = episode_success(infos, done)
                for i in np.flatnonzero(done):
                    # An episode carries a native return only if every one of its steps reported a native reward.
                    figures = {"native_return": float(ep_native[i])} if ep_native_steps[i] == ep_length[i] else {}
                    recorder.episode_done(
                        float(ep_return[i]), int(ep_length[i]), float(success[i]), env=int(i), **figures
                    )
                ep_return[done] = 0.0
                ep_length[done] = 0
                ep_native[done] = 0.0
                ep_native_steps[done] = 0
            obs = next_obs
            if ready:
                self.metrics = agent.update(progress=state.frame / train.max_frames)
            self.after_step()
            if state.solved_frame is not None:
                logger.info(
                    "session {} reached eval return {} at frame {}: stopping early",
                    self.session.index,
                    train.stop_at_eval_return,
                    state.frame,
                )
                break
            if interrupt.requested():
                status = "interrupted"
                logger.warning(
                    "session {} interrupted at frame {}: writing ckpt/last.pt", self.session.index, state.frame
                )
                break
            if recorder.stop_requested:  # a callback said stop: end like Ctrl-C, resumable to the budget
                status = "stopped"
                break
        self.close(status)
        return status

    def after_step(self) -> None:
        """Evaluate, log and checkpoint when they are due; report progress."""
        recorder, cadence, frame = self.recorder, self.recorder.cadence, self.state.frame
        eval_summary = None
        if cadence.due("eval", frame):
            eval_summary = self.evaluate()
            cadence.advance("eval", frame)
        if cadence.due("log", frame) or eval_summary is not None:
            recorder.log_row(self.metrics, self.agent.current_lr(), eval_summary)
            cadence.advance("log", frame)
        if cadence.due("ckpt", frame):
            recorder.checkpoint("last", self.agent)
            cadence.advance("ckpt", frame)
        if self.videos is not None and cadence.due("video", frame):
            self.film()
            cadence.advance("video", frame)
        recorder.progress(self.train.max_frames)

    def film(self) -> None:
        with self.recorder.evaluation_time():
            self.last_filmed = self.state.frame
            self.videos.record(self.agent, self.state.frame)

    def close(self, status: str) -> None:
        """The last evaluation and row, the last checkpoint (and the best one without evaluations)."""
        recorder, state, train = self.recorder, self.state, self.train
        last_eval = state.last_eval
        if (
            status == "done"
            and train.eval_every
            and state.solved_frame is None
            and (last_eval is None or last_eval["frame"] != state.frame)
        ):
            recorder.log_row(self.metrics, self.agent.current_lr(), self.evaluate())
        elif recorder.rows_pending():
            recorder.log_row(self.metrics, self.agent.current_lr())
        recorder.progress(train.max_frames, force=True)
        if self.videos is not None:
            if status == "done" and self.last_filmed != state.frame:
                self.film()  # the final policy, too
            self.videos.close()
        recorder.checkpoint("last", self.agent)
        if not train.eval_every and recorder.returns and recorder.return_ma() >= state.best_return_ma:
            recorder.checkpoint("best", self.agent)  # no evaluation: best by training return MA

    def evaluate(self) -> dict[str, Any]:
        """Greedy episodes on fresh envs; the best checkpoint and the early stop follow from them."""
        env_spec, train, state = self.spec.env, self.train, self.state
        with self.recorder.evaluation_time():
            episodes = play_greedy(
                self.agent,
                env_spec.id,
                train.eval_episodes,
                seed=self.session.seed + EVAL_SEED_OFFSET,
                env_kwargs=env_spec.kwargs,
                max_episode_steps=env_spec.max_episode_steps,
                atari=env_spec.atari_options(),
            )
            summary = summarize(episodes)
            self.recorder.record_eval(summary, self.agent)
        logger.info(
            "session {} frame {}: eval return {:.1f} +- {:.1f} over {} episodes{}",
            self.session.index,
            state.frame,
            summary["return_mean"],
            summary["return_std"],
            summary["episodes"],
            "" if summary["success"] is None else f", success {summary['success']:.2f}",
        )
        target = train.stop_at_eval_return
        if target is not None and summary["return_mean"] >= target and state.solved_frame is None:
            state.solved_frame = state.frame
            state.solved_train_seconds = state.train_seconds
            state.solved_cpu_seconds = state.cpu_seconds
        return summary
