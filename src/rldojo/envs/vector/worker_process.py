"""Worker processes of the shared-memory engine (modes workers and pool), and the handle the parent
keeps for each.

A worker owns a contiguous slice of the envs and loops: read a command from its pipe, act, answer.
For a step the actions are already in shared memory and the command is two bytes; the worker
steps its envs, writes observations, rewards, terminated and truncated into shared memory, and
answers with an empty message — or with pickled info records when one of its envs has any. That
is one synchronisation per worker per batch.

Messages to a worker: one command byte, one buffer byte, then an optional pickled payload.
Answers: b"" (done, no episode ended, no infos), a pickle `(records, observations, finals)`
(finals: the envs whose episode ended — their final observations are in shared memory, or in the
message for object observations such as Text, which travel in `observations` too), b"!" +
pickle(crash report) just before the worker exits, or b"E" + pickle(exception) for a failed
call/reset the worker survives.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import pickle
import select
import signal
import sys
import time
import traceback
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import cloudpickle

from rldojo.envs.vector.env_slice import EnvSlice, iter_actions
from rldojo.envs.vector.shared_memory import ArraySpec, BatchLayout, SharedArrays, fill_rows

STEP, RESET, CALL, SET_ATTR, CLOSE = b"S", b"R", b"C", b"A", b"X"
CRASH, ERROR = b"!"[0], b"E"[0]
READY = b"ready"

#: What `wait_replies` gives for a worker that died, or did not answer in time.
DIED, HUNG = "died", "hung"


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (a worker stuck in a step never reads EOF)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


#: Seconds a worker keeps polling its pipe (yielding the CPU between polls) after an answer before
#: it blocks, when the workers fit the cores. Waking a blocked process costs 0.1-0.4 ms on a
#: virtual machine, and the parent wakes every worker at every step: measured here (64 envs of
#: 200 us over 2 workers) that was ~1 ms of each 8 ms step, during which no env ran.
SPIN_SECONDS = 0.002


def worker_main(
    conn: Any, index: int, start: int, shm_name: str, specs: list[ArraySpec], payload: bytes, spin_s: float = 0.0
) -> None:
    """Entry point of one worker process (envs start.. of the vector env); `spin_s`: see SPIN_SECONDS."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it closes us
    _die_with_parent()
    cursor = None
    try:
        env_fns, obs_space, act_space, batch_act_space = cloudpickle.loads(payload)
        shm = SharedArrays(specs, name=shm_name)
        arrays = shm.arrays
        cursor = memoryview(arrays["cursor"])
        envs = EnvSlice(env_fns, offset=start, cursor=cursor, slot=index)
    except BaseException as exc:  # noqa: BLE001 - report whatever stopped the worker from starting
        _report_crash(conn, cursor[index] if cursor is not None and cursor[index] >= 0 else None, exc)
        return
    rows = slice(start, start + len(envs))
    obs_layout = BatchLayout(obs_space, 1) if BatchLayout.supports(obs_space) else None
    if obs_layout is not None:
        obs_out = [obs_layout.views(arrays, "obs", (b, rows)) for b in (0, 1)]
        final_out = [obs_layout.views(arrays, "final", slice(g, g + 1)) for g in range(rows.start, rows.stop)]
    else:
        obs_out = final_out = None
    act_rows = BatchLayout(act_space, 1).views(arrays, "act", rows) if BatchLayout.supports(act_space) else None
    reward, terminated, truncated = (arrays[k][:, rows] for k in ("reward", "terminated", "truncated"))
    conn.send_bytes(READY)
    try:
        while True:
            try:
                if spin_s:
                    spin_until = time.perf_counter() + spin_s
                    while time.perf_counter() < spin_until and not conn.poll(0):
                        os.sched_yield()  # a runnable parent or worker on this core goes first
                message = conn.recv_bytes()
            except (EOFError, OSError):
                return  # the parent is gone
            command, buf = message[:1], message[1]
            if command == STEP:
                try:
                    actions = act_rows if act_rows is not None else pickle.loads(message[2:])
                    obs, rew, term, trunc, finals, records = envs.step(iter_actions(batch_act_space, actions))
                    if obs_out is not None:
                        fill_rows(obs_out[buf], obs)
                        for j, final_obs in finals:
                            fill_rows(final_out[j], [final_obs])
                        items, finals = None, [j for j, _ in finals]
                    else:
                        items = obs
                    reward[buf] = rew
                    terminated[buf] = term
                    truncated[buf] = trunc
                    # Nothing to say but "done" unless an episode ended, an env has infos, or
                    # observations are objects (then finals carry the final observations too).
                    conn.send_bytes(
                        pickle.dumps((records, items, finals), protocol=5)
                        if finals or records or items is not None
                        else b""
                    )
                except BaseException as exc:  # noqa: BLE001 - any failure in a step is a crash to recover from
                    _report_crash(conn, cursor[index] if cursor[index] >= 0 else None, exc)
                    return
            elif command == RESET:
                seeds, options, mask = pickle.loads(message[2:])
                try:
                    obs, records = envs.reset(seeds, options, mask)
                    items = None
                    if obs_out is None:
                        items = obs
                    elif mask is None:
                        fill_rows(obs_out[buf], obs)
                    else:
                        for j in (j for j, o in enumerate(obs) if o is not None):
                            one = slice(start + j, start + j + 1)
                            fill_rows(obs_layout.views(arrays, "obs", (buf, one)), [obs[j]])
                    conn.send_bytes(pickle.dumps((records, items, None), protocol=5))
                except Exception as exc:  # noqa: BLE001 - the caller re-raises it
                    _report_error(conn, exc)
            elif command == CALL:
                name, args, kwargs = pickle.loads(message[2:])
                try:
                    conn.send_bytes(pickle.dumps(envs.call(name, args, kwargs), protocol=5))
                except Exception as exc:  # noqa: BLE001
                    _report_error(conn, exc)
            elif command == SET_ATTR:
                name, values = pickle.loads(message[2:])
                try:
                    envs.set_attr(name, values)
                    conn.send_bytes(b"")
                except Exception as exc:  # noqa: BLE001
                    _report_error(conn, exc)
            elif command == CLOSE:
                return
    finally:
        try:
            envs.close()
        except Exception:  # noqa: BLE001, S110 - closing on the way out; the process ends anyway
            pass
        del obs_out, final_out, act_rows, reward, terminated, truncated, arrays, cursor
        envs.cursor = None
        shm.close()


