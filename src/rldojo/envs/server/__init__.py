"""Env server: serve any registered text env over HTTP (AgentGym's endpoints), and its client.

    serve("dojo/WebShop-v0", port=36001)          # blocking; what `rldojo env serve` runs
    with start_server("dojo/WebShop-v0") as srv:  # background thread, free port
        env = RemoteTextEnv(srv.url)              # a gymnasium env backed by the server

Each world is served in its AgentGym client's dialect (`dialects.py`); no response carries a
task's answer unless `expose_expert=True` (loopback hosts only) passes the expert action
(`redact.py`). fastapi and uvicorn are imported only when a server starts, httpx only when a
client is made. Users' guide: docs/env-server.md.
"""

from rldojo.envs.server.client import EnvServerError, RemoteTextEnv
from rldojo.envs.server.runner import DEFAULT_HOST, DEFAULT_PORT, ServerHandle, serve, start_server

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "EnvServerError", "RemoteTextEnv", "ServerHandle", "serve", "start_server"]
