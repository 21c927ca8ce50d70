"""What both session loops write, in one place: metric rows, checkpoints, progress, result.json.

A `Recorder` holds the session's state (`SessionState`), its return windows and its clocks, and a
`Cadence` says when a row, an evaluation or a checkpoint is due. The vector loop (tensor agents)
and the episode loop (language-model agents) feed it episodes and metrics; the rows they write
have the same columns, so plots, search, eval and compare never care which loop ran.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from loguru import logger

from rldojo.run.checkpoint import save_checkpoint
from rldojo.run.distributed import is_main
from rldojo.run.state import SessionState
from rldojo.track.files import write_json_atomic
from rldojo.track.plots import plot_session_curve
from rldojo.track.tracker import Tracker, read_metrics

ProgressFn = Callable[[int, dict[str, Any]], None]


def on_host(value: Any) -> Any:
    """`value` (nested dicts, lists and tuples of tensors) with every tensor on the CPU; CPU tensors
    are kept as they are (no copy)."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        moved = {key: on_host(item) for key, item in value.items()}
        if isinstance(value, OrderedDict):  # a module's state dict: keep its type and version metadata
            moved = OrderedDict(moved)
            if hasattr(value, "_metadata"):
                moved._metadata = value._metadata
        return moved
    if type(value) in (list, tuple):
        return type(value)(on_host(item) for item in value)
    return value


class StopTraining(Exception):
    """Raised by a training callback to stop the session it was called from (as returning False does)."""


class Cadence:
    """When to log, evaluate and checkpoint: an event is due once the loop's clock (frames, or
    iterations for language-model stages with `train.iterations`) reaches its next mark."""

    def __init__(
        self, state: SessionState, log_every: int, eval_every: int, checkpoint_every: int, video_every: int = 0
    ) -> None:
        self.state = state
        self.every = {"log": log_every, "eval": eval_every, "ckpt": checkpoint_every, "video": video_every}

    def due(self, event: str, clock: float) -> bool:
        return clock >= getattr(self.state, f"next_{event}")

    def advance(self, event: str, clock: float) -> None:
        """Move the event's mark past `clock`."""
        every = self.every[event]
        mark = getattr(self.state, f"next_{event}")
        while every and mark <= clock:
            mark += every
        setattr(self.state, f"next_{event}", mark)


