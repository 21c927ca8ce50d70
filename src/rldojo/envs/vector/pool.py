"""`PoolVectorEnv` (vectorize=pool): EnvPool-style asynchronous stepping over the worker engine.

`step(actions)` hands the actions to the envs of the batch it returned last and returns the first
`batch_size` envs that are ready — whichever workers finished first — with their ids in
`infos["env_id"]`. While the caller computes on one batch, the workers of the others keep
stepping, so slow or uneven envs do not hold the whole batch back.

Envs are split into equal worker slices, and a batch is made of whole slices: `batch_size` must
be a multiple of `num_envs / workers`. `reset()` resets every env and returns the first batch;
the other envs' first observations come from the next steps (reward 0, not done), as in EnvPool.
Returned arrays are copies. Each env's own trajectory is exactly what a single env with seed
`seed + env_id` gives for the same actions; only the order in which envs come back depends on
timing.
"""

from __future__ import annotations

import math
import pickle
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from rldojo.envs.errors import EnvInputError
from rldojo.envs.vector.worker_process import HUNG, RESET, STEP
from rldojo.envs.vector.workers import WorkerVectorEnv

#: Most worker processes pool mode will start when it picks the count itself.
MAX_POOL_WORKERS = 64


class _BatchInfos:
    """gymnasium's `_add_info` for batches of `num_envs` rows (pool batches are not num_envs long)."""

    _add_info = VectorEnv._add_info

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs


