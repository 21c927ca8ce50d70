"""Training curves of a run folder: each session's return MA over frames, then mean and band."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger

from rldojo.evaluate.errors import EvaluationError

CURVE_POINTS = 200
"""Frames at which session curves are resampled before averaging."""
_SESSION_DIR = re.compile(r"s(\d+)")


@dataclass(frozen=True)
class Curve:
    """Mean training curve of a run over its sessions, with a mean +- std band."""

    frames: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    sessions: int


def read_session_curve(csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frames, return_ma) of one session's metrics.csv, skipping rows where return_ma is blank."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in ("frame", "return_ma") if c not in columns]
            if missing:
                raise EvaluationError(
                    f"{csv_path} lacks the column(s) {missing}; a session's metrics.csv has at least "
                    f"frame and return_ma (it has {columns})."
                )
            frames, values = [], []
            for line, row in enumerate(reader, start=2):
                frame, value = (row.get("frame") or "").strip(), (row.get("return_ma") or "").strip()
                if not frame or not value:
                    continue  # blank cell: undefined at this row (e.g. before the first episode ends)
                try:
                    frames.append(float(frame))
                    values.append(float(value))
                except ValueError:
                    raise EvaluationError(
                        f"{csv_path}, line {line}: frame {frame!r} or return_ma {value!r} is not a number."
                    ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise EvaluationError(f"{csv_path} cannot be read ({error}).") from None
    frames_array, values_array = np.asarray(frames), np.asarray(values)
    keep = np.isfinite(frames_array) & np.isfinite(values_array)
    order = np.argsort(frames_array[keep], kind="stable")
    return frames_array[keep][order], values_array[keep][order]


def session_csvs(run_dir: Path) -> list[Path]:
    """The sessions' metrics.csv files of a run folder, in session order (s0, s1, ..., s10)."""
    found = []
    for child in run_dir.iterdir():
        match = _SESSION_DIR.fullmatch(child.name)
        if match and (child / "metrics.csv").is_file():
            found.append((int(match.group(1)), child / "metrics.csv"))
    return [path for _, path in sorted(found)]


def run_curve(run_dir: Path, points: int = CURVE_POINTS) -> Curve | None:
    """Mean return-MA curve over the run's sessions, on the frames every session reached; None if none."""
    curves = []
    for path in session_csvs(run_dir):
        frames, values = read_session_curve(path)
        if frames.size < 2:
            logger.warning("{}: fewer than two rows with a return MA; left out of the curve", path)
            continue
        curves.append((frames, values))
    if not curves:
        return None
    start = max(frames[0] for frames, _ in curves)
    end = min(frames[-1] for frames, _ in curves)
    if end <= start:
        logger.warning("{}: the sessions' frame ranges do not overlap; no mean curve", run_dir)
        return None
    grid = np.linspace(start, end, points)
    stacked = np.stack([np.interp(grid, frames, values) for frames, values in curves])
    mean = stacked.mean(axis=0)
    spread = stacked.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros_like(mean)
    return Curve(frames=grid, mean=mean, low=mean - spread, high=mean + spread, sessions=len(curves))
