"""The `search:` block of a spec: what `rldojo search` tunes, how, and how it judges trials.

`rldojo train` ignores the block; `rldojo search SPEC` reads it. A search space maps dotted spec
keys (as `--set` writes them) to distributions written as text:

```yaml
search:
  space:
    agent.optim.lr: loguniform(1.0e-4, 1.0e-2)
    agent.clip: uniform(0.1, 0.3)
    agent.epochs: randint(4, 20)
    agent.gae_lambda: quniform(0.8, 1.0, 0.05)
    agent.net.hidden: choice([[64, 64], [128, 128]])
  trials: 16
  metric: return_ma
  scheduler: {name: asha, grace_period: 10000}
```

This module only describes and checks the block (it is part of the spec model, so it sits in the
run layer); `rldojo.search` runs it.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, field_validator, model_validator

from rldojo.config import StrictModel, refuse_set_keys

#: Each distribution's signature as users write it (also the text of error messages).
DISTRIBUTIONS: dict[str, str] = {
    "loguniform": "loguniform(lo, hi): floats spread evenly in log scale, 0 < lo < hi",
    "uniform": "uniform(lo, hi): floats spread evenly, lo < hi",
    "randint": "randint(lo, hi): integers lo..hi, both included, lo < hi",
    "quniform": "quniform(lo, hi, q): floats lo, lo+q, ... up to hi, lo < hi, 0 < q <= hi - lo",
    "choice": "choice([a, b, ...]): one of the listed values",
    "grid": "grid([a, b, ...]): every listed value, each in its own trials (sampler grid or random)",
}
#: Statistics of a trial that are not columns of its metric rows.
TRIAL_STATISTICS: dict[str, str] = {
    "last_k_per_env": "the mean over envs of each env's last `last_k` training episode returns",
    "last_k_per_env_native": (
        "last_k_per_env on the env's native reward (the sum of info['native_reward'] over each episode), "
        "for envs whose returned reward is shaped"
    ),
}

_CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.DOTALL)
_NUMBER_TEXT = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Distribution:
    """One dimension of a search space, parsed from its text (`loguniform(1e-4, 1e-2)`)."""

    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    """quniform's q."""
    values: tuple[Any, ...] = ()
    """choice's and grid's values, in the order written."""

    @property
    def discrete(self) -> bool:
        """A finite set of values (choice, grid)."""
        return self.kind in ("choice", "grid")

    def text(self) -> str:
        """The distribution as a spec writes it."""
        if self.discrete:
            return f"{self.kind}({_flow(list(self.values))})"
        args = [self.low, self.high] + ([self.step] if self.kind == "quniform" else [])
        return f"{self.kind}({', '.join(_flow(arg) for arg in args)})"


def _flow(value: Any) -> str:
    """A value as one line of YAML flow text: 0.001, [64, 64], adam."""
    if isinstance(value, float):
        return repr(value)
    return yaml.safe_dump(value, default_flow_style=True, width=math.inf).removesuffix("\n").removesuffix("\n...")


def _numbers_in(node: Any) -> Any:
    """YAML reads 1e-4 as text (it wants 1.0e-4); users mean the number, as in --set."""
    if isinstance(node, list):
        return [_numbers_in(item) for item in node]
    if isinstance(node, dict):
        return {key: _numbers_in(value) for key, value in node.items()}
    if isinstance(node, str) and _NUMBER_TEXT.match(node.strip()):
        return float(node)
    return node


