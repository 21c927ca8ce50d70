"""Load what `rldojo compare` compares: an eval.json file, or a run folder.

A run folder (runs/<name>_<YYYYmmdd-HHMMSS>/) gives its per-env numbers from its eval.json when it
has one; otherwise from trial.json: each session's final return MA (and success MA), averaged over
sessions with a Student t interval. Its training curves come from the sessions' metrics.csv.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rldojo.evaluate.curves import Curve, run_curve
from rldojo.evaluate.errors import EvaluationError
from rldojo.evaluate.jsonfile import describe_validation, read_json_object
from rldojo.evaluate.results import load_eval_json, metrics_at_level
from rldojo.evaluate.stats import Interval, sessions_interval


@dataclass(frozen=True)
class Cell:
    """One model's number on one env: the value, its interval, and how many samples it rests on."""

    value: float
    interval: Interval
    n: int


@dataclass(frozen=True)
class ModelResults:
    """One compared model: its per-env mean returns and success rates, and its training curve."""

    label: str
    path: Path
    source: str
    returns: dict[str, Cell]
    success: dict[str, Cell]
    curve: Curve | None = None
    curve_env: str | None = None
    kind: str = "evaluation"
    """What the numbers measure: `evaluation` (episodes played by `rldojo eval`, eval.json) or
    `training` (each session's final training return MA, trial.json). Compare takes one kind."""


class _TrialSession(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    session: int
    final_return_ma: float | None = None
    success_ma: float | None = None


class _Trial(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    name: str
    env: str
    sessions: list[_TrialSession] = Field(min_length=1)


def _eval_source(path: Path) -> str:
    """`eval.json`, with a language model's share of unparsed replies per env beside it: its success
    counts only the actions the model wrote."""
    parse = (load_eval_json(path).what.model_extra or {}).get("parse") or {}
    if not parse:
        return "eval.json"
    unparsed = ", ".join(f"{env} {shares.get('none', 0.0):.2f}" for env, shares in parse.items())
    return f"eval.json (unparsed replies, played as written: {unparsed})"


def _from_eval(path: Path, level: float, seed: int) -> tuple[dict[str, Cell], dict[str, Cell]]:
    metrics = metrics_at_level(load_eval_json(path), level, seed=seed)
    returns = {env: Cell(m.mean_return, m.return_ci, m.episodes) for env, m in metrics.items()}
    success = {
        env: Cell(m.success_rate, m.success_ci, m.episodes)
        for env, m in metrics.items()
        if m.success_rate is not None and m.success_ci is not None
    }
    return returns, success


def _load_trial(path: Path) -> _Trial:
    remedy = "It is written by `rldojo train` when a trial ends; re-run or resume the training."
    data = read_json_object(path, "trial.json", remedy)
    try:
        return _Trial.model_validate(data)
    except ValidationError as error:
        raise EvaluationError(f"{path} is not a valid trial summary:\n{describe_validation(error)}") from None


def _from_trial(trial: _Trial, path: Path, level: float) -> tuple[dict[str, Cell], dict[str, Cell]]:
    finals = [s.final_return_ma for s in trial.sessions if s.final_return_ma is not None]
    if not finals:
        raise EvaluationError(
            f"{path}: no session has a final_return_ma (did any session finish an episode?). "
            "Train longer, or evaluate the run with `rldojo eval` and compare its eval.json."
        )
    returns = {trial.env: Cell(sum(finals) / len(finals), sessions_interval(finals, level), len(finals))}
    rates = [s.success_ma for s in trial.sessions]
    success = {}
    if all(rate is not None for rate in rates):
        success[trial.env] = Cell(sum(rates) / len(rates), sessions_interval(rates, level), len(rates))  # type: ignore[arg-type]
    return returns, success


def load_model_results(path: Path, level: float, *, seed: int = 0) -> ModelResults:
    """The numbers (and, for run folders, the curve) of one compare input."""
    if not path.exists():
        raise EvaluationError(f"{path} does not exist; give eval.json files or run folders.")
    if path.is_file():
        label = path.parent.name if path.name == "eval.json" and path.parent.name else path.stem
        returns, success = _from_eval(path, level, seed)
        return ModelResults(label, path, _eval_source(path), returns, success)

    eval_path, trial_path = path / "eval.json", path / "trial.json"
    trial = _load_trial(trial_path) if trial_path.is_file() else None
    if eval_path.is_file():
        returns, success = _from_eval(eval_path, level, seed)
        source = _eval_source(eval_path)
    elif trial is not None:
        returns, success = _from_trial(trial, trial_path, level)
        source = f"trial.json: final return MA over {returns[trial.env].n} session(s)"
    else:
        raise EvaluationError(
            f"{path} is a folder with neither eval.json nor trial.json. Give a run folder "
            "(runs/<name>_<time>/ from `rldojo train`, optionally evaluated with `rldojo eval`) "
            "or an eval.json file."
        )
    curve = run_curve(path)
    curve_env = trial.env if trial is not None else (next(iter(returns)) if len(returns) == 1 else None)
    kind = "evaluation" if source.startswith("eval.json") else "training"
    return ModelResults(path.name, path, source, returns, success, curve=curve, curve_env=curve_env, kind=kind)
