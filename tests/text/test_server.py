"""The env server and its client: parity with in-process envs, concurrency, bad requests, expiry.

Served info never holds the expert action unless the server exposes it (`test_server_worlds.py`
covers every world); the parity checks compare with the local info less its hidden keys."""

import gc
import socket
import threading
import time
import weakref

import gymnasium as gym
import httpx
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.server import EnvServerError, RemoteTextEnv, serve, start_server
from rldojo.envs.server.app import to_jsonable
from rldojo.envs.server.redact import public_info
from rldojo.envs.text import TextEnv, WorldStep

COUNTER_ID = "tests/Counter-v0"


class CounterEnv(TextEnv):
    """A tiny text world: reach the task's target number with `add N` (N from 1 to 3)."""

    has_expert = True
    instances: "weakref.WeakSet[CounterEnv]" = weakref.WeakSet()

    def __init__(self, max_turns: int = 8, render_mode=None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.total = 0
        self.target = 0
        CounterEnv.instances.add(self)

    @property
    def num_tasks(self):
        return 10

    def _load_task(self, task_id, rng):
        self.target, self.total = 3 + task_id, int(rng.integers(0, 2))
        return f"Reach {self.target}.", f"You are at {self.total}."

    def _step_world(self, action):
        parts = action.split()
        if len(parts) != 2 or parts[0] != "add" or parts[1] not in ("1", "2", "3"):
            return WorldStep(observation="Nothing happens.", valid=False)
        self.total += int(parts[1])
        won = self.total == self.target
        return WorldStep(
            observation=f"You are at {self.total}.", reward=float(won), won=won, done=self.total > self.target
        )

    def _available_actions(self):
        return ["add 1", "add 2", "add 3"]

    def _expert_action(self):
        return f"add {min(3, max(1, self.target - self.total))}"

    def _info(self):
        info = super()._info()
        info["progress"] = np.float32(self.total / self.target)  # numpy values travel as plain JSON
        return info


if COUNTER_ID not in gym.registry:
    gym.register(COUNTER_ID, entry_point=CounterEnv)


@pytest.fixture(scope="module")
def counter_server():
    with start_server(COUNTER_ID) as server:
        yield server


@pytest.fixture(scope="module")
def webshop_server():
    with start_server("dojo/WebShop-v0") as server:
        yield server


@pytest.fixture(scope="module")
def webshop_expert_server():
    with start_server("dojo/WebShop-v0", expose_expert=True) as server:
        yield server


def _same(local_out, remote_out, expose_expert=False):
    """The remote env returns what the local one does (info as JSON data, less hidden keys)."""
    *head_l, info_l = local_out
    *head_r, info_r = remote_out
    assert head_l == head_r
    assert public_info(to_jsonable(info_l), expose_expert) == info_r
    assert ("expert_action" in info_r) == (expose_expert and "expert_action" in info_l)


BAD_ACTIONS = ["", "  \t ", "x" * 1_000_000, "add\x00 2", "\u202eadd 1\u200b", "add 9", 42, None, "add 1"]


def test_client_matches_in_process_counter(counter_server):
    local, remote = gym.make(COUNTER_ID), RemoteTextEnv(counter_server.url)
    try:
        assert remote.observation_space.max_length == local.observation_space.max_length
        _same(local.reset(seed=3, options={"task_id": 4}), remote.reset(seed=3, options={"task_id": 4}))
        for action in BAD_ACTIONS + ["add 3", "add 3", "add 3", "add 1"]:
            _same(local.step(action), remote.step(action))
        # The seed picks the task the same way on both sides.
        _same(local.reset(seed=11), remote.reset(seed=11))
    finally:
        remote.close()


def test_client_matches_in_process_webshop(webshop_server):
    local, remote = gym.make("dojo/WebShop-v0"), RemoteTextEnv(webshop_server.url)
    try:
        rng = np.random.default_rng(0)
        for task in (0, 123):
            out_l, out_r = (
                local.reset(seed=1, options={"task_id": task}),
                remote.reset(seed=1, options={"task_id": task}),
            )
            _same(out_l, out_r)
            done = False
            while not done:
                actions = out_l[-1]["available_actions"]
                action = str(rng.choice(actions)) if rng.random() < 0.5 else out_l[-1]["expert_action"]
                out_l, out_r = local.step(action), remote.step(action)
                _same(out_l, out_r)
                done = out_l[2] or out_l[3]
        _same(local.step("click[buy now]"), remote.step("click[buy now]"))  # after the end: same answer
    finally:
        remote.close()


def _expert_episode(env, task):
    obs, info = env.reset(options={"task_id": task})
    trace, done = [obs], False
    while not done:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        trace.append((obs, reward))
        done = term or trunc
    return trace, info["won"]


def test_many_concurrent_sessions(webshop_expert_server):
    tasks = list(range(200, 208))
    local = gym.make("dojo/WebShop-v0")
    expected = {t: _expert_episode(local, t) for t in tasks}
    results, errors = {}, []
    start = threading.Barrier(len(tasks))

    def worker(task):
        env = RemoteTextEnv(webshop_expert_server.url)
        try:
            start.wait()
            for _ in range(2):
                results[task] = _expert_episode(env, task)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            env.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in tasks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert results == expected and all(won for _, won in results.values())
    assert httpx.get(f"{webshop_expert_server.url}/list_envs").json() == []  # every client closed its session


def test_malformed_requests_get_a_4xx_with_a_message(counter_server):
    with httpx.Client(base_url=counter_server.url) as http:
        idx = http.post("/create").json()

        def check(response, status, *words):
            assert response.status_code == status, response.text
            detail = response.json()["detail"]
            assert all(w in detail for w in words), detail

        check(http.post("/step", json={"action": "add 1"}), 422, "env_idx", "Field required", "valid request")
        check(http.post("/step", json={"env_idx": idx, "id": idx + 1, "action": "add 1"}), 422, "different sessions")
        check(http.get("/observation"), 422, "env_idx", "Field required")
        check(http.post("/reset", json={"env_idx": idx, "task_id": 1, "data_idx": 2}), 422, "different tasks")
        check(
            http.post("/step", content=b"{not json", headers={"content-type": "application/json"}),
            422,
            "not valid JSON",
        )
        check(http.post("/step", json={"env_idx": "first", "action": "add 1"}), 422, "env_idx", "integer")
        check(http.post("/step", json={"env_idx": idx, "action": "add 1", "extra": 1}), 422, "extra")
        check(http.post("/step", json={"env_idx": idx, "action": "add 1"}), 409, "reset")
        check(http.post("/step", json={"env_idx": 10_000, "action": "add 1"}), 404, "no session 10000")
        check(http.post("/reset", json={"env_idx": idx, "task_id": 99}), 400, "task_id 99", "0 to 9")
        check(http.post("/create", json={"env_kwargs": {"max_turns": -1}}), 400, "max_turns")
        check(http.post("/create", json={"env_kwargs": {"colour": "red"}}), 400, "colour")
        check(http.get("/observation", params={"env_idx": "x"}), 422, "env_idx")
        assert http.post("/step", json={"env_idx": 10_000, "action": "x"}).json()["error"].startswith("no session")
        check(
            http.post("/step", content=b"x" * (5 * 1024 * 1024), headers={"content-type": "application/json"}),
            413,
            "over the limit",
        )
        # The server is unharmed: the session still works.
        assert http.post("/reset", json={"env_idx": idx, "task_id": 1}).json()["info"]["task_id"] == 1
        step = http.post("/step", json={"env_idx": idx, "action": "add 1"}).json()
        assert step["state"].startswith("You are at") and step["info"]["valid_action"] is True
        assert http.get("/observation", params={"env_idx": idx}).json() == step["state"]
        assert http.get("/available_actions", params={"env_idx": idx}).json() == ["add 1", "add 2", "add 3"]
        assert http.post("/close", json={"env_idx": idx}).json() == {"closed": True}
        assert http.post("/close", json={"env_idx": idx}).json() == {"closed": False}


def test_client_raises_clear_errors(counter_server):
    env = RemoteTextEnv(counter_server.url)
    with pytest.raises(gym.error.ResetNeeded):
        env.step("add 1")
    with pytest.raises(EnvInputError, match="task_id"):
        env.reset(options={"task_id": 1000})
    env.close()
    with pytest.raises(EnvServerError, match="closed"):
        env.step("add 1")


def test_idle_sessions_expire_and_free_their_env():
    with start_server(COUNTER_ID, session_ttl=0.3) as server:
        remote = RemoteTextEnv(server.url)
        remote.reset(options={"task_id": 0})
        served = weakref.ref(server.store.get(remote.env_idx).env.unwrapped)
        busy = RemoteTextEnv(server.url)
        busy.reset(options={"task_id": 0})
        deadline = time.monotonic() + 5
        while len(server.store) > 1 and time.monotonic() < deadline:
            busy.step("add 1")  # keeps its own session alive
            time.sleep(0.05)
        assert server.store.ids() == [busy.env_idx]
        gc.collect()
        assert served() is None  # the expired env's memory is freed
        with pytest.raises(EnvServerError, match="expired"):
            remote.step("add 1")
        remote.close()  # closing a session the server already dropped is fine
        busy.close()


def test_a_full_server_says_so():
    with start_server(COUNTER_ID, max_sessions=2) as server:
        envs = [RemoteTextEnv(server.url) for _ in range(2)]
        with pytest.raises(EnvServerError, match="maximum of 2 sessions"):
            RemoteTextEnv(server.url)
        envs[0].close()
        envs.append(RemoteTextEnv(server.url))  # a closed session frees a place
        for env in envs[1:]:
            env.close()


def test_a_server_that_went_away_gives_a_clear_error():
    server = start_server(COUNTER_ID)
    env = RemoteTextEnv(server.url)
    obs, _ = env.reset(options={"task_id": 2})
    server.stop()
    with pytest.raises(EnvServerError, match="did not answer POST /step"):
        env.step("add 1")
    assert env.render() is None and env._observation == obs  # what the client had is kept
    env.close()  # never raises
    with pytest.raises(EnvServerError, match="did not answer GET /spec"):
        RemoteTextEnv(server.url)


def test_serve_rejects_bad_arguments():
    with pytest.raises(EnvInputError, match="unknown env id"):
        serve("dojo/NoSuchWorld-v0", port=0)
    with pytest.raises(EnvInputError, match="port"):
        serve(COUNTER_ID, port=70_000)
    with pytest.raises(EnvInputError, match="only text envs"):
        start_server("CartPole-v1")
    with pytest.raises(EnvInputError, match="dialect"):
        start_server(COUNTER_ID, dialect="minecraft")
    for host in ("0.0.0.0", "192.168.1.7", "::", "example.org"):  # the answers must not leave this machine
        with pytest.raises(EnvInputError, match="loopback"):
            serve(COUNTER_ID, host=host, port=0, expose_expert=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(EnvInputError, match="cannot listen"):
            serve(COUNTER_ID, port=taken.getsockname()[1])


def test_server_binds_loopback_by_default(counter_server):
    assert counter_server.host == "127.0.0.1" and counter_server._sock.getsockname()[0] == "127.0.0.1"


def test_cli_refuses_the_expert_off_loopback():
    from typer.testing import CliRunner

    from rldojo.cli import app

    args = ["env", "serve", COUNTER_ID, "--host", "0.0.0.0", "--port", "0", "--trusted-expert"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "loopback" in result.output
    result = CliRunner().invoke(app, ["env", "serve", COUNTER_ID, "--dialect", "nope"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "unknown dialect" in result.output