def _number(value: Any, what: str, text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{text}: {what} must be a finite number, got {value!r}")
    return value


def parse_distribution(text: Any) -> Distribution:
    """`loguniform(1e-4, 1e-2)` -> Distribution; a ValueError says what is wrong and what is allowed."""
    allowed = "; ".join(DISTRIBUTIONS.values())
    if not isinstance(text, str):
        raise ValueError(
            f"{text!r} is not a distribution; write one as text, one of: {allowed} "
            "(a fixed value belongs in the spec itself, not in search.space)"
        )
    match = _CALL.match(text)
    if match is None and re.match(r"^\s*[A-Za-z_]\w*\s*\(", text) and text.count("(") > text.count(")"):
        raise ValueError(
            f"'{text}' is cut at a comma: inside a YAML flow mapping ({{...}}) a distribution must be quoted, "
            "e.g. {agent.optim.lr: 'loguniform(1e-4, 1e-2)'}, or the space written one key per line"
        )
    if match is None:
        raise ValueError(f"'{text}' is not a distribution; write one of: {allowed}")
    kind, inside = match.group(1), match.group(2)
    if kind not in DISTRIBUTIONS:
        close = difflib.get_close_matches(kind, list(DISTRIBUTIONS), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ValueError(f"'{kind}' in '{text}' is not a known distribution.{hint} Allowed: {allowed}")
    try:
        args = yaml.safe_load(f"[{inside}]")
    except yaml.YAMLError:
        raise ValueError(f"'{text}': the arguments are not valid YAML; write {DISTRIBUTIONS[kind]}") from None
    if not isinstance(args, list):
        raise ValueError(f"'{text}': write {DISTRIBUTIONS[kind]}")
    args = _numbers_in(args)
    if kind in ("choice", "grid"):
        return _discrete(kind, args, text)
    expected = 3 if kind == "quniform" else 2
    if len(args) != expected:
        raise ValueError(f"'{text}' has {len(args)} arguments; write {DISTRIBUTIONS[kind]}")
    low, high = (_number(value, name, text) for value, name in zip(args, ("lo", "hi")))
    if not low < high:
        raise ValueError(f"'{text}' is an empty range: lo ({low:g}) must be below hi ({high:g})")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"'{text}': a log scale needs lo > 0 (got {low:g}); use uniform for ranges that reach 0")
    if kind == "randint":
        if not all(float(value).is_integer() for value in (low, high)):
            raise ValueError(f"'{text}': randint takes whole numbers (got {low:g}, {high:g})")
        return Distribution(kind, int(low), int(high))
    step = None
    if kind == "quniform":
        step = _number(args[2], "q", text)
        if not 0 < step <= high - low:
            raise ValueError(f"'{text}': q must be above 0 and at most hi - lo ({high - low:g}), got {step:g}")
    return Distribution(kind, float(low), float(high), step)


def _discrete(kind: str, args: list, text: str) -> Distribution:
    if len(args) != 1 or not isinstance(args[0], list):
        raise ValueError(f"'{text}': {kind} takes one list of values; write {DISTRIBUTIONS[kind]}")
    values = args[0]
    if not values:
        raise ValueError(f"'{text}' lists no values; give at least one")
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise ValueError(f"'{text}' lists {value!r} twice; list each value once")
        seen.append(value)
    return Distribution(kind, values=tuple(values))


def _distribution_text(value: Any) -> Any:
    parse_distribution(value)  # a ValueError names the fix
    return value


DistributionText = Annotated[str, BeforeValidator(_distribution_text)]


def _flat_space(space: Any) -> Any:
    """Nested sections of the space become dotted keys: `--set search.space.agent.clip=uniform(0.1, 0.3)`
    writes {agent: {clip: ...}}, and a spec may nest its space the same way."""
    if not isinstance(space, dict):
        return space
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict) -> None:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                walk(path, value)
            else:
                flat[path] = value

    walk("", space)
    return flat


class SchedulerSpec(StrictModel):
    """`search.scheduler:` how trials are run and stopped. `scheduler: asha` is short for `{name: asha}`."""

    name: Literal["asha", "none", "gp_ucb"] = "asha"
    """`asha`: asynchronous successive halving (Ray Tune's ASHAScheduler) stops trials whose metric
    trails the others' at each rung (grace_period, grace_period x reduction_factor, ... frames);
    `none`: every trial trains to its budget; `gp_ucb`: GP-UCB over a discrete candidate set
    (`search.candidates`, or every combination of a space of choice/grid values), one candidate
    trained per round."""
    grace_period: int | None = Field(None, gt=0)
    """ASHA: frames before a trial can first be stopped (the first rung). None: max_t / reduction_factor^2,
    so trials are judged at max_t/9 and max_t/3 with the default factor."""
    reduction_factor: float = Field(3.0, gt=1)
    """ASHA: at each rung only the best 1/reduction_factor of the trials that reached it go on."""
    max_t: int | None = Field(None, gt=0)
    """ASHA: frames of a trial that survives every rung (None: train.max_frames)."""
    rounds: int = Field(10, ge=1)
    """GP-UCB: rounds, each training one candidate for `budget` frames."""
    budget: int | None = Field(None, gt=0)
    """GP-UCB: frames each round trains its candidate (None: train.max_frames)."""
    delta: float = Field(0.1, gt=0, lt=1)
    """GP-UCB: confidence parameter delta of beta_t = 2 log(|D| t^2 pi^2 / (6 delta)) (Srinivas et al.
    2010); smaller explores more."""

    @model_validator(mode="after")
    def _keys_of_this_scheduler(self) -> SchedulerSpec:
        asha_keys = ("grace_period", "reduction_factor", "max_t")
        gp_keys = ("rounds", "budget", "delta")
        unused = {
            "asha": gp_keys,
            "gp_ucb": asha_keys,
            "none": asha_keys + gp_keys,
        }[self.name]
        refuse_set_keys(
            self, "search.scheduler", {key: f"it is a setting of another scheduler, not {self.name}" for key in unused}
        )
        return self


