"""Sessions of an env server: one env per session, a lock per env, idle sessions expire."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from loguru import logger


class SessionGone(KeyError):
    """The session id is unknown: never created, closed, or expired."""


class TooManySessions(RuntimeError):
    """The server already holds its maximum number of sessions."""


@dataclass
class Session:
    env: gym.Env
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    observation: str = ""
    """The last observation the env returned (served by /observation)."""
    info: dict[str, Any] = field(default_factory=dict)
    """The last info the env returned, without hidden keys (see `redact.py`); every endpoint
    answers from it, so what it lacks cannot leak."""
    reward: float = 0.0
    """The last step's reward (0 after a reset)."""
    terminated: bool = False
    truncated: bool = False

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class SessionStore:
    """Thread-safe map of session id -> env. Ids are never reused, so a stale id can't reach
    another client's env. `sweep()` closes sessions idle for longer than `ttl` seconds."""

    def __init__(
        self,
        make_env: Callable[..., gym.Env],
        ttl: float,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._make_env = make_env
        self.ttl = float(ttl)
        self.max_sessions = int(max_sessions)
        self._clock = clock
        self._sessions: dict[int, Session] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._sessions)

    def create(self, env_kwargs: dict[str, Any]) -> int:
        self.sweep()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                raise TooManySessions(
                    f"the server holds its maximum of {self.max_sessions} sessions; close some with /close "
                    f"(idle ones are closed after {self.ttl:g} s)"
                )
        env = self._make_env(**env_kwargs)  # outside the lock: building an env can take a while
        with self._lock:
            env_idx = next(self._ids)
            self._sessions[env_idx] = Session(env=env, last_used=self._clock())
        return env_idx

    def get(self, env_idx: int) -> Session:
        """The session, marked as used now; SessionGone if there is none."""
        with self._lock:
            session = self._sessions.get(env_idx)
            if session is None:
                raise SessionGone(
                    f"no session {env_idx} on this server: it was never created, was closed, or expired "
                    f"(sessions idle for more than {self.ttl:g} s are closed); create one with /create"
                )
            session.last_used = self._clock()
            return session

    def close(self, env_idx: int) -> bool:
        with self._lock:
            session = self._sessions.pop(env_idx, None)
        if session is None:
            return False
        _close_env(session)
        return True

    def sweep(self) -> int:
        """Close sessions idle for more than `ttl` seconds; return how many were closed."""
        now = self._clock()
        with self._lock:
            stale = [i for i, s in self._sessions.items() if now - s.last_used > self.ttl and not s.lock.locked()]
            expired = [self._sessions.pop(i) for i in stale]
        for session in expired:
            _close_env(session)
        if expired:
            logger.info(f"closed {len(expired)} idle session(s): {stale}")
        return len(expired)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            _close_env(session)


def _close_env(session: Session) -> None:
    with session.lock:
        try:
            session.env.close()
        except Exception as exc:  # noqa: BLE001 - an env that fails to close must not take the server down
            logger.warning(f"closing an env failed: {exc!r}")
