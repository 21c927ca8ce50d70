"""The env server's HTTP API (FastAPI): rldojo's endpoints, which are AgentGym's, in each world's dialect.

    GET  /                      {"status": "ok", "env_id", "dialect", "sessions"}
    GET  /spec                  env id, dialect, spaces, session limits, expose_expert (for the client)
    GET  /list_envs             ids of the open sessions
    POST /create                body {"env_kwargs": {...}} (optional)      -> the session id: an int, or
                                {"id": n, ...} where the world's AgentGym client expects that
    POST /reset                 {"env_idx", "seed"?, "task_id"?, "options"?} -> {"observation", "info"}
                                (WebShop, naming the task session_id: [observation, null], as AgentGym)
    POST /step                  {"env_idx", "action"}  -> {"state", "reward", "done", "terminated",
                                                          "truncated", "info"}
    GET  /observation?env_idx=  the last observation (string)
    GET  /available_actions?env_idx=   the last info's available actions (list of strings; WebShop:
                                {"has_search_bar", "clickables"}, as AgentGym's WebShop server)
    GET  /instruction_text?env_idx=    the task's instruction (string)
    POST /close                 {"env_idx"}            -> {"closed": bool}

Every endpoint also takes the session as `id` (AgentGym's TextCraft, BabyAI, ALFWorld and SciWorld
clients), and /reset the task as `session_id` (WebShop), `data_idx` (TextCraft, BabyAI, SciWorld)
or `game` (ALFWorld). A request naming its session `id` gets the answer that world's AgentGym client
reads (`dialects.py`). Info never carries a task's answer (`redact.py`) unless the server was
started with `expose_expert`, which then passes `expert_action` only.

Bad requests get a 4xx with {"detail": "<one clear paragraph>", "error": <the same>} ("error" is
where AgentGym's servers put theirs): 422 for a malformed body, 404 for an unknown or expired
session, 400 for arguments the env rejects, 409 for a step before the first reset, 413 for bodies
over the limit, 503 when the server is full. Sync endpoints run in FastAPI's thread pool; each
session has a lock, so many sessions step concurrently and one session's calls never interleave.
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
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rldojo.envs.errors import EnvInputError
from rldojo.envs.server import dialects
from rldojo.envs.server.redact import public_info
from rldojo.envs.server.sessions import Session, SessionGone, SessionStore, TooManySessions
from rldojo.envs.text.protocol import PrintableText

MAX_BODY_BYTES = 4 * 1024 * 1024

_BODY_EXAMPLES = {
    "/create": '{"env_kwargs": {"max_turns": 20}} or no body',
    "/reset": '{"env_idx": 0, "seed": 1, "task_id": 7} (or AgentGym\'s {"id": 0, "data_idx": 7})',
    "/step": '{"env_idx": 0, "action": "search[red shoes]"} (or {"id": 0, "action": ...})',
    "/close": '{"env_idx": 0} (or {"id": 0})',
    "/observation": "?env_idx=0 (or ?id=0)",
    "/available_actions": "?env_idx=0 (or ?id=0)",
    "/instruction_text": "?env_idx=0 (or ?id=0)",
}

_SESSION_REQUIRED = (
    "Field required: env_idx, the session id /create answered (AgentGym's TextCraft, BabyAI, ALFWorld "
    "and SciWorld clients name it id)"
)


class SessionRef(BaseModel):
    """A request about one session, named `env_idx` (rldojo, AgentGym's WebShop) or `id` (AgentGym's
    other worlds)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_idx: int | None = None
    """The session (the id /create answered)."""
    id: int | None = None
    """The session, as AgentGym's TextCraft, BabyAI, ALFWorld and SciWorld clients name it."""

    @model_validator(mode="after")
    def _one_session(self) -> SessionRef:
        if self.env_idx is None and self.id is None:
            raise ValueError(_SESSION_REQUIRED)
        if self.env_idx is not None and self.id is not None and self.env_idx != self.id:
            raise ValueError(f"env_idx {self.env_idx} and id {self.id} name different sessions; give one")
        return self

    @property
    def session(self) -> int:
        return self.env_idx if self.env_idx is not None else int(self.id)  # type: ignore[arg-type]

    @property
    def agentgym(self) -> bool:
        """Whether the caller names sessions as AgentGym's `id` worlds do (and reads their answers)."""
        return self.env_idx is None


class CreateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments for this session's env (e.g. max_turns)."""
    minecraft_dir: str | None = None
    """Sent by AgentGym's TextCraft client; ignored (rldojo's TextCraft has its own recipe book)."""
    commands: str | None = None
    """AgentGym TextCraft's custom crafting commands: not supported, must be null."""
    goal: str | None = None
    """AgentGym TextCraft's custom goal: not supported, must be null."""

    @model_validator(mode="after")
    def _no_custom_task(self) -> CreateQuery:
        if self.commands is not None or self.goal is not None:
            raise ValueError("custom commands and goal are not supported; pick a task with /reset's data_idx")
        return self


class ResetQuery(SessionRef):
    seed: int | None = None
    """Seed of the episode (picks the task when no task id is given)."""
    task_id: int | None = None
    """The task to play."""
    session_id: int | None = None
    """AgentGym WebShop's name for the task id."""
    data_idx: int | None = None
    """AgentGym TextCraft's, BabyAI's and SciWorld's name for the task id."""
    game: int | None = None
    """AgentGym ALFWorld's name for the task id."""
    world_type: str | None = None
    """AgentGym ALFWorld's world type: only "Text" (rldojo's ALFWorld is text only)."""
    options: dict[str, Any] | None = None
    """Further reset options of the env."""

    @model_validator(mode="after")
    def _one_task(self) -> ResetQuery:
        named = {k: getattr(self, k) for k in ("task_id", "session_id", "data_idx", "game")}
        given = {k: v for k, v in named.items() if v is not None}
        if len(set(given.values())) > 1:
            raise ValueError(f"{' and '.join(given)} name different tasks ({given}); give one")
        if self.world_type is not None and self.world_type != "Text":
            raise ValueError(f"world_type must be 'Text' (this ALFWorld is text only), got {self.world_type!r}")
        return self

    @property
    def task(self) -> int | None:
        return next((v for v in (self.task_id, self.session_id, self.data_idx, self.game) if v is not None), None)


class StepQuery(SessionRef):
    action: Any = Field(...)
    """The action, as text (anything else is passed on, and the env answers it as invalid)."""


class CloseQuery(SessionRef):
    pass


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


def _json(payload: Any) -> Response:
    """Plain JSON data straight to the wire (the hot paths skip FastAPI's response-model pass)."""
    return Response(content=json.dumps(payload, ensure_ascii=False), media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message, "error": message})


def _describe_validation(path: str, exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            problems.append(f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'cannot parse')})")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        message = err.get("msg", "invalid")
        if err.get("type") == "value_error":  # our own validators: their message as written
            message = str(err.get("ctx", {}).get("error", message))
        problems.append(f"{where or 'body'}: {message}")
    example = _BODY_EXAMPLES.get(path, "")
    hint = f" A valid request looks like {example}." if example else ""
    return f"bad request to {path}: {'; '.join(problems)}.{hint}"


