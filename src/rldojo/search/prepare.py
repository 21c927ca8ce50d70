"""Before a search starts: the checks that need the whole spec, and the stage-2 spec of `--narrow`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from loguru import logger

from rldojo.errors import SpecError, UserError
from rldojo.run.spec import Spec, spec_from_raw
from rldojo.search.experiment import FINISHED, read_experiment_csv, read_state
from rldojo.search.space import check_space, narrow, overrides


def check_search(spec: Spec) -> None:
    """What the search block alone cannot check: it is there, ASHA gets one stream of rows per trial,
    and every key of the space (or every candidate's) takes the values it can draw."""
    search = spec.search
    if search is None:
        raise UserError(
            f"spec '{spec.name}' has no search block. Add one, e.g.\n"
            "search: {space: {agent.optim.lr: loguniform(1.0e-4, 1.0e-2)}, trials: 16, metric: return_ma}"
        )
    if search.scheduler.name == "asha" and spec.meta.sessions > 1:
        raise SpecError(
            f"search.scheduler asha judges one stream of metric rows per trial, and meta.sessions is "
            f"{spec.meta.sessions}. Search with meta.sessions: 1 (--set meta.sessions=1), then train the best "
            "spec on several seeds (rldojo train best_spec.yaml --set meta.sessions=4); or use scheduler none, "
            "which ranks a trial by the mean over its sessions."
        )
    raw = spec.model_dump(mode="json")
    raw.pop("search", None)
    check_space(raw, search.dimensions())
    for candidate in search.candidates:
        try:
            spec_from_raw(raw, overrides(candidate.set), source="")
        except SpecError as exc:
            why = str(exc).removeprefix("invalid spec : ")
            raise SpecError(f"search.candidates '{candidate.name}': its set makes an invalid spec: {why}") from None


def narrowed_spec(spec: Spec, stage1_dir: Path) -> tuple[Spec, dict[str, Any]]:
    """Stage 2 of the three-stage workflow: `spec` with its space narrowed around the best trial of the
    experiment in `stage1_dir` (each range keeps search.narrow_factor of its width, centred on the best
    value; a choice keeps the values of the best trials), and every stage-1 key that `spec` no longer
    searches fixed at the best trial's value. Returns the spec and a note of what was done."""
    search = spec.search
    stage1 = read_state(stage1_dir)
    metric, rows = read_experiment_csv(stage1_dir)
    finished = [row for row in rows if row["status"] in FINISHED and isinstance(row.get(metric), (int, float))]
    if not finished:
        raise UserError(f"the experiment in '{stage1_dir}' has no finished trial to narrow around.")
    sign = -1.0 if stage1.search.mode == "max" else 1.0
    finished.sort(key=lambda row: (row["status"] != "done", sign * row[metric]))
    best = finished[0]
    share = max(1, math.ceil(len(finished) * search.narrow_factor))
    stage1_keys = list(stage1.search.space)
    dims = search.dimensions()
    new_space, fixed = {}, {}
    for key, dim in dims.items():
        if key in stage1_keys and best.get(key) is not None:
            good = [row[key] for row in finished[:share]]
            new_space[key] = narrow(dim, best[key], search.narrow_factor, good).text()
        else:
            new_space[key] = dim.text()
    for key in stage1_keys:
        if key not in dims and best.get(key) is not None:
            fixed[key] = best[key]
    raw = spec.model_dump(mode="json")
    raw["search"]["space"] = new_space
    narrowed = spec_from_raw(raw, overrides(fixed), source=f"narrowed around {stage1_dir}")
    note = {
        "experiment": str(stage1_dir),
        "best_trial": best["trial"],
        "metric": {metric: best[metric]},
        "factor": search.narrow_factor,
        "space_before": dict(search.space),
        "fixed": fixed,
    }
    logger.info(
        "stage 2 around trial {} of {} ({} = {:.4g}); space: {}{}",
        best["trial"],
        stage1_dir,
        metric,
        best[metric],
        ", ".join(f"{key}: {text}" for key, text in new_space.items()),
        f"; fixed at the best values: {json.dumps(fixed)}" if fixed else "",
    )
    return narrowed, note
