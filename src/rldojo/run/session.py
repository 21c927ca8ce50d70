"""Session: one seed of one spec. Resumes or starts the state, runs the algorithm's loop, writes the result.

Folder `s<i>/`: metrics.csv, tb/, log.txt, curve.png, ckpt/last.pt, ckpt/best.pt, result.json.
The registry names each algorithm's loop: `vector` (tensor agents, `run.vector_loop`) or
`episodes` (language-model agents, `run.episode_loop`); both write through one `Recorder`.

Resuming restores the agent (nets, optimizer, RNG), the counters, the return windows and the
schedules from ckpt/last.pt, cuts metrics.csv back to the checkpoint's frame, and carries on to
the same budget. The agent lives on `meta.device`, resolved here first (a GPU the machine lacks
stops the session before it writes anything); checkpoints are read onto the CPU and copied to the
agent's device, so a session resumes on another device than it started on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from loguru import logger

from rldojo.algos.registry import ALGOS
from rldojo.errors import CheckpointError
from rldojo.nets.device import resolve_device
from rldojo.nets.optim import process_group
from rldojo.run.checkpoint import load_checkpoint
from rldojo.run.distributed import data_parallel_device, is_main
from rldojo.run.episode_loop import run_episode_session
from rldojo.run.recorder import ProgressFn, Recorder
from rldojo.run.spec import Spec
from rldojo.run.state import SessionState
from rldojo.run.vector_loop import run_vector_session
from rldojo.track.log import add_file_log, remove_file_log

#: How the Session drives each kind of agent (the registry's `loop`).
LOOPS = {"vector": run_vector_session, "episodes": run_episode_session}


class Session:
    def __init__(self, spec: Spec, run_dir: Path, index: int, progress: ProgressFn | None = None) -> None:
        self.spec, self.index = spec, index
        self.seed = spec.meta.seed + index
        self.dir = Path(run_dir) / f"s{index}"
        self.ckpt_dir = self.dir / "ckpt"
        self.progress = progress

    def run(self) -> dict[str, Any]:
        """Train to the budget (or resume toward it) and return the session's result."""
        result_path = self.dir / "result.json"
        if result_path.exists():
            done = json.loads(result_path.read_text())
            if done.get("status") == "done":
                logger.info("session {} already finished; skipping", self.index)
                return done
        self.dir.mkdir(parents=True, exist_ok=True)
        if not is_main():  # a data-parallel run's other processes: the main one writes log.txt
            return self._run()
        log_id = add_file_log(self.dir / "log.txt")
        try:
            return self._run()
        finally:
            remove_file_log(log_id)

    def _run(self) -> dict[str, Any]:
        spec, train = self.spec, self.spec.train
        torch.set_num_threads(spec.meta.torch_threads)
        device = data_parallel_device(resolve_device(spec.meta.device))
        if device.type == "cuda":  # libraries that allocate on "cuda" (the current device) follow meta.device
            torch.cuda.set_device(device)
        logger.info("session {} runs on {}", self.index, device)
        world = process_group()[1]
        if world > 1:
            backend = torch.distributed.get_backend()
            logger.info("session {} trains data-parallel over {} processes ({})", self.index, world, backend)
        checkpoint = self._resume_checkpoint()
        if checkpoint:
            state = SessionState.from_dict(checkpoint["session"])
            logger.info(
                "session {} resumes from {} at frame {:,} (resume #{})",
                self.index,
                self.ckpt_dir / "last.pt",
                state.frame,
                state.resumes,
            )
        else:
            state = SessionState.fresh(
                train.log_every, train.eval_every, train.checkpoint_every, self.spec.track.video_every
            )
            if (self.dir / "metrics.csv").exists():
                logger.warning(
                    "session {} stopped before its first checkpoint: it starts again from frame 0 "
                    "(its metrics.csv and TensorBoard events are cut back)",
                    self.index,
                )
        self._set_aside_later_best(state.frame)
        recorder = Recorder(self, state, self.progress)
        loop = LOOPS[ALGOS[spec.agent.algo].loop]
        try:
            status, extra = loop(self, recorder, checkpoint)
        finally:
            recorder.close()
        return recorder.finish(status, extra)

    def _set_aside_later_best(self, frame: int) -> None:
        """A best checkpoint written after the frame the session continues from belongs to training
        that is about to be redone: keep it under another name, so ckpt/best.pt always comes from
        the session as it continues."""
        best = self.ckpt_dir / "best.pt"
        if not best.exists() or not is_main():
            return
        best_frame = int(load_checkpoint(best).get("frame", 0))
        if best_frame > frame:
            aside = best.with_name(f"best.discarded-f{best_frame}.pt")
            best.rename(aside)
            logger.warning(
                "session {}: ckpt/best.pt (frame {:,}) is newer than the frame it continues from; kept as {}",
                self.index,
                best_frame,
                aside.name,
            )

    def _resume_checkpoint(self) -> dict | None:
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
        return checkpoint
