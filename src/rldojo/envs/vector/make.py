"""`make_vec`: the one seam every trainer uses to get a vector env, whatever the `vectorize` mode.

All engines return gymnasium 1.x VectorEnvs in SAME_STEP autoreset mode: when an episode ends, the
step returns the first observation of the next episode and puts the last one in
`infos["final_obs"]` (and the last info in `infos["final_info"]`). Trainers store clean
transitions that way, and bootstrap truncated episodes from the final observation.

Modes (`vectorize`), one module each in this package:
- `sync` (sync.py): all envs in the caller's process (`InProcessVectorEnv`), best for envs that
  step in microseconds;
- `workers` (workers.py, worker_process.py): envs split over worker processes, results in shared
  memory (`WorkerVectorEnv`), with crash recovery;
- `pool` (pool.py): the same workers, but each step returns the first `batch_size` envs that are
  ready, with their ids in `infos["env_id"]` (EnvPool-style, `PoolVectorEnv`);
- `ray` (ray.py): env workers as Ray actors, on this machine or a cluster (`RayVectorEnv`);
- `native` (native.py): the env's own numpy-vectorised implementation (gymnasium's
  `vector_entry_point`, e.g. CartPole-v1), one generator for the batch;
- `envpool` (envpool_engine.py): envpool's C++ envs (the `envpool` extra);
- `auto` (auto.py): times the env's step and picks `sync` or `workers` and the worker count,
  confirming workers with a short trial on the started processes; where the id has a native
  implementation (or, for Atari, envpool reproduces rldojo's preprocessing and is installed) it
  times that too and keeps the faster (the decision is logged);
- `async`: gymnasium's own AsyncVectorEnv, kept for comparison (one line in `_build` below).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from loguru import logger

from rldojo.envs.atari import AtariOptions, resolve_atari
from rldojo.envs.errors import EnvInputError
from rldojo.envs.registry import check_env_id, current_env_id
from rldojo.envs.vector.auto import (
    TRIAL_MAX_STEP_US,
    EnginePlan,
    confirm_workers,
    plan_vectorize,
    prefer_field_native,
    time_vector_batch,
)
from rldojo.envs.vector.cpus import usable_cpus
from rldojo.envs.vector.factory import EnvFactory

VECTORIZE_MODES: tuple[str, ...] = ("auto", "sync", "workers", "pool", "ray", "async", "native", "envpool")


def _check_positive(name: str, value: float | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if value is None or not value > 0:
        raise EnvInputError(f"env.{name} must be a positive number{' or None' if allow_none else ''}, got {value!r}")


def make_vec(
    env_id: str,
    num_envs: int,
    seed: int | None = None,
    vectorize: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    *,
    workers: int | None = None,
    batch_size: int | None = None,
    step_timeout: float | None = 60.0,
    max_restarts: int = 3,
    ray_address: str | None = None,
    atari: AtariOptions | bool | None = None,
) -> gym.vector.VectorEnv:
    """Build `num_envs` copies of `env_id` as one VectorEnv (SAME_STEP autoreset) and seed them.

    `seed` seeds the batched action space; `reset(seed=s)` seeds env i with s + i, as gymnasium's
    SyncVectorEnv does. `workers`: worker processes (or Ray actors) for workers/pool/ray (None:
    the usable CPU cores; under auto, a cap on the count it picks). `batch_size`: envs per step in
    pool mode (default num_envs // 2). `step_timeout`: seconds a worker may take for one step
    before it counts as hung and is replaced (None: wait forever). `max_restarts`: crashes of one
    env tolerated before the run stops with EnvCrashError. `ray_address`: the Ray cluster for
    vectorize=ray (None: the running Ray, else a local one). `atari`: preprocessing of ALE ids
    (None or True: the defaults of `AtariOptions` for ALE/ ids, nothing for others; False: raw env).
    """
    if vectorize not in VECTORIZE_MODES:
        raise EnvInputError(f"env.vectorize '{vectorize}' is unknown; allowed: {', '.join(VECTORIZE_MODES)}")
    if num_envs < 1:
        raise EnvInputError(f"env.num_envs must be at least 1, got {num_envs}")
    if workers is not None and workers < 1:
        raise EnvInputError(f"env.workers must be at least 1 (or None to let rldojo pick), got {workers}")
    _check_positive("step_timeout", step_timeout)
    if max_restarts < 0:
        raise EnvInputError(f"env.max_restarts must be 0 or more, got {max_restarts}")
    env_id = current_env_id(env_id)  # an old tutorial id -> its current one (or a clear refusal)
    spec = check_env_id(env_id)
    atari_options = resolve_atari(env_id, atari)
    if vectorize in ("native", "envpool"):
        venv = _field_native(vectorize, spec, num_envs, env_kwargs, max_episode_steps, atari_options, seed)
        if seed is not None:
            venv.action_space.seed(seed)
        return venv
    if isinstance(spec.entry_point, str) and spec.entry_point.startswith("__main__:"):
        # Workers do not import the caller's script: send the class itself (cloudpickled by value).
        spec = dataclasses.replace(spec, entry_point=load_env_creator(spec.entry_point))
    factory = EnvFactory(spec, dict(env_kwargs or {}), max_episode_steps, atari_options)
    env_fns = [factory] + [dataclasses.replace(factory, check_env=False)] * (num_envs - 1)
    # Build one env eagerly so a bad id or argument fails here, with a clear message.
    probe = factory()
    try:
        mode, count = vectorize, workers or usable_cpus()
        plan = None
        if vectorize == "auto":
            plan = plan_vectorize(env_id, num_envs, max_workers=workers, probe=probe)
            mode, count = plan.mode, plan.workers
        venv = _build(
            mode,
            env_fns,
            count,
            probe,
            spec.id,
            batch_size=batch_size,
            step_timeout=step_timeout,
            max_restarts=max_restarts,
            ray_address=ray_address,
        )
        if plan is not None and plan.mode == "workers" and plan.step_us < TRIAL_MAX_STEP_US:
            # The model says workers pay off: check it on the started workers before keeping them.
            try:
                plan = confirm_workers(plan, num_envs, time_vector_batch(venv))
            except BaseException:
                venv.close()
                raise
            if plan.mode == "sync":
                venv.close()
                venv = _build(
                    "sync",
                    env_fns,
                    1,
                    probe,
                    spec.id,
                    batch_size=None,
                    step_timeout=step_timeout,
                    max_restarts=max_restarts,
                    ray_address=None,
                )
        if plan is not None:
            plan, venv = _consider_field_native(
                plan, venv, spec, num_envs, env_kwargs, max_episode_steps, atari_options, seed or 0
            )
            logger.info("make_vec auto: {} {}", env_id, plan.describe(num_envs))
    finally:
        probe.close()
    if seed is not None:
        venv.action_space.seed(seed)
    return venv


def _field_native(
    mode: str,
    spec: gym.envs.registration.EnvSpec,
    num_envs: int,
    env_kwargs: dict[str, Any] | None,
    max_episode_steps: int | None,
    atari: AtariOptions | None,
    seed: int | None,
) -> gym.vector.VectorEnv:
    """The `native` or `envpool` engine for `spec` (EnvInputError where it has none)."""
    if mode == "native":
        from rldojo.envs.vector.native import NativeVectorEnv

        return NativeVectorEnv(spec, num_envs, env_kwargs, max_episode_steps)
    from rldojo.envs.vector.envpool_engine import EnvPoolVectorEnv, envpool_task

    task, config = envpool_task(spec.id, atari, dict(env_kwargs or {}), max_episode_steps)
    return EnvPoolVectorEnv(spec.id, task, config, num_envs, seed=seed or 0)


def _field_native_candidate(
    spec: gym.envs.registration.EnvSpec, env_kwargs: dict[str, Any] | None, atari: AtariOptions | None
) -> str | None:
    """The field-native engine `auto` may try for `spec`: native where the id has one, envpool for
    Atari ids whose preprocessing it reproduces (when envpool is installed)."""
    if spec.vector_entry_point is not None and atari is None:
        return "native"
    from rldojo.envs.vector.envpool_engine import envpool_fits

    try:
        fits = envpool_fits(spec.id, atari, dict(env_kwargs or {}))
    except EnvInputError:  # envpool is not installed
        return None
    return "envpool" if fits else None


def _consider_field_native(
    plan: EnginePlan,
    venv: gym.vector.VectorEnv,
    spec: gym.envs.registration.EnvSpec,
    num_envs: int,
    env_kwargs: dict[str, Any] | None,
    max_episode_steps: int | None,
    atari: AtariOptions | None,
    seed: int,
) -> tuple[EnginePlan, gym.vector.VectorEnv]:
    """Time the field-native candidate against the engine auto built; keep the faster, close the other."""
    mode = _field_native_candidate(spec, env_kwargs, atari)
    if mode is None:
        return plan, venv
    try:
        candidate = _field_native(mode, spec, num_envs, env_kwargs, max_episode_steps, atari, seed)
    except EnvInputError as exc:  # e.g. kwargs the vectorised env does not take: not a candidate
        logger.debug("make_vec auto: {} not usable for {}: {}", mode, spec.id, exc)
        return plan, venv
    try:
        native_s, engine_s = time_vector_batch(candidate, seed), time_vector_batch(venv, seed)
    except BaseException:
        candidate.close()
        venv.close()
        raise
    chosen = prefer_field_native(plan, mode, native_s, engine_s)
    (venv if chosen.mode == mode else candidate).close()
    return chosen, candidate if chosen.mode == mode else venv


def _build(
    mode: str,
    env_fns: list,
    workers: int,
    probe: gym.Env,
    name: str,
    *,
    batch_size: int | None,
    step_timeout: float | None,
    max_restarts: int,
    ray_address: str | None,
) -> gym.vector.VectorEnv:
    if mode == "sync":
        from rldojo.envs.vector.sync import InProcessVectorEnv

        return InProcessVectorEnv(env_fns, env_name=name)
    if mode == "async":
        return gym.vector.AsyncVectorEnv(env_fns, autoreset_mode=AutoresetMode.SAME_STEP)
    if mode == "workers":
        from rldojo.envs.vector.workers import WorkerVectorEnv

        return WorkerVectorEnv(env_fns, workers, step_timeout, max_restarts, env_name=name, probe=probe)
    if mode == "pool":
        from rldojo.envs.vector.pool import PoolVectorEnv

        return PoolVectorEnv(env_fns, batch_size, workers, step_timeout, max_restarts, env_name=name, probe=probe)
    from rldojo.envs.vector.ray import RayVectorEnv

    return RayVectorEnv(env_fns, workers, step_timeout, max_restarts, env_name=name, probe=probe, address=ray_address)
