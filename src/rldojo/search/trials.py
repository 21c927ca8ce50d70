"""One trial of a search: the spec it trains and its run folder under the experiment folder.

A trial is an ordinary rldojo run (spec.yaml, s0/, trial.json, report.md): `rldojo eval`, `report`,
`compare` and `train --resume` work on it. Its spec is the experiment's spec without the `search`
block, with the trial's values set as `--set` overrides would set them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rldojo.run.search_spec import Distribution
from rldojo.run.spec import Spec, spec_from_raw
from rldojo.run.trial import read_run_spec, write_spec_file
from rldojo.search.space import overrides

TRIALS_DIR = "trials"


@dataclass
class TrialJob:
    """What every trial of an experiment shares (plain data: it travels to Ray workers)."""

    base: dict[str, Any]
    """The experiment's resolved spec as plain data, without its `search` block."""
    dims: dict[str, Distribution]
    experiment_dir: str
    metric: str
    last_k: int
    command: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    """`--set`s every trial gets before its own values (e.g. ASHA's max_t as the budget)."""

    @property
    def trials_dir(self) -> Path:
        return Path(self.experiment_dir) / TRIALS_DIR


def job_for(spec: Spec, experiment_dir: Path, command: list[str], every_trial: list[str] | None = None) -> TrialJob:
    search = spec.search
    base = spec.model_dump(mode="json")
    base.pop("search", None)
    return TrialJob(
        base=base,
        dims=search.dimensions(),
        experiment_dir=str(Path(experiment_dir).resolve()),
        metric=search.metric,
        last_k=search.last_k,
        command=command,
        overrides=list(every_trial or []),
    )


def trial_spec(job: TrialJob, values: Mapping[str, Any], seed_offset: int = 0, extra: list[str] | None = None) -> Spec:
    """The spec a trial trains: the base with `values` set (and the seed moved by `seed_offset`)."""
    sets = list(job.overrides) + overrides(values) + list(extra or [])
    if seed_offset:
        sets.append(f"meta.seed={int(job.base['meta']['seed']) + seed_offset}")
    return spec_from_raw(job.base, sets, source="of the trial")


def open_run(job: TrialJob, name: str, spec: Spec) -> tuple[Path, Spec]:
    """The trial's run folder, trials/<name>/: made for a new trial, or found again (with the spec it was
    started with) when a resumed experiment restarts it."""
    run_dir = job.trials_dir / name
    if (run_dir / "spec.yaml").is_file():
        return run_dir, read_run_spec(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_spec_file(run_dir, spec, job.command)
    return run_dir, spec