def _scheduler_by_name(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class ResourcesSpec(StrictModel):
    """`search.resources:` what one trial takes from the Ray cluster."""

    cpu: float = Field(1.0, gt=0)
    """CPU cores per trial (trials run side by side until the cores are taken)."""
    gpu: float = Field(0.0, ge=0)
    """GPUs per trial (a fraction shares one GPU between trials)."""


class CandidateSpec(StrictModel):
    """One candidate of GP-UCB: a named variant of the spec and its numeric features."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    """Name of the variant (letters, digits, `_`, `.`, `-`)."""
    set: dict[str, Any] = Field(default_factory=dict)
    """Spec keys this variant changes, as `--set` writes them: {agent.optim.lr: 3.0e-4, ...}."""
    features: dict[str, float] = Field(default_factory=dict)
    """Numbers that place the variant for the Gaussian process (each candidate lists the same names;
    empty: the numeric values of `set`). Scaled to [0, 1] over the candidates before fitting."""


class SearchSpec(StrictModel):
    """`search:` hyperparameter search with `rldojo search` (Ray Tune, Optuna, ASHA, GP-UCB).
    `rldojo train` ignores this block."""

    space: Annotated[dict[str, DistributionText], BeforeValidator(_flat_space)] = Field(default_factory=dict)
    """Dotted spec keys (as `--set` writes them) to distributions: loguniform(lo, hi), uniform(lo, hi),
    randint(lo, hi), quniform(lo, hi, q), choice([a, b, ...]), grid([a, b, ...]). Nested sections are
    read as dotted keys, so `--set search.space.agent.clip=uniform(0.1, 0.3)` adds a dimension."""
    trials: int | None = Field(None, ge=1)
    """Trials to run (None: 16). With sampler grid: passes over the whole grid, each with its own seed
    (None: 1)."""
    metric: str = Field("return_ma", min_length=1)
    """What ranks trials: a column of the metric rows (return_ma, success_ma, eval_return, a loss ...),
    its last value when the trial stops, or `last_k_per_env` (the mean over envs of each env's last
    `last_k` training returns; needs no evaluation), or `last_k_per_env_native`, the same on the env's
    native reward (`info["native_reward"]`, tensor agents): trials whose rewards are shaped differently
    (NetDefense's workflows) then compare on one scale."""
    last_k: int = Field(10, ge=1)
    """Episodes per env in `last_k_per_env` and `last_k_per_env_native`."""
    mode: Literal["max", "min"] = "max"
    """Whether a higher (max) or lower (min) metric is better."""
    scheduler: Annotated[SchedulerSpec, BeforeValidator(_scheduler_by_name)] = Field(default_factory=SchedulerSpec)
    """How trials are run and stopped: asha, none or gp_ucb, with their settings."""
    sampler: Literal["optuna_tpe", "random", "grid"] = "optuna_tpe"
    """How the next trial's values are drawn: `optuna_tpe` Optuna's TPE (Bayesian, learns from finished
    trials; its first trials are random), `random` independent draws (grid([...]) dimensions crossed
    with them), `grid` every combination of the grid([...]) dimensions."""
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    """CPU and GPU per trial."""
    max_concurrent: int | None = Field(None, ge=1)
    """Trials running at once (None: as many as the resources allow)."""
    keep_checkpoints: int = Field(3, ge=0)
    """Checkpoints kept after the search: the best this many trials keep their ckpt/ folders, the others'
    are deleted (their metrics and curves stay)."""
    narrow_factor: float = Field(0.25, gt=0, lt=1)
    """`rldojo search --narrow`: each range of the next stage keeps this share of its width, centred
    on the previous stage's best value (in log scale for loguniform) and clipped to the old range."""
    candidates: list[CandidateSpec] = Field(default_factory=list)
    """GP-UCB: the candidate set, as named variants (empty: every combination of the space's
    choice/grid values)."""

    @field_validator("space")
    @classmethod
    def _dotted_keys(cls, space: dict[str, str]) -> dict[str, str]:
        for key in space:
            parts = key.split(".")
            if not key.strip() or any(not part.strip() for part in parts):
                raise ValueError(f"'{key}' is not a dotted spec key like agent.optim.lr")
            if parts[0] in ("search", "name", "vars") or key in ("meta.seed", "meta.sessions"):
                raise ValueError(
                    f"'{key}' cannot be searched: a search tunes how the agent trains (env, agent, train "
                    "keys); seeds and sessions are set once for all trials"
                )
        return space

    @model_validator(mode="after")
    def _consistent(self) -> SearchSpec:
        space = self.dimensions()
        grids = [key for key, dim in space.items() if dim.kind == "grid"]
        if self.scheduler.name == "gp_ucb":
            refuse_set_keys(
                self,
                "search",
                {
                    "sampler": "GP-UCB picks each round's candidate itself",
                    "trials": "GP-UCB trains search.scheduler.rounds rounds",
                    "max_concurrent": "GP-UCB trains one candidate per round",
                },
            )
            if not self.candidates:
                continuous = [key for key, dim in space.items() if not dim.discrete]
                if not space or continuous:
                    raise ValueError(
                        "scheduler gp_ucb chooses from a discrete candidate set: list search.candidates, or "
                        "give a space of choice([...]) or grid([...]) values only"
                        + (f" ({', '.join(continuous)} are ranges)" if continuous else "")
                    )
            elif space:
                raise ValueError(
                    "scheduler gp_ucb takes its candidates from search.candidates or from search.space, not "
                    "both; remove one"
                )
            self._check_candidates()
            return self
        if self.candidates:
            raise ValueError("search.candidates are GP-UCB's; use scheduler gp_ucb or remove them")
        if not space:
            raise ValueError(
                "search.space is empty; give at least one key, e.g. agent.optim.lr: loguniform(1e-4, 1e-2)"
            )
        if self.sampler == "optuna_tpe" and grids:
            raise ValueError(
                f"sampler optuna_tpe cannot take grid([...]) dimensions ({', '.join(grids)}); write them as "
                "choice([...]), or use sampler grid or random"
            )
        if self.sampler == "grid":
            others = [key for key in space if key not in grids]
            if others:
                raise ValueError(
                    f"sampler grid runs every combination of grid([...]) dimensions, and {', '.join(others)} "
                    "are not grids; write them as grid([...]) or use sampler random or optuna_tpe"
                )
        return self

    def _check_candidates(self) -> None:
        names = [candidate.name for candidate in self.candidates]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"search.candidates: two candidates are named '{name}'; name each once")
        features = [set(candidate_features(candidate)) for candidate in self.candidates]
        for candidate, names_here in zip(self.candidates, features):
            if not names_here:
                raise ValueError(
                    f"search.candidates '{candidate.name}' has no numeric features: give features: {{...}}, "
                    "or numeric values in set"
                )
            if names_here != features[0]:
                raise ValueError(
                    f"search.candidates: '{candidate.name}' has features {sorted(names_here)} but "
                    f"'{self.candidates[0].name}' has {sorted(features[0])}; every candidate needs the same ones"
                )

    def dimensions(self) -> dict[str, Distribution]:
        """The parsed space, in the order written."""
        return {key: parse_distribution(text) for key, text in self.space.items()}

    @property
    def trial_count(self) -> int:
        """Trials to sample (random, optuna_tpe), or passes over the grid (grid)."""
        return self.trials if self.trials is not None else (1 if self.sampler == "grid" else 16)


def candidate_features(candidate: CandidateSpec) -> dict[str, float]:
    """The candidate's features: given ones, else the numeric scalars of its `set`."""
    if candidate.features:
        return dict(candidate.features)
    return {
        key: float(value)
        for key, value in candidate.set.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    }
