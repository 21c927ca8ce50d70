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
- `auto` (auto.py): times the env's step and picks `sync` or `workers` and the worker count,
  confirming workers with a short trial on the started processes (the decision is logged);
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
from rldojo.envs.vector.auto import TRIAL_MAX_STEP_US, confirm_workers, plan_vectorize, time_vector_batch
from rldojo.envs.vector.cpus import usable_cpus
from rldojo.envs.vector.factory import EnvFactory

VECTORIZE_MODES: tuple[str, ...] = ("auto", "sync", "workers", "pool", "ray", "async")


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
    if isinstance(spec.entry_point, str) and spec.entry_point.startswith("__main__:"):
        # Workers do not import the caller's script: send the class itself (cloudpickled by value).
        spec = dataclasses.replace(spec, entry_point=load_env_creator(spec.entry_point))
    factory = EnvFactory(spec, dict(env_kwargs or {}), max_episode_steps, resolve_atari(env_id, atari))
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
            logger.info("make_vec auto: {} {}", env_id, plan.describe(num_envs))
    finally:
        probe.close()
    if seed is not None:
        venv.action_space.seed(seed)
    return venv


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