def pool_layout(num_envs: int, batch_size: int | None, workers: int | None) -> tuple[int, int]:
    """(batch_size, workers) for pool mode, checked: whole worker slices make one batch."""
    batch_size = max(1, num_envs // 2) if batch_size is None else batch_size
    if not 1 <= batch_size < num_envs:
        raise EnvInputError(
            f"pool mode needs 1 <= env.batch_size < env.num_envs; got batch_size={batch_size} for "
            f"num_envs={num_envs} (use vectorize=workers to step every env each time)"
        )
    if workers is None:
        per_worker = math.gcd(num_envs, batch_size)
        workers = num_envs // per_worker
        if workers > MAX_POOL_WORKERS:
            raise EnvInputError(
                f"pool mode with num_envs={num_envs} and batch_size={batch_size} would need {workers} worker "
                f"processes (a batch is made of whole worker slices); pick a batch_size that shares a larger "
                f"divisor with num_envs (e.g. {num_envs // 2}) or set env.workers"
            )
    per_worker, rest = divmod(num_envs, workers)
    if rest or batch_size % per_worker:
        raise EnvInputError(
            f"pool mode splits num_envs={num_envs} over workers={workers} into equal slices "
            f"and returns whole slices: num_envs must be a multiple of workers and batch_size "
            f"({batch_size}) a multiple of num_envs / workers"
        )
    return batch_size, workers


class PoolVectorEnv(WorkerVectorEnv):
    """`len(env_fns)` envs over worker processes; each step returns the first `batch_size` ready envs."""

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        batch_size: int | None = None,
        workers: int | None = None,
        step_timeout: float | None = 60.0,
        max_restarts: int = 3,
        env_name: str = "",
        probe: gym.Env | None = None,
        context: str = "forkserver",
    ) -> None:
        batch_size, workers = pool_layout(len(env_fns), batch_size, workers)
        super().__init__(env_fns, workers, step_timeout, max_restarts, env_name, probe, context)
        self.batch_size = batch_size
        self.observation_space = batch_space(self.single_observation_space, batch_size)
        self.action_space = batch_space(self.single_action_space, batch_size)
        self._infos_adder = _BatchInfos(batch_size)
        self._per_worker = len(env_fns) // workers
        # (worker, "reset"/"step", buffer, digest) for answers read but not yet returned, oldest first
        self._queue: deque[tuple[int, str, int, Any]] = deque()
        self._sent_buf = [0] * workers
        self._deadline = [math.inf] * workers
        # when each worker was last sent work: answers that arrive together queue oldest first, so a
        # worker the OS scheduled late is not overtaken again and again by a faster one
        self._sent_order = [0] * workers
        self._sends = 0
        self._last_batch: list[int] = []

    # ---- answers ------------------------------------------------------------------------------
    def _enqueue(self, w: int, answer: Any) -> None:
        buf = self._sent_buf[w]
        self._inflight.discard(w)
        self._queue.append((w, "step", buf, self._digest(w, buf, answer)))

    def _drain(self) -> None:
        """Answers owed by in-flight workers go to the ready queue (nothing is dropped)."""
        if self._inflight:
            answers = self._wait(sorted(self._inflight))
            for w in sorted(answers, key=self._sent_order.__getitem__):
                self._enqueue(w, answers[w])

    def _collect(self) -> None:
        """Wait until the ready queue holds a batch, or replace the workers that ran past step_timeout."""
        while len(self._queue) * self._per_worker < self.batch_size:
            inflight = sorted(self._inflight)
            if not inflight:
                raise RuntimeError(f"{self!r}: no env is stepping and too few are ready; call reset() first")
            soonest = min(self._deadline[w] for w in inflight)
            wait = None if math.isinf(soonest) else max(0.0, soonest - time.monotonic())
            answers = self._poller.wait(set(inflight), wait, first=True)
            for w in sorted(answers, key=self._sent_order.__getitem__):
                self._enqueue(w, answers[w])
            if not answers:
                now = time.monotonic()
                for w in inflight:
                    if now >= self._deadline[w]:
                        self._poller.remove(self._handles[w])
                        self._enqueue(w, HUNG)

    def _pop_batch(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        batch = [self._queue.popleft() for _ in range(self.batch_size // self._per_worker)]
        infos: dict[str, Any] = {}
        add = self._infos_adder._add_info.__get__(self._infos_adder)
        parts = []
        for p, (w, kind, buf, digest) in enumerate(batch):
            r = self._slices[w]
            positions = range(p * self._per_worker, (p + 1) * self._per_worker)
            if kind == "reset":
                infos = self._merge_reset(infos, r.start, digest, positions, add)
            else:
                done, records, finals = digest
                if done or records:
                    infos = self._merge_step(infos, r.start, done, records, finals, positions, add)
            parts.append((buf, slice(r.start, r.stop)))
        self._last_batch = [w for w, *_ in batch]
        infos["env_id"] = np.concatenate(
            [np.arange(self._slices[w].start, self._slices[w].stop) for w in self._last_batch]
        ).astype(np.int32)
        if self._obs_layout is not None:
            obs = self._obs_layout.gather(self._arrays, "obs", parts)
        else:
            items = [self._obs_items[buf][g] for buf, rows in parts for g in range(rows.start, rows.stop)]
            obs = concatenate(
                self.single_observation_space, items, create_empty_array(self.single_observation_space, self.batch_size)
            )
        rew, term, trunc = (np.concatenate([a[part] for part in parts]) for a in (self._rew, self._term, self._trunc))
        return obs, rew, term, trunc, infos

    # ---- the VectorEnv API ---------------------------------------------------------------------
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset every env (env i with seed + i); returns the first batch of observations and infos."""
        self._check_open()
        if options is not None and "reset_mask" in options:
            raise EnvInputError("pool mode resets every env: options['reset_mask'] is not supported")
        self._drain()
        self._queue.clear()
        seeds = self._seed_list(seed)
        for w, r in enumerate(self._slices):
            buf = self._wbuf[w] ^ 1
            self._sent_buf[w] = buf
            if w not in self._pending:
                self._send(w, RESET + bytes([buf]) + pickle.dumps((seeds[r.start : r.stop], options, None)))
        answers = self._wait(range(self.num_workers))
        error: BaseException | None = None
        for w, r in enumerate(self._slices):
            buf, answer = self._sent_buf[w], answers[w]
            records = self._reset_records(w, buf, answer, seeds[r.start : r.stop], options, None)
            if records is None:
                error = error or pickle.loads(answer[1:])
                continue
            self._rew[buf, r.start : r.stop] = 0.0
            self._term[buf, r.start : r.stop] = False
            self._trunc[buf, r.start : r.stop] = False
            self._wbuf[w] = buf
            self._queue.append((w, "reset", buf, records))
        if error is not None:
            raise error
        self._seeds = list(seeds)
        obs, _, _, _, infos = self._pop_batch()
        return obs, infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Act in the envs of the last batch (actions in its env_id order); return the next ready batch."""
        self._check_open()
        if not self._last_batch:
            raise RuntimeError(f"{self!r}: call reset() before step()")
        rows = [self._slices[w] for w in self._last_batch]
        if self._act_layout is not None:
            for (_, shape, _), target, value in zip(
                self._act_layout.leaves, self._act_leaves, self._act_layout.leaf_arrays(actions), strict=True
            ):
                if np.shape(value) != (self.batch_size, *shape):
                    raise EnvInputError(
                        f"step got actions of shape {np.shape(value)}; pool mode needs one action "
                        f"per env of the last batch: shape {(self.batch_size, *shape)}"
                    )
                for p, r in enumerate(rows):
                    target[r.start : r.stop] = value[p * self._per_worker : (p + 1) * self._per_worker]
            payloads = [b""] * len(rows)
        else:
            if len(actions) != self.batch_size:
                raise EnvInputError(
                    f"step got {len(actions)} actions; pool mode needs {self.batch_size}, one per env of the last batch"
                )
            actions = list(actions)
            payloads = [
                pickle.dumps(actions[p * self._per_worker : (p + 1) * self._per_worker], protocol=5)
                for p in range(len(rows))
            ]
        now = time.monotonic()
        for w, payload in zip(self._last_batch, payloads, strict=True):
            buf = self._wbuf[w] ^ 1
            self._sent_buf[w] = buf
            self._sends += 1
            self._sent_order[w] = self._sends
            if w in self._pending:
                self._enqueue(w, self._pending.pop(w))
            elif self._send(w, STEP + bytes([buf]) + payload):
                self._deadline[w] = now + self.step_timeout if self.step_timeout is not None else math.inf
            else:
                self._enqueue(w, self._pending.pop(w))
        self._last_batch = []
        self._collect()
        return self._pop_batch()
