"""One tracker per session: every metric row goes to metrics.csv, TensorBoard and (optionally) W&B.

Tensor agents and language-model agents log the same rows, so plots, search, eval and compare
never care which loop produced them. Blank CSV cells mean "undefined at this row" (e.g. no episode
finished since the last row, or no success signal in this env).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from rldojo.errors import UserError
from rldojo.track.tb_cut import cut_events_after

#: Columns every session writes, in this order; algorithm metrics follow.
BASE_COLUMNS: tuple[str, ...] = (
    "frame",
    "episode",
    "return",
    "return_ma",
    "length",
    "success_ma",
    "fps",
    "lr",
    "wall",
    "eval_return",
    "eval_return_std",
    "eval_success",
)
#: Columns that depend on the machine's speed; determinism checks ignore them.
TIMING_COLUMNS: tuple[str, ...] = ("fps", "wall")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


class Tracker:
    def __init__(
        self,
        session_dir: Path,
        extra_columns: tuple[str, ...],
        tensorboard: bool = True,
        wandb_cfg: Any = None,
        run_name: str = "",
        resume_frame: int | None = None,
    ) -> None:
        self.dir = Path(session_dir)
        if wandb_cfg is not None:
            _import_wandb()  # before any file is opened or cut
        self.columns = BASE_COLUMNS + tuple(c for c in extra_columns if c not in BASE_COLUMNS)
        self.csv_path = self.dir / "metrics.csv"
        if resume_frame is not None and self.csv_path.exists():
            self._truncate_after(resume_frame)
        new_file = not self.csv_path.exists() or self.csv_path.stat().st_size == 0
        self._file = open(self.csv_path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new_file:
            self._writer.writerow(self.columns)
            self._file.flush()
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            if resume_frame is not None:  # drop what a killed run wrote after its last checkpoint
                cut_events_after(self.dir / "tb", resume_frame)
            self._tb = SummaryWriter(log_dir=str(self.dir / "tb"))
        self._wandb = None
        if wandb_cfg is not None:
            self._wandb = _start_wandb(wandb_cfg, run_name, self.dir)

    def _truncate_after(self, frame: int) -> None:
        """Keep rows up to the checkpoint's frame: later rows will be produced again."""
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        kept = [row for row in body if row and row[0].isdigit() and int(row[0]) <= frame]
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(kept)
        os.replace(tmp, self.csv_path)

    def log(self, row: dict[str, Any]) -> None:
        self._writer.writerow([_cell(row.get(column)) for column in self.columns])
        self._file.flush()
        frame = int(row["frame"])
        scalars = {
            k: v
            for k, v in row.items()
            if k != "frame" and isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))
        }
        if self._tb is not None:
            for key, value in scalars.items():
                self._tb.add_scalar(key, value, frame)
        if self._wandb is not None:
            self._wandb.log(scalars, step=frame)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def _import_wandb() -> Any:
    try:
        import wandb
    except ImportError:
        # An error, not a warning: a run that asked for W&B and silently lacks it is found out too late.
        # New runs are refused earlier (run.trial.preflight); this catches a resume on another machine.
        raise UserError(
            "track.wandb is set but wandb is not installed: pip install 'rldojo[wandb]' "
            "(or remove track.wandb from the spec)."
        ) from None
    return wandb


def _start_wandb(cfg: Any, run_name: str, directory: Path) -> Any:
    wandb = _import_wandb()
    return wandb.init(
        project=cfg.project, entity=cfg.entity, mode=cfg.mode, name=run_name, dir=str(directory), reinit=True
    )


def read_metrics(csv_path: Path) -> dict[str, list[float]]:
    """metrics.csv -> column -> values (NaN for blank cells)."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            columns.setdefault(key, []).append(float(value) if value not in ("", None) else math.nan)
    return columns
