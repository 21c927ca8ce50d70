"""GP-UCB over spec variants (`search.scheduler: gp_ucb`): one candidate trained per round.

The candidates are the spec's `search.candidates` (named variants with numeric features), or every
combination of a space of choice/grid values (features: the values themselves, in log10 where they
are positive and span a factor of 10 or more; a non-numeric value's feature is its index). Round t
trains the candidate GP-UCB picks for `scheduler.budget` frames with seed meta.seed + t - 1, scores it
by the search metric at the end of its training (its training returns: no evaluation needed), and
tells the model. Rounds run one after another in this process; Ctrl-C stops the round in progress
with a checkpoint, and `--resume` finishes it and goes on. gp_ucb.json holds the rounds so far.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from rldojo.errors import UserError
from rldojo.run.search_spec import SearchSpec, candidate_features
from rldojo.run.spec import Spec
from rldojo.run.trial import run_trial
from rldojo.search.experiment import (
    SearchOutcome,
    TrialRecord,
    prune_checkpoints,
    write_best_spec,
    write_experiment_csv,
)
from rldojo.search.gpucb import GPUCB
from rldojo.search.metric import TrialMetric
from rldojo.search.trials import job_for, open_run, trial_spec
from rldojo.track.files import write_json_atomic

STATE_FILE = "gp_ucb.json"


@dataclass
class Candidate:
    name: str
    values: dict[str, Any]
    """Spec keys to set (as --set would)."""
    features: dict[str, float]


def candidate_set(search: SearchSpec) -> list[Candidate]:
    """The candidates of a gp_ucb search (see the module docstring)."""
    if search.candidates:
        return [Candidate(c.name, dict(c.set), candidate_features(c)) for c in search.candidates]
    dims = search.dimensions()
    keys = list(dims)
    features_of = {key: _value_features(list(dims[key].values)) for key in keys}
    candidates = []
    for combination in itertools.product(*(range(len(dims[key].values)) for key in keys)):
        values = {key: dims[key].values[index] for key, index in zip(keys, combination)}
        name = ",".join(f"{key.rsplit('.', 1)[-1]}={json.dumps(values[key], separators=(',', ':'))}" for key in keys)
        features = {key: features_of[key][index] for key, index in zip(keys, combination)}
        candidates.append(Candidate(name, values, features))
    return candidates


def _value_features(values: list[Any]) -> list[float]:
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric:
        return [float(index) for index in range(len(values))]
    numbers = [float(v) for v in values]
    if min(numbers) > 0 and max(numbers) / min(numbers) >= 10:
        return [math.log10(v) for v in numbers]
    return numbers


def run_gp_ucb(spec: Spec, experiment_dir: Path, command: list[str], *, resume: bool, show_progress: bool):
    search = spec.search
    job = job_for(spec, experiment_dir, command)
    candidates = candidate_set(search)
    model = GPUCB(feature_table(candidates), search.scheduler.delta, spec.meta.seed)
    sign = 1.0 if search.mode == "max" else -1.0
    state_path = Path(experiment_dir) / STATE_FILE
    state = json.loads(state_path.read_text()) if resume and state_path.is_file() else {"rounds": []}
    for entry in state["rounds"]:
        if entry["status"] == "done" and entry["value"] is not None:
            model.tell(entry["candidate"], sign * entry["value"])
    budget = search.scheduler.budget or spec.train.max_frames
    complete = True
    logger.info(
        "GP-UCB over {} candidates, {} rounds of {:,} frames (delta {}); experiment folder {}",
        len(candidates),
        search.scheduler.rounds,
        budget,
        search.scheduler.delta,
        experiment_dir,
    )
    try:  # Ctrl-C inside a round ends it with a checkpoint (run_trial); between rounds, here
        while True:
            pending = [entry for entry in state["rounds"] if entry["status"] != "done"]
            if not pending and len(state["rounds"]) >= search.scheduler.rounds:
                break
            if pending:
                entry = pending[0]
            else:
                round_ = len(state["rounds"]) + 1
                mean, std = model.posterior()
                index = model.suggest()
                entry = {
                    "round": round_,
                    "candidate": index,
                    "name": candidates[index].name,
                    "beta": model.beta(),
                    "mean": float(mean[index]) * sign,
                    "sd": float(std[index]),
                    "status": "running",
                    "value": None,
                    "frames": 0,
                    "run_dir": f"trials/r{round_:02d}_{index}",
                }
                state["rounds"].append(entry)
                write_json_atomic(state_path, state)
            candidate = candidates[entry["candidate"]]
            round_spec = trial_spec(
                job, candidate.values, seed_offset=entry["round"] - 1, extra=[f"train.max_frames={budget}"]
            )
            run_dir, round_spec = open_run(job, Path(entry["run_dir"]).name, round_spec)
            metric = TrialMetric(search.metric, search.last_k)
            trial = run_trial(round_spec, run_dir, show_progress=show_progress, hooks=[metric])
            entry["frames"] = int(sum(session["frames"] for session in trial["sessions"]))
            if trial["status"] != "done":
                entry["status"] = "interrupted"
                write_json_atomic(state_path, state)
                complete = False
                break
            value = metric.value()
            entry["status"], entry["value"] = "done", (value if math.isfinite(value) else None)
            if math.isfinite(value):
                model.tell(entry["candidate"], sign * value)
            else:
                logger.warning(
                    "round {}: {} never got a {} value; the model is not told",
                    entry["round"],
                    candidate.name,
                    search.metric,
                )
            write_json_atomic(state_path, state)
            logger.info(
                "round {}: {} scored {} = {:.4g} (predicted {:.4g} ± {:.3g}, beta {:.2f}); recommended now: {}",
                entry["round"],
                candidate.name,
                search.metric,
                value,
                entry["mean"],
                entry["sd"],
                entry["beta"],
                candidates[model.best()].name if model.values else "—",
            )
    except KeyboardInterrupt:
        complete = False
        logger.warning("GP-UCB stopped between rounds; --resume goes on from {}", state_path)
    return _finish(spec, Path(experiment_dir), candidates, model, state, complete, sign)


def _finish(spec, experiment_dir, candidates, model, state, complete, sign) -> SearchOutcome:
    from rldojo.search.plots import plot_gp_ucb, plot_parameters

    search = spec.search
    records = [
        TrialRecord(
            name=f"r{entry['round']:02d}",
            status=entry["status"] if entry["status"] != "running" else "interrupted",
            metric=math.nan if entry["value"] is None else entry["value"],
            frames=entry["frames"],
            values=candidates[entry["candidate"]].values,
            run_dir=experiment_dir / entry["run_dir"],
            extra={
                "candidate": entry["name"],
                "ucb_mean": round(entry["mean"], 6),
                "ucb_sd": round(entry["sd"], 6),
                "beta": round(entry["beta"], 4),
            },
        )
        for entry in state["rounds"]
    ]
    keys = list(dict.fromkeys(key for candidate in candidates for key in candidate.values))
    files = {"experiment.csv": write_experiment_csv(experiment_dir, records, keys, search.metric)}
    best = None
    title = f"{spec.name}: GP-UCB over {len(candidates)} candidates"
    if model.values:
        chosen = model.best()
        best = next(
            r for r in reversed(records) if r.extra["candidate"] == candidates[chosen].name and r.status == "done"
        )
        files["best_spec.yaml"] = write_best_spec(experiment_dir, spec, best)
        mean, std = model.posterior()
        observations = [(entry["candidate"], entry["value"]) for entry in state["rounds"] if entry["value"] is not None]
        files["plots/gp_ucb.png"] = plot_gp_ucb(
            [c.name for c in candidates],
            sign * mean,
            std,
            observations,
            search.metric,
            experiment_dir / "plots" / "gp_ucb.png",
            title,
        )
        write_json_atomic(
            experiment_dir / STATE_FILE,
            {
                **state,
                "recommended": candidates[chosen].name,
                "posterior": {"mean": (sign * mean).tolist(), "sd": std.tolist()},
            },
        )
    if search.space:
        for path in plot_parameters(records, search.dimensions(), search.metric, experiment_dir / "plots", title, best):
            files[f"plots/{path.name}"] = path
    if complete:
        prune_checkpoints(records, search.keep_checkpoints, search.mode)
    if not records:
        raise UserError("the GP-UCB search ran no round.")
    return SearchOutcome(experiment_dir, records, search.metric, search.mode, complete, best, files)


def feature_table(candidates: list[Candidate]) -> np.ndarray:
    """The candidates' features as a (candidates, features) array, in the first candidate's order."""
    names = list(candidates[0].features)
    return np.asarray([[c.features[name] for name in names] for c in candidates], dtype=float)