def _query_ref(env_idx: int | None, session_id: int | None) -> SessionRef:
    """The session of a GET request (?env_idx= or ?id=), or the same 422 a body would get."""
    try:
        return SessionRef(env_idx=env_idx, id=session_id)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def build_app(
    env_id: str,
    make_env: Callable[..., gym.Env],
    session_ttl: float = 600.0,
    max_sessions: int = 256,
    sweep_every: float | None = None,
    *,
    expose_expert: bool = False,
    dialect: str | None = None,
) -> FastAPI:
    """The FastAPI app serving `make_env(**env_kwargs)` sessions of `env_id`.

    `expose_expert` passes each info's `expert_action` to clients (the answer: for trusted local use
    only; `serve` allows it on loopback hosts only). `dialect` is the AgentGym world whose client
    shapes /create and the `id` requests (default: `env_id`'s world; see `dialects.py`)."""
    dialect = dialects.dialect_for(env_id, dialect)
    probe = make_env()
    try:
        spec = {
            "env_id": env_id,
            "dialect": dialect,
            "observation_space": describe_space(probe.observation_space),
            "action_space": describe_space(probe.action_space),
            "session_ttl": session_ttl,
            "max_sessions": max_sessions,
            "expose_expert": bool(expose_expert),
        }
    finally:
        probe.close()
    store = SessionStore(make_env, ttl=session_ttl, max_sessions=max_sessions)
    interval = sweep_every if sweep_every is not None else max(0.05, min(30.0, session_ttl / 4))
    agentgym_world = dialect in dialects.ID_WORLDS

    def remember(session: Session, observation: Any, info: dict[str, Any]) -> None:
        # Only the public info is kept: every endpoint answers from the session, so nothing hidden
        # can reach a client by any route.
        session.observation = str(observation)
        session.info = public_info(to_jsonable(info), expose_expert=expose_expert)

    def start(session: Session, seed: int | None, options: dict[str, Any]) -> None:
        observation, info = session.env.reset(seed=seed, options=options)
        remember(session, observation, info)
        session.reward, session.terminated, session.truncated = 0.0, False, False

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
        return {"status": "ok", "env_id": env_id, "dialect": dialect, "sessions": len(store)}

    @app.get("/spec")
    def get_spec() -> dict[str, Any]:
        return spec

    @app.get("/list_envs")
    def list_envs() -> list[int]:
        return store.ids()

    @app.post("/create")
    def create(body: CreateQuery | None = None) -> Response:
        kwargs = body.env_kwargs if body is not None else {}
        try:
            env_idx = store.create(kwargs)
        except TypeError as exc:
            raise EnvInputError(f"{env_id} rejected env_kwargs {kwargs}: {exc}") from None
        session = store.get(env_idx)
        if dialect == "textcraft":
            with session.lock:
                try:
                    start(session, None, {"task_id": 0})
                except Exception:
                    store.close(env_idx)
                    raise
        return _json(dialects.create_answer(dialect, env_idx, session))

    @app.post("/reset")
    def reset(body: ResetQuery) -> Response:
        options = dict(body.options or {})
        if body.task is not None:
            options["task_id"] = body.task
        session = store.get(body.session)
        with session.lock:
            start(session, body.seed, options)
            if body.agentgym and agentgym_world:
                return _json(dialects.reset_answer(dialect, body.session, session))
            if dialect == "webshop" and body.session_id is not None:  # AgentGym's WebShop client
                return _json(dialects.webshop_reset_answer(session))
            return _json({"observation": session.observation, "info": session.info})

    @app.post("/step")
    def step(body: StepQuery) -> Response:
        session = store.get(body.session)
        with session.lock:
            previous_info = session.info
            observation, reward, terminated, truncated, info = session.env.step(body.action)
            remember(session, observation, info)
            session.reward, session.terminated, session.truncated = float(reward), bool(terminated), bool(truncated)
            if body.agentgym and agentgym_world:
                return _json(dialects.step_answer(dialect, session, previous_info))
            return _json(
                {
                    "state": session.observation,
                    "reward": session.reward,
                    "done": session.done,
                    "terminated": session.terminated,
                    "truncated": session.truncated,
                    "info": session.info,
                }
            )

    @app.get("/observation")
    def observation(env_idx: int | None = None, session_id: int | None = Query(None, alias="id")) -> Response:
        ref = _query_ref(env_idx, session_id)
        session = store.get(ref.session)
        return _json(dialects.observation_answer(dialect, session, ref.agentgym))

    @app.get("/available_actions")
    def available_actions(env_idx: int | None = None, session_id: int | None = Query(None, alias="id")) -> Response:
        session = store.get(_query_ref(env_idx, session_id).session)
        return _json(dialects.available_actions_answer(dialect, session))

    @app.get("/instruction_text")
    def instruction_text(env_idx: int | None = None, session_id: int | None = Query(None, alias="id")) -> Response:
        session = store.get(_query_ref(env_idx, session_id).session)
        return _json(str(session.info.get("instruction", "")))

    @app.post("/close")
    def close(body: CloseQuery) -> Response:
        return _json(dialects.close_answer(body.agentgym, store.close(body.session)))

    return app