class Recorder:
    """The session's writer and bookkeeper (see the module docstring)."""

    def __init__(self, session: Any, state: SessionState, progress: ProgressFn | None = None) -> None:
        self.session, self.spec, self.state = session, session.spec, state
        self.dir: Path = session.dir
        train = self.spec.train
        self.cadence = Cadence(
            state, train.log_every, train.eval_every, train.checkpoint_every, self.spec.track.video_every
        )
        window = train.return_window
        self.returns = deque(state.window_returns, maxlen=window)
        self.lengths = deque(state.window_lengths, maxlen=window)
        self.successes = deque(state.window_success, maxlen=window)
        self.pending_returns: list[float] = []
        self.pending_lengths: list[float] = []
        self.progress_fn = progress
        self.tracker: Tracker | None = None
        self.row_frame, self.row_seconds = state.frame, state.train_seconds
        self._wall_before, self._wall_start = state.wall_seconds, time.perf_counter()
        # CPU time of this process (torch runs one thread): robust to other load on a shared machine.
        self._cpu_before, self._cpu_start = state.cpu_seconds + state.eval_cpu_seconds, time.process_time()
        self._last_progress = 0.0
        # Callbacks of `rldojo.train(..., callbacks=...)`: objects with any of on_row(session, row),
        # on_eval(session, summary), on_checkpoint(session, name, path, frame). They are Python
        # objects of this process, so only in-process sessions have them (run_trial sees to it).
        self.hooks: list[Any] = list(getattr(session, "hooks", None) or ())
        self.stop_requested = False
        """A callback asked to stop: the loops end the session as they do on Ctrl-C (status `stopped`)."""

    # ---- episodes and clocks ------------------------------------------------------------------
    def episode_done(
        self, episode_return: float, length: float, success: float, env: int | None = None, **figures: float
    ) -> None:
        """One finished training episode (`success` NaN where the env does not report one; `env` the index
        of the vector env's copy that played it, where there is one; `figures`: more numbers of the episode
        for the on_episode callbacks, such as `native_return` where the env reports a native reward)."""
        self.returns.append(float(episode_return))
        self.lengths.append(length)
        self.pending_returns.append(float(episode_return))
        self.pending_lengths.append(length)
        if not math.isnan(success):
            self.successes.append(float(success))
        self.state.episode += 1
        if self.hooks:
            self._notify(
                "on_episode",
                {
                    "frame": self.state.frame,
                    "return": float(episode_return),
                    "length": length,
                    "success": success,
                    "env": env,
                    **figures,
                },
            )

    def sync(self) -> None:
        """Write the windows and clocks into the state (before a row, an evaluation or a checkpoint)."""
        state = self.state
        wall = self._wall_before + time.perf_counter() - self._wall_start
        cpu = self._cpu_before + time.process_time() - self._cpu_start
        state.window_returns, state.window_lengths = list(self.returns), list(self.lengths)
        state.window_success = list(self.successes)
        state.wall_seconds = wall
        # Training time excludes evaluation, so fps and time-to-solve measure learning only.
        state.train_seconds = wall - state.eval_seconds
        state.cpu_seconds = cpu - state.eval_cpu_seconds

    @contextmanager
    def evaluation_time(self) -> Iterator[None]:
        """Time spent inside is evaluation (and the best checkpoint it writes), not training."""
        self.sync()
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.state.eval_seconds += time.perf_counter() - started
            self.state.eval_cpu_seconds += time.process_time() - cpu_started

    def return_ma(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    # ---- rows -----------------------------------------------------------------------------------
    def open_tracker(self, metric_names: tuple[str, ...], resumed: bool) -> Tracker | None:
        """metrics.csv and TensorBoard; None in a data-parallel run's other processes (the main one
        writes the rows, which every process computes alike)."""
        if not is_main():
            return None
        track = self.spec.track
        self.tracker = Tracker(
            self.dir,
            metric_names,
            tensorboard=track.tensorboard,
            wandb_cfg=track.wandb,
            run_name=f"{self.spec.name}-s{self.session.index}",
            # A resumed session, or one restarted after it stopped before its first checkpoint,
            # cuts its outputs back to the frame it continues from.
            resume_frame=self.state.frame if resumed or (self.dir / "metrics.csv").exists() else None,
        )
        return self.tracker

    def log_row(self, metrics: dict[str, Any], lr: float, eval_summary: dict[str, Any] | None = None) -> None:
        """One row of metrics.csv (and TensorBoard): the common columns, then the agent's `metrics`."""
        self.sync()
        state = self.state
        interval = state.train_seconds - self.row_seconds
        row = {
            "frame": state.frame,
            "episode": state.episode,
            "return": float(np.mean(self.pending_returns)) if self.pending_returns else math.nan,
            "return_ma": self.return_ma(),
            "length": float(np.mean(self.pending_lengths)) if self.pending_lengths else math.nan,
            "success_ma": float(np.mean(self.successes)) if self.successes else math.nan,
            "fps": (state.frame - self.row_frame) / interval
            if interval > 0 and state.frame > self.row_frame
            else math.nan,
            "lr": lr,
            "wall": round(state.wall_seconds, 3),
            **metrics,
        }
        if eval_summary:
            row.update(
                eval_return=eval_summary["return_mean"],
                eval_return_std=eval_summary["return_std"],
                eval_success=eval_summary["success"],
            )
        if self.tracker is not None:
            self.tracker.log(row)
        if self.returns and row["return_ma"] > state.best_return_ma:
            state.best_return_ma = row["return_ma"]
        self.row_frame, self.row_seconds = state.frame, state.train_seconds
        self.pending_returns, self.pending_lengths = [], []
        self._notify("on_row", dict(row))

    def rows_pending(self) -> bool:
        return self.state.frame != self.row_frame

    # ---- evaluation and checkpoints -----------------------------------------------------------
    def record_eval(self, summary: dict[str, Any], agent: Any) -> None:
        """Keep an evaluation's summary; a better mean return writes ckpt/best.pt."""
        summary["frame"] = self.state.frame
        self.state.last_eval = summary
        if summary["return_mean"] > self.state.best_eval_return:
            self.state.best_eval_return = summary["return_mean"]
            self.checkpoint("best", agent)
        self._notify("on_eval", dict(summary))

    def checkpoint(self, name: str, agent: Any) -> None:
        """ckpt/<name>.pt: the agent, torch's RNG and the session state, written atomically. Every
        tensor is written from the host, so a checkpoint of a GPU run opens on any machine. In a
        data-parallel run every process gathers the agent's state (it holds each process's sampling
        stream) and the main one writes it."""
        self.sync()
        session = self.session
        path = session.ckpt_dir / f"{name}.pt"
        agent_state = on_host(agent.state_dict())
        if is_main():
            save_checkpoint(
                path,
                {
                    "spec_name": self.spec.name,
                    "algo": self.spec.agent.algo,
                    "seed": session.seed,
                    "session_index": session.index,
                    "frame": self.state.frame,
                    "agent": agent_state,
                    "torch_rng": torch.get_rng_state(),
                    "session": self.state.as_dict(),
                },
            )
        self._notify("on_checkpoint", name, path, self.state.frame)

    def _notify(self, event: str, *args: Any) -> None:
        """Call each callback's `event` method; one that returns False (not None) or raises
        StopTraining asks the loop to stop. Any other exception fails the session, as a bug should."""
        for hook in self.hooks:
            method = getattr(hook, event, None)
            if method is None:
                continue
            try:
                keep_going = method(self.session.index, *args)
            except StopTraining as exc:
                keep_going, why = False, str(exc)
            else:
                why = f"{type(hook).__name__}.{event} returned False"
            if keep_going is False and not self.stop_requested:
                self.stop_requested = True
                logger.info(
                    "session {}: a callback stops training at frame {} ({})",
                    self.session.index,
                    self.state.frame,
                    why or "StopTraining",
                )

    def progress(self, total: int, force: bool = False, steps: tuple[int, int, str] | None = None) -> None:
        """Report to the trial's progress bars (at most 4 times a second unless `force`): frames of
        `total`, or `steps` = (done, of, what) where a stage counts optimizer steps or iterations."""
        if self.progress_fn is None:
            return
        now = time.perf_counter()
        if not force and now - self._last_progress <= 0.25:
            return
        self._last_progress = now
        self.sync()
        state = self.state
        self.progress_fn(
            self.session.index,
            {
                "frame": state.frame,
                "total": total,
                **({} if steps is None else {"done": steps[0], "of": steps[1], "unit": steps[2]}),
                "fps": state.frame / state.train_seconds if state.train_seconds > 0 else 0.0,
                "return_ma": self.return_ma(),
                "success_ma": float(np.mean(self.successes)) if self.successes else math.nan,
            },
        )

    # ---- the end ------------------------------------------------------------------------------
    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()

    def finish(self, status: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """curve.png and result.json of the session; returns the result."""
        self.sync()
        state, spec = self.state, self.spec
        if not is_main():  # a data-parallel run's other processes: the main one writes the result
            return {"session": self.session.index, "seed": self.session.seed, "status": status, **(extra or {})}
        metrics = read_metrics(self.dir / "metrics.csv")
        ma = [v for v in metrics.get("return_ma", []) if not math.isnan(v)]
        if spec.track.plots:
            plot_session_curve(metrics, self.dir / "curve.png", f"{spec.name} — session {self.session.index}")
        result = {
            "session": self.session.index,
            "seed": self.session.seed,
            "status": status,
            "frames": state.frame,
            "episodes": state.episode,
            "final_return_ma": ma[-1] if ma else None,
            "best_return_ma": max(ma) if ma else None,
            "success_ma": float(np.mean(state.window_success)) if state.window_success else None,
            "best_eval_return": None if math.isinf(state.best_eval_return) else state.best_eval_return,
            "last_eval": state.last_eval,
            "solved_frame": state.solved_frame,
            "solved_train_seconds": state.solved_train_seconds,
            "solved_cpu_seconds": state.solved_cpu_seconds,
            "cpu_seconds": state.cpu_seconds,
            "fps": state.frame / state.train_seconds if state.train_seconds > 0 else None,
            "train_seconds": state.train_seconds,
            "wall_s": state.wall_seconds,
            "resumes": state.resumes,
            **(extra or {}),
        }
        write_json_atomic(self.dir / "result.json", result)
        return result
