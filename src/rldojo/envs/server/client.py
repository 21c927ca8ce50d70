"""`RemoteTextEnv`: a gymnasium env whose world runs on an env server.

It has the served env's spaces and returns what the served env returns (observation, reward,
terminated, truncated, info; info as JSON data), so a trainer cannot tell it from a local env.
Errors: arguments the served env rejects raise `EnvInputError`; stepping before reset raises
gymnasium's `ResetNeeded`, as a local env does; a server that stopped, cannot be reached, or lost
this env's session raises `EnvServerError` saying so.
"""

from __future__ import annotations

import socket
from typing import Any

import gymnasium as gym

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.protocol import PrintableText


class EnvServerError(RuntimeError):
    """The env server cannot be reached, has stopped, or no longer holds this env's session."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def _space(description: dict[str, Any]) -> gym.spaces.Text:
    if description.get("type") != "text":
        raise EnvServerError(f"the server describes a space this client does not know: {description}")
    if description["charset"] == "printable":
        return PrintableText(description["max_length"], min_length=description["min_length"])
    return gym.spaces.Text(
        description["max_length"], min_length=description["min_length"], charset=description["charset"]
    )


class RemoteTextEnv(gym.Env[str, str]):
    """One session of the text env served at `url` (see `rldojo.envs.server.serve`)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self, url: str, env_kwargs: dict[str, Any] | None = None, timeout: float = 60.0, render_mode: str | None = None
    ):
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - only without the `text` extra
            raise EnvInputError("the env-server client needs httpx: pip install 'rldojo[text]'.") from exc
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvInputError(f"render_mode {render_mode!r} is not supported; allowed: 'ansi' or None")
        self.url = url.rstrip("/")
        self.render_mode = render_mode
        self._httpx = httpx
        # TCP_NODELAY: a request's headers and body go out in two writes; Nagle would hold the body.
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)
        self.env_idx: int | None = None
        self._observation = ""
        spec = self._call("GET", "/spec")
        self.served_env_id: str = spec["env_id"]
        self.observation_space = _space(spec["observation_space"])
        self.action_space = _space(spec["action_space"])
        created = self._call("POST", "/create", {"env_kwargs": _jsonable(env_kwargs or {})})
        # A server speaking an AgentGym world's dialect answers {"id": n, ...}, the others n.
        self.env_idx = int(created["id"] if isinstance(created, dict) else created)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        body = {"env_idx": self.env_idx, "seed": _jsonable(seed), "options": _jsonable(options or {})}
        answer = self._call("POST", "/reset", body)
        self._observation = answer["observation"]
        return answer["observation"], answer["info"]

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        answer = self._call("POST", "/step", {"env_idx": self.env_idx, "action": _jsonable(action)})
        self._observation = answer["state"]
        return (
            answer["state"],
            float(answer["reward"]),
            bool(answer["terminated"]),
            bool(answer["truncated"]),
            answer["info"],
        )

    def render(self) -> str | None:
        return self._observation if self.render_mode == "ansi" else None

    def close(self) -> None:
        if getattr(self, "_http", None) is None:
            return
        try:
            if self.env_idx is not None:
                self._call("POST", "/close", {"env_idx": self.env_idx})
        except (EnvServerError, EnvInputError):
            pass  # the server (or this session) is already gone: nothing left to free there
        finally:
            self._http.close()
            self._http = None
        super().close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if getattr(self, "_http", None) is None:
            raise EnvServerError(f"this client of {self.url} was closed; make a new RemoteTextEnv")
        try:
            response = self._http.request(method, path, json=body)
        except self._httpx.TransportError as exc:
            raise EnvServerError(
                f"the env server at {self.url} did not answer {method} {path} ({type(exc).__name__}: {exc}). "
                f"It may have stopped or be unreachable; start it with `rldojo env serve ENV_ID --port PORT`. "
                f"A restarted server has none of the old sessions: make a new env."
            ) from None
        if response.status_code < 400:
            return response.json()
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        where = f"env server at {self.url} ({method} {path}, HTTP {response.status_code})"
        if response.status_code == 409:
            raise gym.error.ResetNeeded(f"{detail} [{where}]")
        if response.status_code in (400, 413, 422):
            raise EnvInputError(f"{detail} [{where}]")
        raise EnvServerError(f"{detail} [{where}]")
