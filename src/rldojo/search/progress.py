"""The search's progress on stderr: a live table of trials (running, stopped early, done, failed) and
the best so far, plus one log line per finished trial.

Ray Tune pickles its callbacks with the experiment (to resume it), so the callback it holds,
`TrialEvents`, keeps no state: it forwards each event to the `SearchDisplay` of this process, which
`rldojo search` opens around the run.
"""

from __future__ import annotations

import json
import math
import threading
from typing import Any

from loguru import logger
from ray.tune import Callback
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rldojo.track.log import console

_display: SearchDisplay | None = None
#: Rows of the live table (the running trials first, then the latest others).
SHOWN_TRIALS = 12


class SearchDisplay:
    """Context manager: the live table while the search runs (`enabled`), the log lines always."""

    def __init__(self, metric: str, mode: str, total: int, budget: int, describe: Any, enabled: bool = True) -> None:
        self.metric, self.mode, self.total, self.budget = metric, mode, total, budget
        self.describe = describe
        """config -> the trial's values as a short text."""
        self.enabled = enabled
        self.trials: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> SearchDisplay:
        global _display
        _display = self
        if self.enabled:
            self._live = Live(self._render(), console=console(), refresh_per_second=2, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        global _display
        _display = None
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            if not console().is_terminal:  # rich leaves the last line of a non-terminal display open
                console().line()

    # ---- events ---------------------------------------------------------------------------------
    def event(self, trial_id: str, config: dict[str, Any], **change: Any) -> None:
        with self._lock:
            if trial_id not in self.trials:
                self.trials[trial_id] = {"status": "pending", "frame": 0, "metric": math.nan, "config": config}
                self.order.append(trial_id)
            self.trials[trial_id].update(change)
        if self._live is not None:
            self._live.update(self._render())

    def finished(self, trial_id: str) -> None:
        trial = self.trials.get(trial_id)
        if trial is None:
            return
        status = "done" if trial["frame"] >= self.budget else "stopped early"
        self.event(trial_id, trial["config"], status=status)
        logger.info(
            "trial {} {} at {:,} frames: {} = {:.4g} ({})",
            trial_id,
            status,
            trial["frame"],
            self.metric,
            trial["metric"],
            self.describe(trial["config"]),
        )

    # ---- the table --------------------------------------------------------------------------------
    def best(self) -> tuple[str, dict[str, Any]] | None:
        scored = [(tid, t) for tid, t in self.trials.items() if math.isfinite(t["metric"])]
        if not scored:
            return None
        pick = max if self.mode == "max" else min
        return pick(scored, key=lambda item: item[1]["metric"])

    def _render(self) -> Group:
        with self._lock:
            counts = {}
            for trial in self.trials.values():
                counts[trial["status"]] = counts.get(trial["status"], 0) + 1
            running = [tid for tid in self.order if self.trials[tid]["status"] == "running"]
            others = [tid for tid in reversed(self.order) if tid not in running]
            shown = (running + others)[:SHOWN_TRIALS]
            table = Table(expand=False)
            for column in ("trial", "status", "frames", self.metric, "values"):
                table.add_column(column, justify="right" if column in ("frames", self.metric) else "left")
            for tid in shown:
                trial = self.trials[tid]
                style = {"running": "cyan", "stopped early": "dim", "error": "red"}.get(trial["status"], "")
                table.add_row(
                    tid,
                    Text(trial["status"], style=style),
                    f"{trial['frame']:,}",
                    "—" if math.isnan(trial["metric"]) else f"{trial['metric']:.4g}",
                    self.describe(trial["config"]),
                )
            best = self.best()
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "starting"
        head = Text(f"search: {len(self.trials)}/{self.total} trials ({summary})")
        if best is not None:
            head.append(
                f"; best so far {self.metric} = {best[1]['metric']:.4g} ({best[0]}: {self.describe(best[1]['config'])})",
                style="bold green",
            )
        return Group(head, table)


class TrialEvents(Callback):
    """Tune's callback: forwards trial events to this process's SearchDisplay (stateless, so it pickles)."""

    def __init__(self, metric: str) -> None:
        self.metric = metric

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _display is not None:
            _display.event(trial.trial_id, trial.config, status="running")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if _display is not None:
            value = result.get(self.metric, math.nan)
            _display.event(
                trial.trial_id,
                trial.config,
                status="running",
                frame=int(result.get("frame", 0)),
                metric=float(value) if value is not None else math.nan,
            )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _display is not None:
            _display.finished(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _display is not None:
            _display.event(trial.trial_id, trial.config, status="error")
            logger.error("trial {} failed (its log: {})", trial.trial_id, trial.path)


def short_values(values: dict[str, Any]) -> str:
    """agent.optim.lr=0.00123, agent.net.hidden=[64, 64]: the last part of each key, numbers to 3 digits."""
    parts = []
    for key, value in values.items():
        text = f"{value:.3g}" if isinstance(value, float) else json.dumps(value)
        parts.append(f"{key.rsplit('.', 1)[-1]}={text}")
    return ", ".join(parts)