def _report_crash(conn: Any, env: int | None, exc: BaseException) -> None:
    """Tell the parent why this worker is about to exit (best effort: the pipe may be gone)."""
    report = (env, f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        conn.send_bytes(bytes([CRASH]) + pickle.dumps(report))
    except Exception:  # noqa: BLE001, S110 - nothing more to do on the way out
        pass
    sys.exit(1)


def _report_error(conn: Any, exc: Exception) -> None:
    try:
        payload = pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - an exception that does not pickle goes back as its text
        payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    conn.send_bytes(bytes([ERROR]) + payload)


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a worker without re-running the caller's script in it.

    Non-fork start methods import the caller's `__main__` in every child, so that objects pickled
    by reference from it resolve. Workers need nothing from it — env factories travel as
    cloudpickle bytes, which carry `__main__`'s functions and classes by value — and re-running a
    script's top-level imports (torch, ...) would cost each worker seconds and hundreds of MB, and
    an unguarded script would even start its training again in there."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def get_context(name: str) -> mp.context.BaseContext:
    """The multiprocessing context for workers. forkserver (the default) forks each worker from a
    clean server that has imported rldojo.envs once: fast to start, and safe with the threads that
    torch, TensorBoard or Ray keep in the parent (plain fork is not)."""
    ctx = mp.get_context(name)
    if name == "forkserver":
        ctx.set_forkserver_preload(["rldojo.envs.vector.worker_process"])
    return ctx


class WorkerHandle:
    """The parent's side of one worker process: its pipe, process and slice of envs."""

    def __init__(
        self,
        ctx: mp.context.BaseContext,
        index: int,
        envs: range,
        shm_name: str,
        specs: list[ArraySpec],
        payload: bytes,
        spin_s: float = 0.0,
    ) -> None:
        self.index = index
        self.envs = envs
        parent, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=worker_main,
            args=(child, index, envs.start, shm_name, specs, payload, spin_s),
            name=f"rldojo-env-worker-{index}",
            daemon=True,
        )
        with _main_module_hidden():
            self.process.start()
        child.close()
        self.conn = parent
        self.conn_fd = parent.fileno()
        self.sentinel = self.process.sentinel
        self.closed = False

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def send(self, message: bytes) -> bool:
        """Send a command; False when the worker is gone."""
        try:
            self.conn.send_bytes(message)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            return False

    def read(self, ready: bool = False) -> bytes | str:
        """The worker's answer (`ready`: the pipe is known to be readable), else DIED."""
        try:
            if ready or select.select([self.conn], [], [], 0)[0]:
                return self.conn.recv_bytes()
        except (EOFError, OSError):
            pass
        return DIED

    def exit_reason(self) -> str:
        """How the process ended, once it has (waits briefly for the exit status)."""
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        if code is None:
            return "stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"killed by {name}" + (" (segmentation fault)" if -code == signal.SIGSEGV else "")
        return f"exited with code {code}"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5.0)
        self.close_pipe()

    def close_pipe(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn.close()


class ReplyPoller:
    """One poll set over the pipes and process sentinels of the live workers.

    Kept across steps (registering costs more than the step of a cheap env); a worker that died or
    hung leaves the set at once, so its readable sentinel never makes a later wait spin."""

    def __init__(self, handles: Sequence[WorkerHandle] = ()) -> None:
        self._poll = select.poll()
        self._fds: dict[int, tuple[WorkerHandle, bool]] = {}
        for handle in handles:
            self.add(handle)

    def add(self, handle: WorkerHandle) -> None:
        for fd, is_pipe in ((handle.conn_fd, True), (handle.sentinel, False)):
            self._fds[fd] = (handle, is_pipe)
            self._poll.register(fd, select.POLLIN)

    def remove(self, handle: WorkerHandle, pipe_only: bool = False) -> None:
        for fd in (handle.conn_fd,) if pipe_only else (handle.conn_fd, handle.sentinel):
            if self._fds.get(fd, (None,))[0] is handle:
                del self._fds[fd]
                self._poll.unregister(fd)

    def wait(self, pending: set[int], timeout: float | None, first: bool = False) -> dict[int, bytes | str]:
        """Answers of the workers in `pending` (indexes): all of them, or (`first`) at least one.

        Gives DIED for a worker that exited and HUNG for one still silent after `timeout` seconds
        (with `first`, silence until the timeout just returns no answers)."""
        pending = set(pending)
        results: dict[int, bytes | str] = {}
        deadline = None if timeout is None else time.monotonic() + timeout
        while pending and not (first and results):
            wait_ms = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000) + 1)
            events = self._poll.poll(wait_ms)
            if not events and deadline is not None and time.monotonic() >= deadline:
                break
            for fd, _ in events:
                handle, is_pipe = self._fds.get(fd, (None, False))
                if handle is None or handle.index not in pending:
                    continue
                answer = handle.read(ready=is_pipe)
                if answer is DIED and is_pipe and handle.process.is_alive():
                    self.remove(handle, pipe_only=True)  # EOF first; its sentinel follows
                    continue
                results[handle.index] = answer
                pending.discard(handle.index)
                if answer is DIED or answer[:1] == bytes([CRASH]):
                    self.remove(handle)
        if not first:  # (first: the caller judges which of the silent workers are past their deadline)
            for index in pending:
                results[index] = HUNG
                self.remove_index(index)
        return results

    def remove_index(self, index: int) -> None:
        for handle, _ in list(self._fds.values()):
            if handle.index == index:
                self.remove(handle)
                return


def wait_replies(handles: Sequence[WorkerHandle], timeout: float | None) -> dict[int, bytes | str]:
    """Wait until every worker in `handles` answers, dies or runs past `timeout` seconds."""
    if not handles:
        return {}
    return ReplyPoller(handles).wait({handle.index for handle in handles}, timeout)
