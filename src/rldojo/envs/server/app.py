"""The env server's HTTP API (FastAPI), with AgentGym's endpoints.

    GET  /                      {"status": "ok", "env_id", "sessions"}
    GET  /spec                  env id, observation/action spaces, session limits (for the client)
    GET  /list_envs             ids of the open sessions
    POST /create                body {"env_kwargs": {...}} (optional)        -> session id (int)
    POST /reset                 {"env_idx", "seed"?, "task_id"?, "options"?} -> {"observation", "info"}
                                ("session_id" is accepted for "task_id", as AgentGym's WebShop names it)
    POST /step                  {"env_idx", "action"}  -> {"state", "reward", "done", "terminated",
                                                          "truncated", "info"}
    GET  /observation?env_idx=  the last observation (string)
    GET  /available_actions?env_idx=   the last info's available actions (list of strings)
    POST /close                 {"env_idx"}            -> {"closed": bool}

Bad requests get a 4xx with {"detail": "<one clear paragraph>"}: 422 for a malformed body, 404 for
an unknown or expired session, 400 for arguments the env rejects, 409 for a step before the first
reset, 413 for bodies over the limit, 503 when the server is full. Sync endpoints run in FastAPI's thread pool; each session has a lock,
so many sessions step concurrently and one session's calls never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import gymnasium as gym
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from rldojo.envs.errors import EnvInputError
from rldojo.envs.server.sessions import Session, SessionGone, SessionStore, TooManySessions
from rldojo.envs.text.protocol import PrintableText

MAX_BODY_BYTES = 4 * 1024 * 1024

_BODY_EXAMPLES = {
    "/create": '{"env_kwargs": {"max_turns": 20}} or no body',
    "/reset": '{"env_idx": 0, "seed": 1, "task_id": 7}',
    "/step": '{"env_idx": 0, "action": "search[red shoes]"}',
    "/close": '{"env_idx": 0}',
    "/observation": "?env_idx=0",
    "/available_actions": "?env_idx=0",
}


class CreateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for this session's env (e.g. max_turns)."""


class ResetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_idx: int
    """The session to reset."""
    seed: int | None = None
    """Seed of the episode (picks the task when no task id is given)."""
    task_id: int | None = None
    """The task to play."""
    session_id: int | None = None
    """AgentGym WebShop's name for the task id."""
    options: dict[str, Any] | None = None
    """Further reset options of the env."""


class StepQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_idx: int
    """The session to act in."""
    action: Any = Field(...)
    """The action, as text (anything else is passed on, and the env answers it as invalid)."""


class CloseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_idx: int
    """The session to close."""


def to_jsonable(value: Any) -> Any:
    """Plain JSON data for an info value: numpy to Python, tuples to lists, non-finite floats to None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def describe_space(space: gym.Space) -> dict[str, Any]:
    """A text space as JSON, for the client to rebuild it."""
    if not isinstance(space, gym.spaces.Text):
        raise EnvInputError(f"only text envs can be served; this env has a {type(space).__name__} space")
    charset = "printable" if isinstance(space, PrintableText) else space.characters
    return {"type": "text", "min_length": space.min_length, "max_length": space.max_length, "charset": charset}


def _json(payload: dict[str, Any]) -> Response:
    """Plain JSON data straight to the wire (the hot paths skip FastAPI's response-model pass)."""
    return Response(content=json.dumps(payload, ensure_ascii=False), media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message})


def _describe_validation(path: str, exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'cannot parse')})")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    example = _BODY_EXAMPLES.get(path, "")
    hint = f" A valid request looks like {example}." if example else ""
    return f"bad request to {path}: {'; '.join(problems)}.{hint}"


def build_app(
    env_id: str,
    make_env: Callable[..., gym.Env],
    session_ttl: float = 600.0,
    max_sessions: int = 256,
    sweep_every: float | None = None,
) -> FastAPI:
    """The FastAPI app serving `make_env(**env_kwargs)` sessions of `env_id`."""
    probe = make_env()
    try:
        spec = {
            "env_id": env_id,
            "observation_space": describe_space(probe.observation_space),
            "action_space": describe_space(probe.action_space),
            "session_ttl": session_ttl,
            "max_sessions": max_sessions,
        }
    finally:
        probe.close()
    store = SessionStore(make_env, ttl=session_ttl, max_sessions=max_sessions)
    interval = sweep_every if sweep_every is not None else max(0.05, min(30.0, session_ttl / 4))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def sweeper() -> None:
            while True:
                await asyncio.sleep(interval)
                await asyncio.to_thread(store.sweep)

        task = asyncio.create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close_all()

    app = FastAPI(title=f"rldojo env server: {env_id}", lifespan=lifespan)
    app.state.store = store

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # noqa: ANN001, ANN202
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return _error(413, f"request body of {length} bytes is over the limit of {MAX_BODY_BYTES} bytes")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, _describe_validation(request.url.path, exc))

    @app.exception_handler(SessionGone)
    async def gone(_: Request, exc: SessionGone) -> JSONResponse:
        return _error(404, str(exc.args[0]))

    @app.exception_handler(TooManySessions)
    async def full(_: Request, exc: TooManySessions) -> JSONResponse:
        return _error(503, str(exc))

    @app.exception_handler(EnvInputError)
    async def rejected(_: Request, exc: EnvInputError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(gym.error.ResetNeeded)
    async def not_reset(_: Request, exc: gym.error.ResetNeeded) -> JSONResponse:
        return _error(409, f"{exc} (call /reset for this session first)")

    @app.get("/")
    def root() -> dict[str, Any]:
        return {"status": "ok", "env_id": env_id, "sessions": len(store)}

    @app.get("/spec")
    def get_spec() -> dict[str, Any]:
        return spec

    @app.get("/list_envs")
    def list_envs() -> list[int]:
        return store.ids()

    @app.post("/create")
    def create(body: CreateQuery | None = None) -> int:
        kwargs = body.env_kwargs if body is not None else {}
        try:
            return store.create(kwargs)
        except TypeError as exc:
            raise EnvInputError(f"{env_id} rejected env_kwargs {kwargs}: {exc}") from None

    @app.post("/reset")
    def reset(body: ResetQuery) -> Response:
        options = dict(body.options or {})
        task_id = body.task_id if body.task_id is not None else body.session_id
        if task_id is not None:
            options["task_id"] = task_id
        session = store.get(body.env_idx)
        with session.lock:
            observation, info = session.env.reset(seed=body.seed, options=options)
            _remember(session, observation, info)
        return _json({"observation": session.observation, "info": session.info})

    @app.post("/step")
    def step(body: StepQuery) -> Response:
        session = store.get(body.env_idx)
        with session.lock:
            observation, reward, terminated, truncated, info = session.env.step(body.action)
            _remember(session, observation, info)
        return _json(
            {
                "state": session.observation,
                "reward": float(reward),
                "done": bool(terminated or truncated),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "info": session.info,
            }
        )

    @app.get("/observation")
    def observation(env_idx: int) -> str:
        return store.get(env_idx).observation

    @app.get("/available_actions")
    def available_actions(env_idx: int) -> list[str]:
        return [str(a) for a in store.get(env_idx).info.get("available_actions", [])]

    @app.post("/close")
    def close(body: CloseQuery) -> dict[str, bool]:
        return {"closed": store.close(body.env_idx)}

    return app


def _remember(session: Session, observation: Any, info: dict[str, Any]) -> None:
    session.observation = str(observation)
    session.info = to_jsonable(info)
