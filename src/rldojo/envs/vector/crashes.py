"""Crash bookkeeping for the worker engines (modes workers, pool and ray): what died, how often, and
when to give up."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from loguru import logger


class EnvCrashError(RuntimeError):
    """An env kept crashing (or hanging) past `max_restarts`, or could not be started at all."""


@dataclass
class Crash:
    """One worker failure: which worker, which env (None when it cannot be told), and why."""

    worker: int
    env: int | None
    reason: str
    details: str = ""


class CrashBook:
    """Counts crashes per env; the one that crashes more than `max_restarts` times stops the run."""

    def __init__(self, env_name: str, max_restarts: int) -> None:
        self.env_name = env_name
        self.max_restarts = max_restarts
        self.counts: Counter[int] = Counter()
        self.total = 0

    def record(self, crash: Crash, slice_envs: range) -> EnvCrashError | None:
        """Count `crash` (against its env, or against every env of the worker when unknown).

        Returns the error to raise when the limit is passed, else None (and logs a warning)."""
        envs = [crash.env] if crash.env is not None else list(slice_envs)
        self.total += 1
        for env in envs:
            self.counts[env] += 1
        worst = max(envs, key=lambda e: self.counts[e])
        where = f"env {crash.env}" if crash.env is not None else f"envs {slice_envs.start}-{slice_envs.stop - 1}"
        if self.counts[worst] > self.max_restarts:
            last = f"{crash.reason}\n{crash.details}".rstrip()
            return EnvCrashError(
                f"env {worst} of {self.env_name} crashed {self.counts[worst]} times, more than "
                f"max_restarts={self.max_restarts}; stopping. Last failure (worker {crash.worker}, {where}): "
                f"{last}\nFix the env, or raise env.max_restarts / env.step_timeout if the failures "
                "are expected."
            )
        logger.warning(
            "{} worker {} ({}) failed: {}; replacing it and resetting envs {}-{} "
            "(their episodes end as truncated, info['worker_restarted']) [crash {}/{} of env {}]",
            self.env_name,
            crash.worker,
            where,
            crash.reason,
            slice_envs.start,
            slice_envs.stop - 1,
            self.counts[worst],
            self.max_restarts,
            worst,
        )
        return None
