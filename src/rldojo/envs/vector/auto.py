"""`vectorize: auto`: time the env's step, then pick in-process stepping or worker processes.

A batch in-process costs `num_envs * t` (t: one env step, resets included). Spread over W worker
processes it costs about `ceil(num_envs / W) * t` plus a fixed price per batch for waking the
workers and collecting their answers (`WAKE_US + WORKER_US * W`, measured on 2-core machines with
benchmarks/vector_throughput.py). Auto picks the W (up to the usable CPU cores) with the lowest
cost, and workers only when they beat in-process stepping by `MIN_GAIN`. Cores that other
processes keep busy do not count: how busy they are is read from /proc/stat over the calibration
itself (the load average, the fallback elsewhere, remembers the last minute, including work that
has just finished). When the model picks workers for an env that steps in under a millisecond
(where the fixed costs matter), make_vec starts them and times a few batches
(`time_vector_batch`); it keeps them only if they really beat in-process stepping (`TRIAL_MIN_GAIN`).
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym

from rldojo.envs.vector.cpus import cpu_ticks, idle_cpus
from rldojo.envs.vector.factory import make_env

#: Fixed cost of one batch through the worker engine, and the extra cost per worker (microseconds).
WAKE_US = 30.0
WORKER_US = 25.0
#: Workers must be at least this much faster than in-process stepping to be worth their processes.
MIN_GAIN = 1.25
#: Calibration budget: at least MIN_STEPS steps, then up to BUDGET_S seconds or MAX_STEPS steps.
MIN_STEPS, MAX_STEPS, BUDGET_S = 3, 10000, 0.06
#: Steps per chunk: long enough to include the env's occasional resets.
CHUNK = 32


@dataclass(frozen=True)
class EnginePlan:
    """What auto decided: the mode, the worker count, and the measurement behind it."""

    mode: str
    workers: int
    step_us: float
    steps_timed: int
    speedup: float
    cpus: int = 0
    trial_speedup: float | None = None
    """In-process batch time over the worker engine's, measured on the started workers (None: no trial)."""

    field_native: tuple[str, float, float] | None = None
    """A field-native engine that was timed: (mode, its seconds per batch, the other engine's)."""

    def describe(self, num_envs: int) -> str:
        where = {
            "sync": "in-process",
            "workers": f"{self.workers} worker processes",
            "native": "the env's own vectorised implementation (native)",
            "envpool": "envpool",
        }[self.mode]
        trial = ""
        if self.trial_speedup is not None:
            trial = f"; {self.workers if self.mode == 'workers' else 'the'} workers tried: {self.trial_speedup:.2f}x"
        timed = ""
        if self.field_native is not None:
            mode, native_s, engine_s = self.field_native
            timed = f"; {mode} timed at {native_s * 1e6:,.0f} us per batch against {engine_s * 1e6:,.0f} us"
        return (
            f"one env step takes {self.step_us:.1f} us ({self.steps_timed} steps timed), {self.cpus} idle "
            f"cores; {num_envs} envs -> {where} (expected {self.speedup:.2f}x in-process{trial}{timed})"
        )


