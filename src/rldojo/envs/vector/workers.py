"""`WorkerVectorEnv` (vectorize=workers): envs split over worker processes, results in shared memory.

Each step writes the actions into shared memory, wakes every worker with a two-byte message and
waits for one answer per worker; the caller gets zero-copy views of the shared observation,
reward, terminated and truncated arrays. Infos cross the pipes only when a worker's envs have any.

Crash recovery: a worker that dies (exception, segfault, os._exit) or does not answer within
`step_timeout` seconds is killed and replaced; its envs are reset and the episodes they were in end
as truncated, with `infos["worker_restarted"]` (and the same key in `final_info`), their last
observation in `final_obs`, and a warning in the log. An env that fails more than `max_restarts`
times stops the run with `EnvCrashError`, naming the env and its last failure.
"""

from __future__ import annotations

import pickle
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space
from loguru import logger

from rldojo.envs.vector.base import EngineVectorEnv, buffer_specs
from rldojo.envs.vector.cpus import usable_cpus
from rldojo.envs.vector.crashes import Crash, CrashBook, EnvCrashError
from rldojo.envs.vector.env_slice import Record
from rldojo.envs.vector.shared_memory import SharedArrays
from rldojo.envs.vector.worker_process import (
    CALL,
    CLOSE,
    CRASH,
    DIED,
    ERROR,
    HUNG,
    READY,
    RESET,
    SET_ATTR,
    SPIN_SECONDS,
    STEP,
    ReplyPoller,
    WorkerHandle,
    get_context,
    wait_replies,
)

#: Seconds a new worker may take to build its envs (a JVM-backed world needs several).
START_TIMEOUT = 300.0
#: Seconds `close` waits for workers to finish a step and exit before killing them.
CLOSE_GRACE = 5.0
_PICKLE = 0x80  # the first byte of every pickle we send (protocol >= 2)


def split_envs(num_envs: int, workers: int) -> list[range]:
    """Contiguous, as-even-as-possible slices of range(num_envs), one per worker."""
    bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _release(handles: list[WorkerHandle | None], shm: SharedArrays) -> None:
    """Stop every worker (politely, then SIGKILL) and remove the shared-memory segment."""
    try:
        for handle in handles:
            if handle is not None and not handle.closed:
                handle.send(CLOSE + b"\0")
        deadline = time.monotonic() + CLOSE_GRACE
        for handle in handles:
            if handle is None:
                continue
            handle.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if handle.process.is_alive():
                handle.process.kill()
                handle.process.join(timeout=5.0)
            handle.close_pipe()
    finally:
        shm.unlink()
        shm.close()  # unmapped now, or when the caller drops its last view


