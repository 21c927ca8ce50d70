"""Rich progress bars for a trial: one row per session with frames, fps, return MA and ETA."""

from __future__ import annotations

import math
import threading
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from rldojo.run.spec import Spec
from rldojo.track.log import console


class TrialProgress:
    """Context manager; `update(session_index, info)` is safe to call from a pump thread."""

    def __init__(self, spec: Spec, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._tasks: dict[int, Any] = {}
        self.spec = spec
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:>9,.0f}/{task.total:,.0f} {task.fields[unit]}"),
            TextColumn("[cyan]{task.fields[fps]:>7,.0f} fps"),
            TextColumn("return MA [green]{task.fields[ret]}"),
            TextColumn("{task.fields[success]}"),
            TimeRemainingColumn(),
            console=console(),
            transient=False,
            disable=not enabled,
        )

    def __enter__(self) -> TrialProgress:
        if self.enabled:
            self._progress.start()
            for index in range(self.spec.meta.sessions):
                self._tasks[index] = self._progress.add_task(
                    f"s{index}", total=self.spec.train.max_frames, fps=0.0, ret="—", success="", unit="frames"
                )
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.stop()

    def update(self, index: int, info: dict[str, Any]) -> None:
        if not self.enabled:
            return
        ret = info.get("return_ma", math.nan)
        success = info.get("success_ma", math.nan)
        with self._lock:
            steps = "of" in info  # a language-model stage counting its own steps or iterations
            self._progress.update(
                self._tasks[index],
                completed=info["done"] if steps else info["frame"],
                total=info["of"] if steps else info["total"],
                unit=info["unit"] if steps else "frames",
                fps=info.get("fps", 0.0),
                ret="—" if math.isnan(ret) else f"{ret:,.1f}",
                success="" if math.isnan(success) else f"success {success:.2f}",
            )