def time_env_step(env: gym.Env, seed: int = 0) -> tuple[float, int]:
    """Seconds per step of `env` under random actions (episode resets included), and steps timed.

    The median over chunks of consecutive steps, so a moment when the process was not running
    (a busy machine) does not pass for a slow env."""
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(64)]
    env.reset(seed=seed)
    times: list[float] = []
    started = time.perf_counter()
    while True:
        before = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(actions[len(times) % len(actions)])
        if terminated or truncated:
            env.reset()
        after = time.perf_counter()
        times.append(after - before)
        if len(times) >= MIN_STEPS and (after - started >= BUDGET_S or len(times) >= MAX_STEPS):
            break
    chunk = max(1, min(CHUNK, len(times) // 4))
    chunks = [sum(times[i : i + chunk]) / chunk for i in range(0, len(times) - chunk + 1, chunk)]
    return statistics.median(chunks), len(times)


#: A trial on the started workers must show at least this gain over in-process stepping to keep them
#: (lower than MIN_GAIN: it is a measurement, not a prediction, and freshly started workers run a
#: little slower than they will in a few hundred steps).
TRIAL_MIN_GAIN = 1.1
#: Envs slower than this per step skip the trial: the workers' fixed costs are noise beside the
#: step, and a trial would reset every env once more (seconds for a JVM-backed world).
TRIAL_MAX_STEP_US = 1000.0
#: Batches a worker-engine trial times (after TRIAL_WARMUP), or fewer when TRIAL_BUDGET_S runs out.
TRIAL_BATCHES, TRIAL_WARMUP, TRIAL_BUDGET_S = 20, 3, 0.3


def time_vector_batch(venv, seed: int = 0) -> float:
    """Median seconds per batch of `venv` under random actions (reset first, seeded)."""
    venv.action_space.seed(seed)
    actions = [venv.action_space.sample() for _ in range(8)]
    venv.reset(seed=seed)
    for k in range(TRIAL_WARMUP):
        venv.step(actions[k % len(actions)])
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < TRIAL_BATCHES and (len(times) < 3 or time.perf_counter() - started < TRIAL_BUDGET_S):
        before = time.perf_counter()
        venv.step(actions[len(times) % len(actions)])
        times.append(time.perf_counter() - before)
    return statistics.median(times)


def confirm_workers(plan: EnginePlan, num_envs: int, worker_batch_s: float) -> EnginePlan:
    """Keep the workers only if the trial shows them beating in-process stepping by TRIAL_MIN_GAIN.

    The model's fixed costs are typical ones; on a loaded machine waking workers costs more."""
    trial = num_envs * plan.step_us * 1e-6 / worker_batch_s
    if trial >= TRIAL_MIN_GAIN:
        return replace(plan, trial_speedup=trial)
    return EnginePlan("sync", 1, plan.step_us, plan.steps_timed, 1.0, plan.cpus, trial)


#: A field-native engine (native, envpool) is kept only if its batches are at least this much faster
#: than the engine the model picked (both measured): near a tie, the engines whose seeding matches
#: gymnasium's SyncVectorEnv win.
FIELD_NATIVE_MIN_GAIN = 1.05


def prefer_field_native(plan: EnginePlan, mode: str, native_batch_s: float, engine_batch_s: float) -> EnginePlan:
    """The plan with `mode` (native or envpool) if its measured batches beat the picked engine's."""
    timed = replace(plan, field_native=(mode, native_batch_s, engine_batch_s))
    if engine_batch_s >= FIELD_NATIVE_MIN_GAIN * native_batch_s:
        return replace(timed, mode=mode, workers=1, speedup=plan.speedup * engine_batch_s / native_batch_s)
    return timed


def plan_engine(
    step_s: float, num_envs: int, cpus: int, max_workers: int | None = None, steps_timed: int = 0
) -> EnginePlan:
    """In-process or workers, and how many, for envs that step in `step_s` seconds."""
    step_us = step_s * 1e6
    in_process = num_envs * step_us
    best_w, best_cost = 1, in_process
    limit = max(1, min(cpus, num_envs, max_workers or cpus))
    for w in range(2, limit + 1):
        cost = math.ceil(num_envs / w) * step_us + WAKE_US + WORKER_US * w
        if cost < best_cost:
            best_w, best_cost = w, cost
    speedup = in_process / best_cost
    if best_w > 1 and speedup >= MIN_GAIN:
        return EnginePlan("workers", best_w, step_us, steps_timed, speedup, cpus)
    return EnginePlan("sync", 1, step_us, steps_timed, 1.0, cpus)


def plan_vectorize(
    env_id: str,
    num_envs: int,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    max_workers: int | None = None,
    probe: gym.Env | None = None,
) -> EnginePlan:
    """`auto`'s decision for `num_envs` copies of `env_id`: time one env's step, then plan."""
    env = probe if probe is not None else make_env(env_id, env_kwargs, max_episode_steps)
    try:
        ticks = cpu_ticks()
        step_s, steps = time_env_step(env)
    finally:
        if probe is None:
            env.close()
    return plan_engine(step_s, num_envs, idle_cpus(ticks), max_workers, steps)


def choose_vectorize(
    env_id: str, num_envs: int, env_kwargs: dict[str, Any] | None = None, max_episode_steps: int | None = None
) -> str:
    """The engine `auto`'s model picks for `num_envs` copies of `env_id` ("sync" or "workers"), before
    make_vec's trial of the workers."""
    return plan_vectorize(env_id, num_envs, env_kwargs, max_episode_steps).mode