class WorkerVectorEnv(EngineVectorEnv):
    """`len(env_fns)` envs over `workers` processes (gymnasium VectorEnv, SAME_STEP autoreset).

    `env_fns` must pickle (with cloudpickle). `probe`, an env already built in the caller, gives
    the spaces (else one is built and closed). `context`: multiprocessing start method.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        workers: int,
        step_timeout: float | None = 60.0,
        max_restarts: int = 3,
        env_name: str = "",
        probe: gym.Env | None = None,
        context: str = "forkserver",
    ) -> None:
        num_envs = len(env_fns)
        workers = max(1, min(workers, num_envs))
        self._slices = split_envs(num_envs, workers)
        own_probe = probe is None
        probe = env_fns[0]() if own_probe else probe
        try:
            obs_space, act_space = probe.observation_space, probe.action_space
            self._payloads = [
                cloudpickle.dumps(
                    (list(env_fns[r.start : r.stop]), obs_space, act_space, batch_space(act_space, num_envs))
                )
                for r in self._slices
            ]
            self._shm = SharedArrays(buffer_specs(obs_space, act_space, num_envs, workers))
            self._handles: list[WorkerHandle | None] = [None] * workers
            # From here on the segment and any started worker are released on close, on garbage
            # collection and at interpreter exit, whichever comes first.
            self._finalizer = weakref.finalize(self, _release, self._handles, self._shm)
            super().__init__(probe, num_envs, self._shm.arrays, env_name)
        finally:
            if own_probe:
                probe.close()
        self.step_timeout = step_timeout
        self.max_restarts = max_restarts
        self.num_workers = workers
        # Spinning workers would take CPU from each other where there are more of them than cores.
        self._spin_s = SPIN_SECONDS if workers <= usable_cpus() else 0.0
        self._ctx = get_context(context)
        self._book = CrashBook(self.env_name, max_restarts)
        self._restarts = [0] * workers
        self._wbuf = [0] * workers  # buffer each worker wrote last
        self._inflight: set[int] = set()  # workers with a request whose answer is not read yet
        self._pending: dict[int, Crash] = {}  # workers found dead outside a step, replaced at the next
        try:
            for w in range(workers):
                self._handles[w] = self._new_handle(w)
            answers = wait_replies(self._handles, START_TIMEOUT)
            for w in range(workers):
                if answers[w] != READY:
                    crash = self._crash(w, answers[w])
                    raise EnvCrashError(
                        f"could not start worker {w} of {self.env_name} (envs "
                        f"{self._slices[w].start}-{self._slices[w].stop - 1}): {crash.reason}\n"
                        f"{crash.details}".rstrip()
                    )
            self._poller = ReplyPoller(self._handles)
        except BaseException:
            self.close()
            raise
        logger.debug("{}: {} envs over {} workers ({} start)", self, num_envs, workers, context)

    # ---- process bookkeeping ----------------------------------------------------------------
    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        return [h.pid for h in self._handles if h is not None and h.pid is not None and not h.closed]

    @property
    def shm_name(self) -> str:
        """Name of the shared-memory segment (/dev/shm/<name> on Linux)."""
        return self._shm.name

    def _new_handle(self, w: int) -> WorkerHandle:
        self._cursor[w] = -1
        return WorkerHandle(
            self._ctx, w, self._slices[w], self._shm.name, self._shm.specs, self._payloads[w], self._spin_s
        )

    def _send(self, w: int, message: bytes) -> bool:
        """Send a request to worker w, first reading any answer it still owes (an interrupted call)."""
        if w in self._inflight:
            stale = wait_replies([self._handles[w]], self.step_timeout)[w]
            self._inflight.discard(w)
            if not isinstance(stale, bytes) or stale[:1] == bytes([CRASH]):
                self._pending[w] = self._crash(w, stale)
                return False
        if self._handles[w].send(message):
            self._inflight.add(w)
            return True
        self._pending[w] = self._crash(w, DIED)
        return False

    def _wait(self, workers: Sequence[int]) -> dict[int, bytes | str | Crash]:
        """Answers of `workers` (sent to before), with crashes already found as Crash objects."""
        answers: dict[int, bytes | str | Crash] = {}
        live = []
        for w in workers:
            if w in self._pending:
                answers[w] = self._pending.pop(w)
            else:
                live.append(w)
        if live:
            answers.update(self._poller.wait(live, self.step_timeout))
        self._inflight.difference_update(workers)
        return answers

    def _crash(self, w: int, answer: bytes | str | Crash) -> Crash:
        """Describe a failed answer: a crash report, a death or a hang."""
        if isinstance(answer, Crash):
            return answer
        handle = self._handles[w]
        env = int(self._cursor[w]) if self._cursor[w] >= 0 else None
        stepping = f" while stepping env {env}" if env is not None else ""
        if isinstance(answer, bytes) and answer[:1] == bytes([CRASH]):
            env, reason, details = pickle.loads(answer[1:])
            return Crash(w, env, reason, details)
        if answer == HUNG:
            handle.kill()
            return Crash(w, env, f"no answer within step_timeout={self.step_timeout}s{stepping} (hung); killed")
        if isinstance(answer, bytes) and answer[:1] == bytes([ERROR]):
            exc = pickle.loads(answer[1:])
            return Crash(w, env, f"{type(exc).__name__}: {exc}")
        return Crash(w, env, f"worker process {handle.exit_reason()}{stepping}")

    # ---- answers -> buffers and infos -------------------------------------------------------
    def _digest(self, w: int, buf: int, answer: bytes | str | Crash) -> tuple[list[int], list[Record], dict | None]:
        """Worker w's step answer as (envs that ended, info records, final observations or None
        when they are in shared memory); a failed answer restarts the worker (its envs truncated)."""
        if answer == b"":
            done, records, finals = [], [], None
        elif isinstance(answer, bytes) and answer[0] == _PICKLE:
            records, items, finals = pickle.loads(answer)
            if items is None:
                done, finals = finals, None
            else:
                self._write_obs(buf, self._slices[w].start, items)
                finals = dict(finals)
                done = list(finals)
        else:
            records, finals = self._recover(w, buf, self._crash(w, answer))
            done = list(finals)
        self._wbuf[w] = buf
        return done, records, finals

    def _recover(self, w: int, buf: int, crash: Crash) -> tuple[list[Record], dict[int, Any]]:
        """Replace worker w after a failed step: its envs restart and their episodes end truncated.

        Returns the records and final observations of the truncation, as a step would."""
        r = self._slices[w]
        last_obs = {j: self._obs_row(self._wbuf[w], g) for j, g in enumerate(r)}  # before the new worker writes
        reset_records = self._restart(w, buf, crash, self._restart_seeds(r, self._restarts[w] + 1), None, None)
        return self._restart_truncation(buf, r, last_obs, reset_records)

    def _restart(
        self, w: int, buf: int, crash: Crash, seeds: list, options: dict | None, mask: list | None
    ) -> list[Record]:
        """Replace worker w (counting the crash) and reset its envs into buffer `buf`."""
        while True:
            error = self._book.record(crash, self._slices[w])
            if error is not None:
                self.close()
                raise error
            self._poller.remove(self._handles[w])
            self._handles[w].kill()
            self._inflight.discard(w)
            self._restarts[w] += 1
            self._handles[w] = self._new_handle(w)
            answer = wait_replies([self._handles[w]], START_TIMEOUT)[w]
            if answer != READY:
                crash = self._crash(w, answer)
                continue
            self._poller.add(self._handles[w])
            self._handles[w].send(RESET + bytes([buf]) + pickle.dumps((seeds, options, mask)))
            answer = wait_replies([self._handles[w]], self.step_timeout)[w]
            if not (isinstance(answer, bytes) and answer[:1] and answer[0] == _PICKLE):
                crash = self._crash(w, answer)
                continue
            records, items, _ = pickle.loads(answer)
            self._store_reset_items(w, buf, items)
            self._wbuf[w] = buf
            return records

    def _reset_records(
        self, w: int, buf: int, answer: bytes | str | Crash, seeds: list, options: dict | None, mask: list | None
    ) -> list[Record] | None:
        """Worker w's answer to a reset into buffer `buf`: its envs' info records (a failed worker is
        replaced and its envs reset again), or None when an env raised: the answer is then b"E" +
        the pickled exception, for the caller to re-raise."""
        if isinstance(answer, bytes) and answer[:1] == bytes([ERROR]):
            return None
        if isinstance(answer, bytes) and answer[:1] and answer[0] == _PICKLE:
            records, items, _ = pickle.loads(answer)
            self._store_reset_items(w, buf, items)
            return records
        return self._restart(w, buf, self._crash(w, answer), seeds, options, mask)

    def _store_reset_items(self, w: int, buf: int, items: list | None) -> None:
        if items is not None:
            for j, item in enumerate(items):
                if item is not None:
                    self._obs_items[buf][self._slices[w].start + j] = item

    # ---- the VectorEnv API ---------------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError(f"{self!r} is closed")

    def _drain(self) -> None:
        """Read (and drop) answers still owed from an interrupted call."""
        if self._inflight:
            for w, answer in self._wait(sorted(self._inflight)).items():
                if not isinstance(answer, bytes) or answer[:1] == bytes([CRASH]):
                    self._pending[w] = self._crash(w, answer)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._check_open()
        self._drain()
        seeds = self._seed_list(seed)
        mask = self._pop_reset_mask(options)
        buf = self._buf ^ 1
        sent = []
        for w, r in enumerate(self._slices):
            sub_mask = None if mask is None else [bool(m) for m in mask[r.start : r.stop]]
            if sub_mask is not None and not any(sub_mask):
                continue
            sent.append(w)
            if w not in self._pending:
                self._send(w, RESET + bytes([buf]) + pickle.dumps((seeds[r.start : r.stop], options, sub_mask)))
        answers = self._wait(sent)
        infos: dict[str, Any] = {}
        error: BaseException | None = None
        for w in sent:
            r, answer = self._slices[w], answers[w]
            sub_mask = None if mask is None else [bool(m) for m in mask[r.start : r.stop]]
            records = self._reset_records(w, buf, answer, seeds[r.start : r.stop], options, sub_mask)
            if records is None:
                error = error or pickle.loads(answer[1:])
                continue
            infos = self._merge_reset(infos, r.start, records)
        if error is not None:
            raise error
        for i, s in enumerate(seeds):
            if mask is None or mask[i]:
                self._seeds[i] = s
        if mask is not None:
            self._copy_rows(self._buf, buf, ~mask)
        self._term[buf] = self._trunc[buf] = False
        self._buf = buf
        self._wbuf = [buf] * self.num_workers
        return self._batch_obs(buf), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self._check_open()
        if self._inflight:
            self._drain()
        buf = self._buf ^ 1
        head = STEP + bytes([buf])
        if self._act_layout is not None:
            self._write_actions(actions)
            messages = [head] * self.num_workers
        else:
            self._check_count(actions)
            actions = list(actions)
            messages = [head + pickle.dumps(actions[r.start : r.stop], protocol=5) for r in self._slices]
        for w in range(self.num_workers):
            if w not in self._pending:
                self._send(w, messages[w])
        answers = self._wait(range(self.num_workers))
        infos: dict[str, Any] = {}
        for w in range(self.num_workers):
            done, records, finals = self._digest(w, buf, answers[w])
            if done or records:
                infos = self._merge_step(infos, self._slices[w].start, done, records, finals)
        return self._step_result(buf, infos)

    def _request_all(self, messages: list[bytes], what: str) -> list[bytes]:
        """Send worker w `messages[w]`; their answers in worker order (an env's exception re-raised)."""
        self._check_open()
        self._drain()
        for w in range(self.num_workers):
            if w not in self._pending:
                self._send(w, messages[w])
        answers = self._wait(range(self.num_workers))
        error: BaseException | None = None
        out = []
        for w in range(self.num_workers):
            answer = answers[w]
            if isinstance(answer, bytes) and (answer == b"" or answer[0] == _PICKLE):
                out.append(answer)
            elif isinstance(answer, bytes) and answer[:1] == bytes([ERROR]):
                error = error or pickle.loads(answer[1:])
            else:
                crash = self._crash(w, answer)
                self._pending[w] = crash
                error = error or EnvCrashError(
                    f"worker {w} of {self.env_name} failed during {what}: {crash.reason}; "
                    "it is replaced at the next step"
                )
        if error is not None:
            raise error
        return out

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """`name(*args, **kwargs)` on every env, in the workers (or the attribute's value)."""
        message = CALL + b"\0" + cloudpickle.dumps((name, args, kwargs))
        answers = self._request_all([message] * self.num_workers, f"call('{name}')")
        return tuple(result for answer in answers for result in pickle.loads(answer))

    def set_attr(self, name: str, values: Any) -> None:
        """Set attribute `name` on every env (one value for all, or one per env)."""
        values = self._set_attr_values(values)
        self._request_all(
            [SET_ATTR + b"\0" + cloudpickle.dumps((name, values[r.start : r.stop])) for r in self._slices],
            f"set_attr('{name}')",
        )

    def close_extras(self, **kwargs: Any) -> None:
        # Drop our own views of the segment so it can be unmapped.
        self._arrays = self._rew = self._term = self._trunc = self._cursor = None
        self._obs_views = self._obs_leaves = self._act_view = self._act_leaves = None
        self._results = self._final_view = None
        if hasattr(self, "_finalizer"):
            self._shm.arrays = {}
            self._finalizer()
