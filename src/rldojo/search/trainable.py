"""One search trial as a Ray Tune Trainable: an rldojo run in a thread, its rows handed to Tune.

The run trains in a thread of the trial's Ray actor (`run_trial` with a callback). Each metric row
(once the search metric is defined) goes to Tune as one result, and training waits until Tune asks
for the next one, so a scheduler's decision applies at the row it judged. When Tune stops the trial
(ASHA, the end of the experiment, Ctrl-C on the driver) `cleanup` asks the run to stop the way a
callback does: the session writes its last checkpoint, result.json and trial.json before the actor
goes, or before it takes the next trial (`reset_config`: actors are reused, so a trial does not pay
for a new process). A resumed experiment restarts unfinished trials in their own run folders, and each session
continues from its ckpt/last.pt.
"""

from __future__ import annotations

import math
import queue
import threading
from pathlib import Path
from typing import Any

from loguru import logger
from ray import tune

from rldojo.search.metric import TrialMetric
from rldojo.search.space import PASS_KEY, decode
from rldojo.search.trials import TrialJob, open_run, trial_spec

#: Seconds `cleanup` waits for a stopped run to write its last checkpoint and results.
STOP_TIMEOUT_S = 600.0


class RowHandoff:
    """The training thread's callback: rows go to Tune one at a time; Tune's answer says go on or stop."""

    def __init__(self, metric: TrialMetric) -> None:
        self.metric = metric
        self.rows: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.replies: queue.Queue[bool] = queue.Queue()
        self.stopping = threading.Event()

    def on_row(self, session: int, row: dict[str, Any]) -> bool | None:
        self.metric.on_row(session, row)
        if self.stopping.is_set():
            return False
        value = self.metric.value()
        if math.isnan(value):  # nothing to judge yet (no episode finished, no evaluation yet)
            return None
        self.rows.put(("row", result_of(self.metric, value)))
        go_on = self.replies.get()
        return None if go_on and not self.stopping.is_set() else False

    def on_episode(self, session: int, episode: dict[str, Any]) -> None:
        self.metric.on_episode(session, episode)


def result_of(metric: TrialMetric, value: float) -> dict[str, Any]:
    """One Tune result: the frames trained (ASHA's clock) and the search metric."""
    return {"frame": metric.frame, metric.metric: value}


class RunTrainable(tune.Trainable):
    """A Tune Trainable whose trial is an rldojo run folder (see the module docstring)."""

    def setup(self, config: dict[str, Any], job: TrialJob) -> None:
        from rldojo.track.log import setup_quiet_child

        setup_quiet_child()  # the run's messages go to its log.txt, not to the worker's stderr
        self.job = job
        values = decode(job.dims, config)
        spec = trial_spec(job, values, seed_offset=int(config.get(PASS_KEY, 0)))
        self.run_dir, self.spec = open_run(job, self.trial_id, spec)
        self.metric = TrialMetric(job.metric, job.last_k)
        self.handoff = RowHandoff(self.metric)
        self.waiting = False  # the training thread waits for Tune's answer to the last row
        self.last_result: dict[str, Any] | None = None
        self.thread = threading.Thread(target=self._train, name=f"rldojo-trial-{self.trial_id}", daemon=True)
        self.thread.start()

    def _train(self) -> None:
        from rldojo.run.trial import run_trial

        try:
            trial = run_trial(self.spec, self.run_dir, show_progress=False, hooks=[self.handoff])
        except BaseException as exc:  # noqa: BLE001 - handed to step(), which raises it in Tune's thread
            self.handoff.rows.put(("error", exc))
        else:
            self.handoff.rows.put(("end", trial))

    def step(self) -> dict[str, Any]:
        if self.waiting:
            self.handoff.replies.put(True)
            self.waiting = False
        kind, payload = self.handoff.rows.get()
        if kind == "row":
            self.waiting = True
            self.last_result = payload
            return payload
        if kind == "error":
            raise payload
        final = self.last_result or result_of(self.metric, self.metric.value())
        return {**final, "frame": self.metric.frame, "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        # The run folder holds the real checkpoints (ckpt/last.pt); Tune only needs to know where it is.
        return {"run_dir": str(self.run_dir)}

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Nothing to load: `setup` finds the trial's run folder, and its sessions resume from it."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """The actor goes on with another trial (Tune's reuse_actors): the last one's run ends first, then
        the new one starts, without a new process importing torch again."""
        self.cleanup()
        self.setup(new_config)  # with_parameters adds the job
        return True

    def cleanup(self) -> None:
        """Stop the run as a callback would (its last checkpoint and results are written) and wait for it."""
        self.handoff.stopping.set()
        self.handoff.replies.put(False)
        self.thread.join(STOP_TIMEOUT_S)
        if self.thread.is_alive():
            logger.warning("trial {} did not stop within {:.0f} s", Path(self.run_dir).name, STOP_TIMEOUT_S)
