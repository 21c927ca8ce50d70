"""Run an env server: `serve` (blocking, for the CLI) and `start_server` (a background thread)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from loguru import logger

from rldojo.envs.errors import EnvInputError
from rldojo.envs.registry import check_env_id
from rldojo.envs.server.dialects import dialect_for

DEFAULT_PORT = 36001
DEFAULT_HOST = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def _check_args(
    env_id: str,
    host: str,
    port: int,
    session_ttl: float,
    max_sessions: int,
    expose_expert: bool = False,
    dialect: str | None = None,
) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise EnvInputError(f"port must be an integer from 0 to 65535 (0 picks a free port), got {port!r}")
    if not isinstance(host, str) or not host.strip():
        raise EnvInputError(f"host must be an address such as 127.0.0.1, got {host!r}")
    if not session_ttl > 0:
        raise EnvInputError(f"session_ttl must be a positive number of seconds, got {session_ttl!r}")
    if not isinstance(max_sessions, int) or max_sessions < 1:
        raise EnvInputError(f"max_sessions must be a positive integer, got {max_sessions!r}")
    check_env_id(env_id)
    dialect_for(env_id, dialect)
    if expose_expert and not is_loopback(host):
        raise EnvInputError(
            f"expose_expert (--trusted-expert) sends every task's answer to the clients, so it is allowed on "
            f"a loopback host only (127.0.0.1, ::1, localhost), got host {host!r}. Serve without it, or on "
            f"127.0.0.1 for trusted local use (e.g. collecting expert demonstrations)."
        )


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then, and without
    # it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EnvInputError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
            f"(0 picks a free one) or a --host address of this machine"
        ) from None
    return sock


def _server(
    env_id: str,
    env_kwargs: dict[str, Any] | None,
    session_ttl: float,
    max_sessions: int,
    log_level: str,
    expose_expert: bool,
    dialect: str | None,
) -> Any:
    try:
        import uvicorn

        from rldojo.envs.server.app import build_app
    except ImportError as exc:  # pragma: no cover - only without the `text` extra
        raise EnvInputError(f"the env server needs fastapi and uvicorn ({exc}): pip install 'rldojo[text]'.") from None
    from rldojo.envs.vector import make_env

    defaults = dict(env_kwargs or {})

    def make(**kwargs: Any) -> Any:
        # No passive env checker: after a first reset that raised (say, an unknown task id) it
        # crashes on the next step (gymnasium 1.4), and a served env is a checked one anyway.
        return make_env(env_id, env_kwargs={**defaults, **kwargs, "disable_env_checker": True})

    app = build_app(
        env_id, make, session_ttl=session_ttl, max_sessions=max_sessions, expose_expert=expose_expert, dialect=dialect
    )
    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve(
    env_id: str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    session_ttl: float = 600.0,
    max_sessions: int = 256,
    env_kwargs: dict[str, Any] | None = None,
    log_level: str = "warning",
    expose_expert: bool = False,
    dialect: str | None = None,
) -> None:
    """Serve `env_id` over HTTP until interrupted (AgentGym's endpoints; see `app.py`).

    Binds 127.0.0.1 unless `host` says otherwise. Sessions idle for `session_ttl` seconds are
    closed; at most `max_sessions` are open at once. Clients never see a task's answer unless
    `expose_expert` (loopback hosts only) passes them the expert action. `dialect` picks the AgentGym
    world whose client the server answers (default: `env_id`'s world; see `dialects.py`)."""
    _check_args(env_id, host, port, session_ttl, max_sessions, expose_expert, dialect)
    sock = _bind(host, port)
    if not is_loopback(host):
        logger.warning(f"serving on {host}: anyone who can reach this address can run {env_id} sessions")
    if expose_expert:
        logger.warning(f"serving {env_id} with expert actions in info: every client sees each task's answer")
    try:
        server = _server(env_id, env_kwargs, session_ttl, max_sessions, log_level, expose_expert, dialect)
        logger.info(f"serving {env_id} at http://{host}:{sock.getsockname()[1]} (Ctrl-C stops)")
        server.run(sockets=[sock])
    finally:
        sock.close()


@dataclass
class ServerHandle:
    """A server running in a background thread of this process; `stop()` shuts it down."""

    env_id: str
    host: str
    port: int
    _server: Any
    _thread: threading.Thread
    _sock: socket.socket

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def store(self) -> Any:
        """The server's session store (for tests and monitoring)."""
        return self._server.config.app.state.store

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    env_id: str,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    session_ttl: float = 600.0,
    max_sessions: int = 256,
    env_kwargs: dict[str, Any] | None = None,
    log_level: str = "warning",
    startup_timeout: float = 30.0,
    expose_expert: bool = False,
    dialect: str | None = None,
) -> ServerHandle:
    """Start serving `env_id` in a background thread (port 0: a free port); returns once it answers.
    The arguments are `serve`'s."""
    _check_args(env_id, host, port, session_ttl, max_sessions, expose_expert, dialect)
    sock = _bind(host, port)
    try:
        server = _server(env_id, env_kwargs, session_ttl, max_sessions, log_level, expose_expert, dialect)
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"env-server-{env_id}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the env server for {env_id} did not start within {startup_timeout:g} s")
        time.sleep(0.01)
    return ServerHandle(
        env_id=env_id, host=host, port=sock.getsockname()[1], _server=server, _thread=thread, _sock=sock
    )
