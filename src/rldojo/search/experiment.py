"""The experiment folder of a search and what it holds when the search ends.

```
runs/<name>-search_<YYYYmmdd-HHMMSS>/
  search.yaml         the resolved spec with its search block (+ provenance): what --resume reads
  trials/<trial>/     one rldojo run folder per trial (spec.yaml, s0/, trial.json, report.md)
  tune/               Ray Tune's experiment state (GP-UCB: gp_ucb.json instead)
  experiment.csv      one row per trial: status, metric, frames, wall time, then each parameter
  best_spec.yaml      the best trial's spec, without the search block: ready for `rldojo train`
  plots/              the metric against each parameter; ASHA's rungs (rungs.png); GP-UCB's model
```
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from loguru import logger

from rldojo.errors import UserError
from rldojo.run.spec import Spec, spec_from_raw, spec_to_yaml
from rldojo.run.trial import new_run_dir, provenance, read_run_spec

STATE_FILE = "search.yaml"
CSV_FILE = "experiment.csv"
BEST_SPEC_FILE = "best_spec.yaml"
#: Statuses of a trial: it trained its whole budget; a scheduler stopped it early; it failed; the
#: experiment stopped (Ctrl-C) while it ran or before it started. Only the last two are resumed.
FINISHED = ("done", "stopped early")


@dataclass
class TrialRecord:
    """One trial (or GP-UCB round) as the experiment's outputs show it."""

    name: str
    status: str
    metric: float
    frames: int
    values: dict[str, Any]
    run_dir: Path | None = None
    wall_s: float | None = None
    history: list[tuple[float, float]] = field(default_factory=list)
    """(frame, metric) of each report to the scheduler."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More columns for experiment.csv (GP-UCB: round, candidate, posterior mean and deviation)."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED and math.isfinite(self.metric)


@dataclass
class SearchOutcome:
    """What a search run ended with."""

    experiment_dir: Path
    records: list[TrialRecord]
    metric: str
    mode: str
    complete: bool
    """Every trial finished (False: interrupted, resume it)."""
    best: TrialRecord | None = None
    files: dict[str, Path] = field(default_factory=dict)


# ---- the folder and its state ---------------------------------------------------------------------
def new_experiment_dir(spec: Spec, root: Path) -> Path:
    """runs/<name>-search_<timestamp>/, never an existing folder."""
    return new_run_dir(spec.model_copy(update={"name": f"{spec.name}-search"}), root)


def write_state(experiment_dir: Path, spec: Spec, command: list[str], narrowed_from: dict | None = None) -> None:
    """search.yaml: the spec the experiment runs (after --set and --narrow) and where it came from."""
    extra = {"provenance": provenance(spec, command)}
    if narrowed_from:
        extra["narrowed_from"] = narrowed_from
    text = (
        "# The resolved spec of this search experiment (after --set and --narrow); `rldojo search --resume`\n"
        "# continues it. `provenance` and `narrowed_from` are notes, not spec keys.\n"
        + spec_to_yaml(spec)
        + yaml.safe_dump(extra, sort_keys=False)
    )
    (experiment_dir / STATE_FILE).write_text(text)


def read_state(experiment_dir: Path) -> Spec:
    """The spec of an experiment folder (a UserError when the folder is not one)."""
    experiment_dir = Path(experiment_dir)
    path = experiment_dir / STATE_FILE
    if not path.is_file():
        raise UserError(
            f"'{experiment_dir}' is not a search experiment folder: it has no {STATE_FILE}. Give a folder made "
            "by `rldojo search` (runs/<name>-search_<timestamp>/)."
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"'{path}' is not valid YAML ({exc}); the experiment folder is damaged.") from None
    if not isinstance(raw, dict):
        raise UserError(f"'{path}' does not hold a spec; the experiment folder is damaged.")
    raw.pop("provenance", None)
    raw.pop("narrowed_from", None)
    spec = spec_from_raw(raw, [], source=f"'{path}'")
    if spec.search is None:
        raise UserError(f"'{path}' has no search block; the experiment folder is damaged.")
    return spec


# ---- results --------------------------------------------------------------------------------------
def best_record(records: list[TrialRecord], mode: str) -> TrialRecord | None:
    """The best trial: among those that trained their whole budget when there are any (a trial stopped
    early was judged on fewer frames), else among all with a metric."""
    done = [record for record in records if record.status == "done" and math.isfinite(record.metric)]
    pool = done or [record for record in records if record.finished]
    if not pool:
        return None
    return ranked(pool, mode)[0]


def ranked(records: list[TrialRecord], mode: str) -> list[TrialRecord]:
    """Finished trials, best first (full-budget trials before those stopped early). Equal metrics (a
    solved env's capped return) are told apart by the mean of the trial's reports: it learned sooner."""
    finished = [record for record in records if record.finished]
    sign = -1.0 if mode == "max" else 1.0

    def learned_sooner(record: TrialRecord) -> float:
        return sum(value for _, value in record.history) / len(record.history) if record.history else record.metric

    return sorted(finished, key=lambda r: (r.status != "done", sign * r.metric, sign * learned_sooner(r)))


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, dict, bool)) or value is None:
        return json.dumps(value)
    return str(value)


def write_experiment_csv(experiment_dir: Path, records: list[TrialRecord], keys: list[str], metric: str) -> Path:
    """experiment.csv: trial, status, the metric, frames, wall seconds, extra columns, then one column per
    parameter (lists as JSON), best trial first."""
    extra_keys = list(dict.fromkeys(key for record in records for key in record.extra))
    path = Path(experiment_dir) / CSV_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial", "status", metric, "frames", "wall_s", *extra_keys, *keys, "run_dir"])
        for record in records:
            run_dir = "" if record.run_dir is None else os.path.relpath(record.run_dir, experiment_dir)
            writer.writerow(
                [
                    record.name,
                    record.status,
                    _cell(record.metric),
                    record.frames,
                    "" if record.wall_s is None else f"{record.wall_s:.1f}",
                    *(_cell(record.extra.get(key)) for key in extra_keys),
                    *(_cell(record.values.get(key)) for key in keys),
                    run_dir,
                ]
            )
    return path


def read_experiment_csv(experiment_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    """(metric name, rows) of experiment.csv, numbers and JSON cells parsed."""
    path = Path(experiment_dir) / CSV_FILE
    if not path.is_file():
        raise UserError(
            f"'{experiment_dir}' has no {CSV_FILE}: the search has not written its results yet (it is running, or "
            f"it was interrupted: finish it with `rldojo search --resume {experiment_dir}`)."
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = []
        for cells in reader:
            row = {}
            for key, cell in zip(header, cells):
                row[key] = _parse_cell(cell) if key not in ("trial", "status", "run_dir") else cell
            rows.append(row)
    return header[2], rows


def _parse_cell(cell: str) -> Any:
    if cell == "":
        return None
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        return cell


#: best_spec.yaml's meta.seed is the experiment's plus this: seeds no trial trained with (a search's
#: trials use the spec's seed, GP-UCB's rounds and grid passes the next few).
FRESH_SEED_OFFSET = 1000


def write_best_spec(experiment_dir: Path, spec: Spec, best: TrialRecord) -> Path:
    """best_spec.yaml: the best trial's spec with the experiment's name, without the search block, and
    seeds no trial trained with, so `rldojo train best_spec.yaml --set meta.sessions=4` validates the
    choice rather than replaying the seed it was chosen on."""
    trained = read_run_spec(best.run_dir)
    fresh = (spec.meta.seed + FRESH_SEED_OFFSET) % 2**32
    chosen = trained.model_copy(
        update={"name": spec.name, "meta": trained.meta.model_copy(update={"seed": fresh}), "search": None}
    )
    search = spec.search
    values = ", ".join(f"{key}={json.dumps(value)}" for key, value in best.values.items())
    header = (
        f"# The best trial of the search in {experiment_dir}: {best.name}, {search.metric} = {best.metric:.6g}\n"
        f"# ({search.mode}imised) after {best.frames:,} frames; its values: {values}.\n"
        f"# meta.seed is {fresh}, so its sessions train on seeds the search never used.\n"
        f"# Train it on them: rldojo train {Path(experiment_dir) / BEST_SPEC_FILE} --set meta.sessions=4\n"
    )
    path = Path(experiment_dir) / BEST_SPEC_FILE
    path.write_text(header + spec_to_yaml(chosen))
    return path


def prune_checkpoints(records: list[TrialRecord], keep: int, mode: str) -> list[TrialRecord]:
    """Delete the ckpt/ folders of every trial but the best `keep` (their metrics, curves and reports
    stay); trials that did not finish keep theirs. Returns the trials whose checkpoints were deleted."""
    kept = {id(record) for record in ranked(records, mode)[:keep]}
    pruned = []
    for record in records:
        if id(record) in kept or record.status not in FINISHED or record.run_dir is None:
            continue
        folders = sorted(Path(record.run_dir).glob("s*/ckpt"))
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        if folders:
            pruned.append(record)
    if pruned:
        logger.info("kept the checkpoints of the best {} trials; deleted those of {} others", keep, len(pruned))
    return pruned
