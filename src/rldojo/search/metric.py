"""What a trial reports to the search: a column of its metric rows, or a statistic of the trial.

A column keeps its last defined value (evaluation columns are blank between evaluations, return_ma
before the first episode ends), so the scheduler compares trials on the latest figure each has.
`last_k_per_env` is the mean over envs of each env's last k training returns: unlike return_ma,
envs whose episodes are short (often the failing ones) do not fill the window, and it needs no
evaluation phase. `last_k_per_env_native` is the same on the env's native reward: the episode's
`native_return` (the vector loop sums `info["native_reward"]` where the env reports one), so trials
whose rewards are shaped differently (NetDefense's workflows) are compared on the env's own scale
rather than on each one's shaped return. A trial of several sessions (no ASHA) reports the mean over
its sessions.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from rldojo.errors import UserError
from rldojo.run.search_spec import TRIAL_STATISTICS
from rldojo.run.spec import Spec
from rldojo.track.tracker import BASE_COLUMNS

#: Trial statistics over each env's last k training episodes -> the key of the episode they average.
PER_ENV_STATISTICS: dict[str, str] = {"last_k_per_env": "return", "last_k_per_env_native": "native_return"}


@dataclass
class _SessionFigures:
    frame: int = 0
    last: dict[str, float] = field(default_factory=dict)
    """The last defined value of each numeric column."""
    by_env: dict[int, deque] = field(default_factory=dict)
    episodes: int = 0


class TrialMetric:
    """Follows one trial's rows and episodes; `value()` is the search metric now (NaN: not yet defined).

    It has the callback hooks `on_row(session, row)` and `on_episode(session, episode)` (episode: a
    mapping with `return` and, from the vector loop, `env`, the index of the env that played it, and
    `native_return` where the env reports a native reward)."""

    def __init__(self, metric: str, last_k: int = 10) -> None:
        self.metric, self.last_k = metric, last_k
        self.sessions: dict[int, _SessionFigures] = defaultdict(_SessionFigures)

    @property
    def frame(self) -> int:
        """Frames trained so far, over the trial's sessions (the scheduler's clock)."""
        return sum(figures.frame for figures in self.sessions.values())

    def on_row(self, session: int, row: dict[str, Any]) -> None:
        figures = self.sessions[session]
        figures.frame = int(row.get("frame", figures.frame))
        for key, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                figures.last[key] = float(value)
        if self.metric in PER_ENV_STATISTICS and row.get("episode") and not figures.episodes:
            raise RuntimeError(
                f"search.metric {self.metric} needs each finished episode (the callbacks' on_episode hook), "
                "and this run's loop reported none"
            )
        if self.metric not in TRIAL_STATISTICS and self.metric not in row:
            raise UserError(
                f"search.metric '{self.metric}' is not a column of this run's metric rows; columns: "
                f"{', '.join(row)}, or a trial statistic: {', '.join(TRIAL_STATISTICS)}."
            )

    def on_episode(self, session: int, episode: dict[str, Any]) -> None:
        """One finished training episode; the per-env statistics keep its return (or native return)."""
        figures = self.sessions[session]
        figures.episodes += 1
        key = PER_ENV_STATISTICS.get(self.metric, "return")
        value = episode.get(key)
        if value is None and key == "native_return":
            raise UserError(
                f"search.metric {self.metric} ranks trials by each episode's native return, and this run's "
                "episodes carry none: the env reports no native reward (info['native_reward'], which envs with "
                "a shaped reward such as dojo/NetDefense-v0 report), or the agent's training loop does not "
                "pass it on (the vector loop of tensor agents does). Use search.metric last_k_per_env."
            )
        env = int(episode.get("env") or 0)
        figures.by_env.setdefault(env, deque(maxlen=self.last_k)).append(float(value))

    def session_value(self, session: int) -> float:
        figures = self.sessions[session]
        if self.metric in PER_ENV_STATISTICS:
            means = [sum(returns) / len(returns) for returns in figures.by_env.values() if returns]
            return sum(means) / len(means) if means else math.nan
        return figures.last.get(self.metric, math.nan)

    def value(self) -> float:
        values = [self.session_value(session) for session in list(self.sessions)]
        values = [value for value in values if not math.isnan(value)]
        return sum(values) / len(values) if values else math.nan


def metric_columns(spec: Spec) -> tuple[str, ...]:
    """The columns of the metric rows a run of `spec` writes (the agent's own metrics after the common
    ones; language-model runs add `stage`)."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.envs import make_env
    from rldojo.run.agents import build_agent

    env = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    try:
        agent = build_agent(spec, env.observation_space, env.action_space, spec.env.num_envs, spec.meta.seed)
    finally:
        env.close()
    extra = ("stage",) if plays_episodes(spec.agent.algo) else ()
    return BASE_COLUMNS + tuple(name for name in (*agent.metric_names, *extra) if name not in BASE_COLUMNS)


def check_metric(spec: Spec) -> None:
    """The search metric must be a column the runs write, or a trial statistic; evaluation columns need
    evaluations. A UserError lists what is allowed."""
    metric = spec.search.metric
    if metric == "last_k_per_env_native":
        check_native_reward(spec)
    if metric in TRIAL_STATISTICS:
        return
    columns = metric_columns(spec)
    if metric not in columns:
        statistics = "; ".join(f"{name}: {what}" for name, what in TRIAL_STATISTICS.items())
        raise UserError(
            f"search.metric '{metric}' is not a column of {spec.agent.algo}'s metric rows. Columns: "
            f"{', '.join(columns)}; trial statistics: {statistics}."
        )
    if metric.startswith("eval_") and not spec.train.eval_every:
        raise UserError(
            f"search.metric '{metric}' comes from evaluations, and train.eval_every is 0 (no evaluation during "
            "training). Set train.eval_every, or rank trials by a training column (return_ma, success_ma) "
            "or last_k_per_env."
        )


def check_native_reward(spec: Spec) -> None:
    """`last_k_per_env_native` needs an env that reports `info["native_reward"]` on its steps: one env of
    the spec plays a step to see (a UserError names the env and the way out). The native return comes
    from the vector loop of tensor agents; the episode loop of language-model agents does not pass it on."""
    from rldojo.algos.registry import plays_episodes
    from rldojo.envs import make_env

    if plays_episodes(spec.agent.algo):
        raise UserError(
            f"search.metric last_k_per_env_native is reported by tensor agents' training loop, and "
            f"{spec.agent.algo} trains a language model on whole episodes, whose native return the search "
            "does not receive. Use search.metric last_k_per_env, or a column such as return_ma."
        )

    env = make_env(spec.env.id, spec.env.kwargs, spec.env.max_episode_steps, atari=spec.env.atari_options())
    try:
        env.reset(seed=spec.meta.seed)
        env.action_space.seed(spec.meta.seed)
        _, _, _, _, info = env.step(env.action_space.sample())
    finally:
        env.close()
    if "native_reward" not in info:
        raise UserError(
            f"search.metric last_k_per_env_native ranks trials by the env's native reward, and {spec.env.id} "
            "reports none (its steps' info has no 'native_reward'; envs with a shaped reward, such as "
            "dojo/NetDefense-v0, report one). Use search.metric last_k_per_env."
        )
