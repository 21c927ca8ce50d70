"""eval.json: the schema of an evaluation's results, and building, writing and loading it.

`rldojo eval` collects episodes per env and calls `build_eval_report` then `write_eval_json`
(RUN_DIR/eval.json). An episode is a dict `{"return": float, "length": int, "success": bool | None}`;
other keys are ignored. `success` is the env's own flag (0/1, true/false) and None (or NaN or
absent) where the env defines none; then, per rldojo.evaluate.stats, success is the share of
non-zero returns when every return lies in [0, 1] (score tasks) and undefined otherwise.

The per-episode returns, lengths and flags are kept in the file, so `rldojo compare` can recompute
every interval at another level. Undefined numbers are null with a note; the file never holds NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from rldojo.evaluate._base import ResultModel
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.jsonfile import describe_validation, read_json_object
from rldojo.evaluate.stats import (
    DEFAULT_LEVEL,
    AggregateMetrics,
    EnvMetrics,
    aggregate_metrics,
    check_level,
    env_metrics,
)
from rldojo.track.files import write_text_atomic
from rldojo.version import __version__

SCHEMA_VERSION = 1


class EvalTarget(BaseModel):
    """What was evaluated. Extra keys are kept as given (the eval command may record more)."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True)

    checkpoint: str | None = None
    """Path of the evaluated checkpoint."""
    spec: str | None = None
    """Name of the spec the checkpoint was trained from."""
    run_dir: str | None = None
    """Run folder the checkpoint belongs to, when there is one."""
    env_ids: list[str] = []
    """Envs evaluated, in order."""
    seeds: list[int] = []
    """Env seeds of the evaluation episodes."""
    episodes: int | None = None
    """Episodes requested per env."""
    deterministic: bool | None = None
    """Greedy (deterministic) actions instead of sampled ones."""


