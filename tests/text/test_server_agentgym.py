"""AgentGym's clients against `rldojo env serve`: each world's client sends and reads its own shapes.

The clients below do what AgentGym's do (agentenv/agentenv/envs/<world>.py): the same paths, the
same request fields, and they read the same response fields, asserting HTTP 200 on every call."""

import shutil

import gymnasium as gym
import httpx
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.server import RemoteTextEnv, start_server
from rldojo.envs.server.app import to_jsonable
from rldojo.envs.server.redact import public_info

SCIWORLD_KWARGS = {"tasks": ["lifespan-longest-lived"], "list_actions": False}
NO_JAVA = pytest.mark.skipif(shutil.which("java") is None, reason="ScienceWorld needs Java 17")


class Client:
    """The HTTP part of an AgentGym env client."""

    id_field = "id"

    def __init__(self, base):
        self.http = httpx.Client(base_url=base, timeout=120)

    def post(self, path, data):
        data[self.id_field] = self.env_id
        response = self.http.post(f"/{path}", json=data)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path):
        response = self.http.get(f"/{path}?{self.id_field}={self.env_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def close(self):
        answer = self.post("close", {})
        self.http.close()
        return answer


class WebShopClient(Client):
    id_field = "env_idx"

    def __init__(self, base):
        super().__init__(base)
        response = self.http.post("/create")
        assert response.status_code == 200
        self.env_id = response.json()

    def reset(self, idx):
        response = self.post("reset", {"session_id": idx})
        response[0] = self.get("observation")
        return response

    def step(self, action):
        response = self.post("step", {"action": action})
        return response["state"], response["reward"], response["done"]


class TextCraftClient(Client):
    def __init__(self, base):
        super().__init__(base)
        body = {"minecraft_dir": "agentenv_textcraft/", "commands": None, "goal": None}
        ok = self.http.post("/create", json=body)
        assert ok.status_code == 200, ok.text
        self.env_id = ok.json()["id"]
        self.info = {"observation": ok.json()["observation"], "reward": 0, "done": False}

    def reset(self, idx):
        response = self.post("reset", {"data_idx": idx})
        self.info.update({"observation": response["observation"], "reward": 0, "done": False})
        return response

    def step(self, action):
        response = self.post("step", {"action": action})
        return response["observation"], response["reward"], response["done"]


class IdClient(Client):
    """BabyAI's, ALFWorld's and SciWorld's clients: /create without a body answers {"id"}."""

    def __init__(self, base):
        super().__init__(base)
        ok = self.http.post("/create")
        assert ok.status_code == 200, ok.text
        self.env_id = ok.json()["id"]


class BabyAIClient(IdClient):
    def reset(self, data_idx):
        response = self.post("reset", {"data_idx": data_idx})
        self.info = {k: response[k] for k in ("observation", "reward", "score", "done")}
        return response

    def step(self, action):
        response = self.post("step", {"action": action})
        self.info = {k: response[k] for k in ("observation", "reward", "score", "done")}
        return response["observation"], response["score"], response["done"]


class ALFWorldClient(IdClient):
    def reset(self, game, world_type="Text"):
        response = self.post("reset", {"game": game, "world_type": world_type})
        self.info = {"observation": response["observation"], "available_actions": response["available_actions"]}
        return response

    def step(self, action):
        response = self.post("step", {"action": action})
        self.info = {k: response[k] for k in ("observation", "available_actions", "reward", "done")}
        return response["observation"], response["reward"], response["done"]


class SciWorldClient(IdClient):
    def reset(self, data_idx):
        response = self.post("reset", {"data_idx": data_idx})
        self.info = {"observation": response["task_description"] + "\n" + response["observation"]}
        return response

    def step(self, action):
        response = self.post("step", {"action": action})
        self.info = {k: response[k] for k in ("observation", "reward", "score", "done")}
        return response["observation"], response["score"], response["done"]


WORLDS = [  # env id, env_kwargs, client, the final StepOutput reward of a won episode
    pytest.param("dojo/WebShop-v0", {}, WebShopClient, 1.0, id="webshop"),
    pytest.param("dojo/TextCraft-v0", {}, TextCraftClient, 1.0, id="textcraft"),
    # BabyAI: minigrid's reward, 1 - 0.9 * steps / max_steps, as AgentGym's "score"
    pytest.param("dojo/BabyAI-GoToLocal-v0", {}, BabyAIClient, "score", id="babyai"),
    pytest.param("dojo/ALFWorld-v0", {}, ALFWorldClient, 1.0, id="alfworld"),
    pytest.param("dojo/SciWorld-v0", SCIWORLD_KWARGS, SciWorldClient, 100, id="sciworld", marks=NO_JAVA),
]


@pytest.mark.parametrize(("env_id", "env_kwargs", "client_cls", "won_reward"), WORLDS)
def test_agentgym_client_plays_an_episode(env_id, env_kwargs, client_cls, won_reward):
    task = 3
    local = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    with start_server(env_id, env_kwargs=env_kwargs) as server:
        client = client_cls(server.url)
        obs, info = local.reset(options={"task_id": task})
        answer = client.reset(task)
        if client_cls is WebShopClient:
            assert answer[0] == obs  # [observation, null] with item 0 replaced by GET /observation
        elif client_cls is SciWorldClient:
            assert client.info["observation"] == obs  # task_description + "\n" + observation
            assert answer["task_name"] == "lifespan-longest-lived" and answer["score"] == info["raw_score"]  # 0-100
        else:
            assert answer["observation"] == obs
        if client_cls is ALFWorldClient:
            assert answer["available_actions"] == info["available_actions"] and answer["id"] == client.env_id
            assert isinstance(answer["task_type"], str) and answer["task_type"]
            assert client.get("available_actions") == info["available_actions"]
        if client_cls is BabyAIClient:
            assert client.info == {"observation": obs, "reward": 0.0, "score": 0.0, "done": False}
        done, raw_rewards = False, []
        while not done:
            expert = info["expert_action"]
            obs, reward, term, trunc, info = local.step(expert)
            state, step_reward, done = client.step(expert)
            assert state == obs and done == (term or trunc)
            if client_cls is SciWorldClient:  # the step's change of ScienceWorld's score
                raw_rewards.append(client.info["reward"])
        assert info["won"] and step_reward == (info["score"] if won_reward == "score" else won_reward) > 0.5
        if client_cls is SciWorldClient:
            assert sum(raw_rewards) == 100 - answer["score"]
        observation = client.get("observation")
        if client_cls is BabyAIClient:  # BabyAI's server answers GET /observation with a dict
            assert observation == {
                "observation": obs,
                "reward": reward,
                "score": info["score"],
                "done": True,
                "deleted": False,
            }
        else:
            assert observation == obs
        if client_cls is WebShopClient:
            assert client.get("available_actions") == {"has_search_bar": False, "clickables": []}
        assert client.close() in (True, {"closed": True})
        assert httpx.get(f"{server.url}/list_envs").json() == []
    local.close()


def test_agentgym_shapes_in_detail():
    """Field by field, on a TextCraft and a BabyAI server (AgentGym's `id` worlds)."""
    with start_server("dojo/TextCraft-v0") as server, httpx.Client(base_url=server.url) as http:
        created = http.post("/create", json={"minecraft_dir": "x/", "commands": None, "goal": None}).json()
        assert set(created) == {"id", "observation", "done", "reward"} and created["observation"].startswith("Goal")
        idx = created["id"]
        reset = http.post("/reset", json={"id": idx, "data_idx": 5}).json()
        assert set(reset) == {"id", "observation", "done", "reward"} and reset["id"] == idx
        step = http.post("/step", json={"id": idx, "action": "inventory"}).json()
        assert set(step) == {"observation", "reward", "done"}
        assert http.get("/observation", params={"id": idx}).json() == step["observation"]
        # rldojo's requests to the same session get rldojo's shapes
        step = http.post("/step", json={"env_idx": idx, "action": "inventory"}).json()
        assert set(step) == {"state", "reward", "done", "terminated", "truncated", "info"}
        refused = http.post("/create", json={"minecraft_dir": "x/", "commands": "craft 1 a using 1 b", "goal": "a"})
        assert refused.status_code == 422 and "not supported" in refused.json()["error"]
        assert http.post("/close", json={"id": idx}).json() is True
        assert http.post("/close", json={"id": idx}).json() is False
        gone = http.post("/step", json={"id": idx, "action": "inventory"})
        assert gone.status_code == 404 and gone.json()["error"] == gone.json()["detail"]
    with start_server("dojo/BabyAI-GoToLocal-v0") as server, httpx.Client(base_url=server.url) as http:
        idx = http.post("/create").json()["id"]
        reset = http.post("/reset", json={"id": idx, "data_idx": 7}).json()
        assert set(reset) == {"observation", "reward", "score", "deleted", "done"}
        step = http.post("/step", json={"id": idx, "action": "turn left"}).json()
        assert set(step) == {"observation", "reward", "score", "done"}
        assert set(http.get("/observation", params={"id": idx}).json()) == {
            "observation",
            "reward",
            "score",
            "done",
            "deleted",
        }
        assert isinstance(http.get("/observation", params={"env_idx": idx}).json(), str)


def test_alfworld_world_type_other_than_text_is_refused():
    with start_server("dojo/ALFWorld-v0") as server, httpx.Client(base_url=server.url) as http:
        idx = http.post("/create").json()["id"]
        refused = http.post("/reset", json={"id": idx, "game": 1, "world_type": "Embody"})
        assert refused.status_code == 422 and "Text" in refused.json()["detail"]


@pytest.mark.parametrize("env_id", ["dojo/TextCraft-v0", "dojo/BabyAI-GoToLocal-v0", "dojo/ALFWorld-v0"])
def test_rldojo_client_works_against_every_dialect(env_id):
    local = gym.make(env_id, disable_env_checker=True)
    with start_server(env_id) as server:
        remote = RemoteTextEnv(server.url)  # /create answers {"id": n, ...} here
        out_l, out_r = local.reset(seed=2, options={"task_id": 6}), remote.reset(seed=2, options={"task_id": 6})
        assert out_l[0] == out_r[0] and public_info(to_jsonable(out_l[1])) == out_r[1]
        for action in ("inventory", "turn left", "look", "", None):
            out_l, out_r = local.step(action), remote.step(action)
            assert out_l[:4] == out_r[:4] and public_info(to_jsonable(out_l[4])) == out_r[4]
        remote.close()
    local.close()


def test_the_dialect_can_be_chosen():
    with start_server("dojo/SAT-v0", dialect="babyai") as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/").json()["dialect"] == "babyai"
        idx = http.post("/create").json()["id"]
        assert set(http.post("/reset", json={"id": idx, "data_idx": 3}).json()) >= {"observation", "score"}
    with start_server("dojo/SAT-v0") as server:
        assert httpx.get(f"{server.url}/").json()["dialect"] == "rldojo"
        assert isinstance(httpx.post(f"{server.url}/create").json(), int)
