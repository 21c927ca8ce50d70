"""The stage contract: what one language-model training stage (SFT, GRPO, ...) is to the episode loop.

A stage kind is a parameter model (a `StageParams` subclass: the spec section, its metric names,
and `build_trainer`) plus the `StageTrainer` it builds. The episode loop drives `trainer.steps()`,
which yields one `StepReport` per optimisation step (SFT) or iteration (GRPO). A new stage kind
is one file with both classes, listed in `rldojo.algos.stages`.

Data parallel (`accelerate launch --num_processes N -m rldojo train SPEC`): every process runs the
same stage on the same model. `LMAgent.play` has each process play its share of the starts and
hands every process all the episodes, so every process sees the whole batch (its rewards,
advantages and normalisers); each then runs the forward and backward passes of its own share
(`my_share`) only, normalising by the whole batch's counts, and `step_accumulated` sums the
gradients. Every process so takes the step one process would take on the whole batch.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rldojo.config import StrictModel
from rldojo.llm.parse import STRATEGIES
from rldojo.llm.rollout import SHAPING_TERMS, Episode, RolloutStats, episode_metrics
from rldojo.nets.optim import process_group

#: Columns every RL stage logs about the episodes it played (`rldojo.llm.rollout.episode_metrics`).
EPISODE_METRICS: tuple[str, ...] = (
    "reward_mean",
    "reward_std",
    "success",
    "turns",
    "invalid_rate",
    "truncated",
    *(f"parse_{name}" for name in STRATEGIES),
    "explored",
    "native_return",
    "shaping_bonus",
    *(f"shaping_{term}" for term in SHAPING_TERMS),
)
#: Columns every RL stage logs about the cost of one iteration (`rl_iteration`).
ITERATION_METRICS: tuple[str, ...] = ("completion_tokens", "tokens_per_s", "rollout_s", "update_s")


@dataclass
class StepReport:
    """What one optimisation step or iteration of a stage reports to the episode loop."""

    frames: int
    """Agent turns consumed: played (RL) or imitated (SFT)."""
    metrics: dict[str, float]
    """Columns of metrics.csv."""
    lr: float
    episodes: list[Episode] = field(default_factory=list)
    """Training episodes played in this step (RL stages)."""
    iteration: bool = True
    """Counts as one iteration of `train.iterations` / `eval_every` (False: between iterations)."""


class StageTrainer(ABC):
    """One training stage on the agent's model."""

    @abstractmethod
    def steps(self) -> Iterator[StepReport]:
        """Train, yielding after each step; resumes where `load_state_dict` left off."""

    def progress(self) -> tuple[int, int | None]:
        """(steps done, steps in the stage; None when the frame budget ends it): the progress bar's."""
        return 0, None

    def finish(self) -> dict[str, Any]:
        """Called once the stage's budget is spent; returns facts for the report."""
        return {}

    @abstractmethod
    def current_lr(self) -> float: ...

    @abstractmethod
    def state_dict(self) -> dict: ...

    @abstractmethod
    def load_state_dict(self, state: dict) -> None: ...


class StageParams(StrictModel):
    """Hyperparameters of one training stage (a stage of its own, or one of a pipeline's `stages`)."""

    metric_names: ClassVar[tuple[str, ...]] = ()
    """Columns the stage's trainer adds to metrics.csv."""
    summary: ClassVar[str] = ""
    """One line for `rldojo specs --fields` and the docs."""

    def build_trainer(self, agent: Any) -> StageTrainer:
        """The trainer of this stage for `agent` (an `LMAgent` with its model built). Every stage
        kind defines it (this base is the contract, not a stage)."""
        raise NotImplementedError(f"{type(self).__name__} must define build_trainer(agent)")

    def scaled_for_dev(self) -> StageParams:
        """The stage at a small budget for `rldojo dev` (it exercises the stage, it does not train it)."""
        return self


def my_share(count: int, unit: int = 1) -> list[int]:
    """Indices of the items of a batch of `count` this process trains on in a data-parallel run: a
    contiguous block of whole units (`unit` = group_size keeps a GRPO group in one process, where its
    episodes share their prompt's forward pass). All of them with one process."""
    rank, world = process_group()
    if world == 1:
        return list(range(count))
    units = count // unit
    return list(range(units * rank // world * unit, units * (rank + 1) // world * unit))


def rl_iteration(
    agent: Any,
    starts: list,
    update: Callable[[list[Episode]], dict[str, float]],
    lr: Callable[[], float],
    play: Callable[[RolloutStats], tuple[list[Episode], list[Episode]]] | None = None,
) -> StepReport:
    """One RL iteration of a stage: play an episode from each of `starts`, `update` on them, and
    report the update's metrics with the episodes' (EPISODE_METRICS) and the costs (ITERATION_METRICS).

    `play` replaces playing `starts` once: it returns (the episodes to learn from, every episode
    played), as GRPO's dynamic sampling does; the episode metrics are those of every episode played."""
    stats = RolloutStats()
    if play is None:
        episodes = played = agent.play(starts, stats=stats)
    else:
        episodes, played = play(stats)
    started = time.perf_counter()
    metrics = update(episodes)
    metrics.update(episode_metrics(played))
    metrics.update(
        completion_tokens=float(stats.generated_tokens),
        rollout_s=stats.seconds,
        tokens_per_s=stats.generated_tokens / stats.seconds if stats.seconds else math.nan,
        update_s=time.perf_counter() - started,
    )
    return StepReport(frames=sum(ep.turns for ep in played), metrics=metrics, lr=lr(), episodes=played)