class EnvResult(EnvMetrics):
    """One env's metrics plus the raw per-episode data they were computed from."""

    returns: list[float]
    """Return of every episode, in order."""
    lengths: list[float] | None = None
    """Length of every episode in steps (turns for text worlds); None when not recorded."""
    success: list[bool] | None = None
    """The env's success flag for every episode; None when the env defines none."""

    @model_validator(mode="after")
    def _matches_raw_data(self) -> EnvResult:
        n = len(self.returns)
        if self.episodes != n:
            raise ValueError(f"episodes is {self.episodes} but {n} returns are listed")
        for name, column in (("lengths", self.lengths), ("success", self.success)):
            if column is not None and len(column) != n:
                raise ValueError(f"{len(column)} {name} for {n} returns")
        if n and not math.isclose(self.mean_return, math.fsum(self.returns) / n, rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(f"mean_return {self.mean_return} is not the mean of the listed returns")
        return self


class EvalReport(ResultModel):
    """The content of eval.json."""

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this layout; bumped when it changes incompatibly."""
    created: str
    """When the report was built (ISO 8601, UTC)."""
    rldojo_version: str
    """rldojo version that built it."""
    level: float
    """Two-sided confidence level of every interval in the file."""
    what: EvalTarget
    """What was evaluated: checkpoint, spec, envs, seeds, episodes, deterministic."""
    envs: dict[str, EnvResult]
    """Per-env metrics with intervals and the raw episodes, keyed by env id."""
    aggregate: AggregateMetrics
    """Numbers over all envs (episode-weighted means, overall success rate)."""

    @model_validator(mode="after")
    def _keys_match(self) -> EvalReport:
        for key, result in self.envs.items():
            if result.env != key:
                raise ValueError(f"envs[{key!r}] describes env {result.env!r}")
        if not self.envs:
            raise ValueError("envs is empty: an evaluation covers at least one env")
        if self.aggregate.envs != len(self.envs):
            raise ValueError(f"aggregate counts {self.aggregate.envs} envs but {len(self.envs)} are listed")
        return self


def _episode_columns(env: str, episodes: Sequence[Mapping[str, Any]]) -> tuple[list, list | None, list | None]:
    """Split episode dicts into returns, lengths (or None) and success flags (or None)."""
    if not episodes:
        raise EvaluationError(f"env {env!r}: no episodes. Evaluate at least one episode per env.")
    returns, lengths, flags = [], [], []
    for index, episode in enumerate(episodes):
        if not isinstance(episode, Mapping) or "return" not in episode:
            raise EvaluationError(
                f"env {env!r}, episode {index}: expected a dict with a 'return' key (and optional "
                f"'length' and 'success'), got {episode!r}."
            )
        returns.append(episode["return"])
        lengths.append(episode.get("length"))
        flag = episode.get("success")
        flags.append(None if flag is None or (isinstance(flag, float) and math.isnan(flag)) else flag)
    has_length = [length is not None for length in lengths]
    if any(has_length) and not all(has_length):
        raise EvaluationError(f"env {env!r}: 'length' is given for some episodes but not all.")
    return (
        returns,
        (lengths if all(has_length) else None),
        (flags if any(f is not None for f in flags) else None),
    )


def build_eval_report(
    episodes_by_env: Mapping[str, Sequence[Mapping[str, Any]]],
    what: Mapping[str, Any],
    level: float = DEFAULT_LEVEL,
    *,
    seed: int = 0,
) -> dict:
    """The eval.json content (a JSON-ready dict) for episodes collected per env.

    `what` records what was evaluated (see EvalTarget); `seed` seeds the bootstrap.
    """
    level = check_level(level)
    if not episodes_by_env:
        raise EvaluationError("Nothing was evaluated: no envs with episodes.")
    try:
        target = EvalTarget.model_validate(dict(what))
    except ValidationError as error:
        raise EvaluationError(f"The evaluation description is invalid:\n{describe_validation(error)}") from None
    results = {}
    for env, episodes in episodes_by_env.items():
        returns, lengths, flags = _episode_columns(env, episodes)
        metrics = env_metrics(env, returns, success=flags, lengths=lengths, level=level, seed=seed)
        results[env] = EnvResult(
            **metrics.model_dump(),
            returns=[float(r) for r in returns],
            lengths=None if lengths is None else [float(x) for x in lengths],
            success=None if flags is None else [bool(f) for f in flags],
        )
    report = EvalReport(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        rldojo_version=__version__,
        level=level,
        what=target,
        envs=results,
        aggregate=aggregate_metrics(list(results.values()), level),
    )
    return report.model_dump(mode="json")


def metrics_at_level(report: EvalReport, level: float, *, seed: int = 0) -> dict[str, EnvMetrics]:
    """Per-env metrics of a loaded report, recomputed from its raw episodes at `level`."""
    level = check_level(level)
    return {
        env: env_metrics(env, r.returns, success=r.success, lengths=r.lengths, level=level, seed=seed)
        for env, r in report.envs.items()
    }


def write_eval_json(path: str | Path, report: Mapping[str, Any] | EvalReport) -> Path:
    """Validate `report` and write it to `path` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    try:
        model = report if isinstance(report, EvalReport) else EvalReport.model_validate(dict(report))
    except ValidationError as error:
        raise EvaluationError(
            f"Refusing to write an invalid eval report to {path}:\n{describe_validation(error)}"
        ) from None
    text = json.dumps(model.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)
    return path


_REMEDY = "Run `rldojo eval` again to rewrite it."


def load_eval_json(path: str | Path) -> EvalReport:
    """Read and validate an eval.json; a missing, empty, truncated or malformed file is an EvaluationError."""
    path = Path(path)
    data = read_json_object(path, "eval.json", _REMEDY)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise EvaluationError(
            f"{path} has schema_version {version!r}; this rldojo reads version {SCHEMA_VERSION}. {_REMEDY}"
        )
    try:
        return EvalReport.model_validate(data)
    except ValidationError as error:
        raise EvaluationError(f"{path} is not a valid eval report. {_REMEDY}\n{describe_validation(error)}") from None
