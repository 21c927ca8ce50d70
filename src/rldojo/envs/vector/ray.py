"""`RayVectorEnv` (vectorize=ray): env workers as Ray actors, on this machine or a Ray cluster.

For users who outgrow one machine: each actor owns a slice of the envs (built from the same
picklable factories, so rldojo must be installed on every node) and steps it per call; results
come back through Ray's object store. Semantics are the worker engine's: SAME_STEP autoreset,
SyncVectorEnv-identical results, and crash recovery — an actor that dies or does not answer
within `step_timeout` is killed and replaced, its envs' episodes end truncated with
`infos["worker_restarted"]`, and an env failing more than `max_restarts` times stops the run.

`address=None` uses the Ray already initialised in this process, or starts a local one (shut
down again on close); otherwise `ray.init(address=...)` joins that cluster.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import create_empty_array
from loguru import logger

from rldojo.envs.errors import EnvInputError
from rldojo.envs.vector.base import EngineVectorEnv, buffer_specs, local_arrays
from rldojo.envs.vector.crashes import Crash, CrashBook
from rldojo.envs.vector.env_slice import EnvSlice, Record, iter_actions
from rldojo.envs.vector.shared_memory import BatchLayout, fill_rows
from rldojo.envs.vector.workers import START_TIMEOUT, split_envs


class SliceActor:
    """A Ray actor around an EnvSlice (registered with `ray.remote` when the engine starts)."""

    def __init__(self, payload: bytes, offset: int) -> None:
        env_fns, self.obs_space, self.batch_act_space = cloudpickle.loads(payload)
        self.envs = EnvSlice(env_fns, offset)
        self.layout = BatchLayout(self.obs_space, len(self.envs)) if BatchLayout.supports(self.obs_space) else None

    def ready(self) -> bool:
        return True

    def _batch(self, obs: list[Any]) -> Any:
        if self.layout is None:
            return obs
        out = create_empty_array(self.obs_space, len(obs))
        fill_rows(out, obs)
        return out

    def reset(self, seeds: list, options: dict | None) -> tuple[Any, list[Record]]:
        obs, records = self.envs.reset(seeds, options)
        return self._batch(obs), records

    def step(self, actions: Any) -> tuple:
        """("ok", obs, rewards, terminated, truncated, finals, records), or ("crash", env, reason, details)."""
        try:
            obs, rew, term, trunc, finals, records = self.envs.step(iter_actions(self.batch_act_space, actions))
        except Exception as exc:  # noqa: BLE001 - reported, then this actor is replaced
            env = self.envs.cursor[0]
            return "crash", env if env >= 0 else None, f"{type(exc).__name__}: {exc}", traceback.format_exc()
        return "ok", self._batch(obs), rew, term, trunc, finals, records

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        return self.envs.call(name, args, kwargs)

    def set_attr(self, name: str, values: list[Any]) -> None:
        self.envs.set_attr(name, values)

    def close(self) -> None:
        self.envs.close()


class RayVectorEnv(EngineVectorEnv):
    """`len(env_fns)` envs over `workers` Ray actors (gymnasium VectorEnv, SAME_STEP autoreset)."""

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        workers: int | None = None,
        step_timeout: float | None = 60.0,
        max_restarts: int = 3,
        env_name: str = "",
        probe: gym.Env | None = None,
        address: str | None = None,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray  # the Ray package: an absolute import, never this module (rldojo.envs.vector.ray)
        except ImportError as exc:
            raise EnvInputError("env.vectorize=ray needs Ray: pip install 'rldojo[ray]'") from exc
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        num_envs = len(env_fns)
        workers = max(1, min(workers or int(ray.available_resources().get("CPU", 1)), num_envs))
        own_probe = probe is None
        probe = env_fns[0]() if own_probe else probe
        try:
            arrays = local_arrays(buffer_specs(probe.observation_space, probe.action_space, num_envs, workers))
            super().__init__(probe, num_envs, arrays, env_name)
        finally:
            if own_probe:
                probe.close()
        self.step_timeout = step_timeout
        self.num_workers = workers
        self._slices = split_envs(num_envs, workers)
        self._payloads = [
            cloudpickle.dumps((list(env_fns[r.start : r.stop]), self.single_observation_space, self.action_space))
            for r in self._slices
        ]
        self._actor_cls = ray.remote(**{"num_cpus": 1, "max_restarts": 0, **(actor_options or {})})(SliceActor)
        self._book = CrashBook(self.env_name, max_restarts)
        self._restarts = [0] * workers
        self._actors: list[Any] = [None] * workers
        try:
            for w in range(workers):
                self._actors[w] = self._actor_cls.remote(self._payloads[w], self._slices[w].start)
            ray.get([actor.ready.remote() for actor in self._actors], timeout=START_TIMEOUT)
        except BaseException:
            self.close()
            raise
        logger.debug("{}: {} envs over {} Ray actors", self, num_envs, workers)

    # ---- helpers ---------------------------------------------------------------------------------
    def _store_obs(self, buf: int, r: range, batch: Any) -> None:
        if self._obs_layout is None:
            self._obs_items[buf][r.start : r.stop] = batch
        else:
            rows = self._obs_layout.views(self._arrays, "obs", (buf, slice(r.start, r.stop)))
            for dst, src in zip(self._obs_layout.leaf_arrays(rows), self._obs_layout.leaf_arrays(batch), strict=True):
                dst[...] = src

    def _gather(self, refs: list[Any]) -> list[Any]:
        """Results of one call per actor: a value, or a Crash for an actor that died or hung."""
        ray = self._ray
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.step_timeout)
        ready_set = set(ready)
        out: list[Any] = []
        for w, ref in enumerate(refs):
            if ref not in ready_set:
                ray.kill(self._actors[w], no_restart=True)
                out.append(Crash(w, None, f"no answer within step_timeout={self.step_timeout}s (hung); killed"))
                continue
            try:
                out.append(ray.get(ref))
            except ray.exceptions.RayActorError as exc:
                out.append(Crash(w, None, f"Ray actor died: {str(exc).splitlines()[0]}"))
            except ray.exceptions.RayTaskError as exc:
                out.append(Crash(w, None, f"{type(exc.cause).__name__}: {exc.cause}", str(exc)))
        return out

    def _restart(self, w: int, crash: Crash, seeds: list, options: dict | None) -> tuple[Any, list[Record]]:
        """Replace actor w (counting the crash); returns its envs' reset observations and records."""
        ray = self._ray
        while True:
            error = self._book.record(crash, self._slices[w])
            if error is not None:
                self.close()
                raise error
            ray.kill(self._actors[w], no_restart=True)
            self._restarts[w] += 1
            self._actors[w] = self._actor_cls.remote(self._payloads[w], self._slices[w].start)
            result = self._gather_one(w, self._actors[w].reset.remote(seeds, options))
            if not isinstance(result, Crash):
                return result
            crash = result

    def _gather_one(self, w: int, ref: Any) -> Any:
        """The result of one call to a freshly started actor, or a Crash."""
        ray = self._ray
        ready, _ = ray.wait([ref], timeout=max(START_TIMEOUT, self.step_timeout or 0))
        if not ready:
            return Crash(w, None, "a restarted Ray actor did not start in time")
        try:
            return ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
            return Crash(w, None, str(exc).splitlines()[0], str(exc))

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"{self!r} is closed")

    # ---- the VectorEnv API -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._check_open()
        if options is not None and "reset_mask" in options:
            raise EnvInputError("ray mode resets every env: options['reset_mask'] is not supported")
        seeds = self._seed_list(seed)
        buf = self._buf ^ 1
        refs = [actor.reset.remote(seeds[r.start : r.stop], options) for actor, r in zip(self._actors, self._slices)]
        infos: dict[str, Any] = {}
        for w, result in enumerate(self._gather(refs)):
            r = self._slices[w]
            if isinstance(result, Crash):
                result = self._restart(w, result, seeds[r.start : r.stop], options)
            batch, records = result
            self._store_obs(buf, r, batch)
            infos = self._merge_reset(infos, r.start, records)
        self._seeds = list(seeds)
        self._term[buf] = self._trunc[buf] = False
        self._buf = buf
        return self._batch_obs(buf), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self._check_open()
        if self._act_layout is not None:
            self._write_actions(actions)
            parts = [self._act_layout.views(self._arrays, "act", slice(r.start, r.stop)) for r in self._slices]
        else:
            self._check_count(actions)
            actions = list(actions)
            parts = [actions[r.start : r.stop] for r in self._slices]
        buf = self._buf ^ 1
        refs = [actor.step.remote(part) for actor, part in zip(self._actors, parts, strict=True)]
        infos: dict[str, Any] = {}
        for w, result in enumerate(self._gather(refs)):
            r = self._slices[w]
            if isinstance(result, tuple) and result[0] == "crash":
                result = Crash(w, *result[1:])
            if isinstance(result, Crash):
                last_obs = {j: self._obs_row(self._buf, g) for j, g in enumerate(r)}
                batch, reset_records = self._restart(w, result, self._restart_seeds(r, self._restarts[w] + 1), None)
                self._store_obs(buf, r, batch)
                records, finals = self._restart_truncation(buf, r, last_obs, reset_records)
                done = list(finals)
            else:
                _, batch, rew, term, trunc, final_list, records = result
                self._store_obs(buf, r, batch)
                self._rew[buf, r.start : r.stop] = rew
                self._term[buf, r.start : r.stop] = term
                self._trunc[buf, r.start : r.stop] = trunc
                finals = dict(final_list)
                done = list(finals)
            if done or records:
                infos = self._merge_step(infos, r.start, done, records, finals)
        return self._step_result(buf, infos)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        self._check_open()
        results = self._ray.get(
            [actor.call.remote(name, args, kwargs) for actor in self._actors], timeout=self.step_timeout
        )
        return tuple(value for part in results for value in part)

    def set_attr(self, name: str, values: Any) -> None:
        self._check_open()
        values = self._set_attr_values(values)
        self._ray.get(
            [
                actor.set_attr.remote(name, values[r.start : r.stop])
                for actor, r in zip(self._actors, self._slices, strict=True)
            ],
            timeout=self.step_timeout,
        )

    @property
    def actors(self) -> list[Any]:
        """The live Ray actor handles (for monitoring and tests)."""
        return list(self._actors)

    def close_extras(self, **kwargs: Any) -> None:
        ray = self._ray
        actors = [a for a in getattr(self, "_actors", []) if a is not None]
        try:
            ray.get([a.close.remote() for a in actors], timeout=5.0)
        except Exception:  # noqa: BLE001, S110 - closing: a dead or hung actor is killed below anyway
            pass
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if self._owns_ray:
            ray.shutdown()
