"""Every served world: no response carries a task's answer unless the expert is exposed (loopback only),
and every invalid action is answered alike, as the world answers it in-process."""

import re
import shutil

import gymnasium as gym
import httpx
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.server import start_server
from rldojo.envs.server.app import to_jsonable
from rldojo.envs.server.redact import is_hidden_key, public_info
from rldojo.envs.text import NOTHING_HAPPENS

SCIWORLD_KWARGS = {"tasks": ["lifespan-longest-lived"], "list_actions": False}  # a short gold path, one family
SETTINGS = {  # id -> (env_kwargs, AgentGym's name of the task id in /reset, single-turn)
    "dojo/TextCraft-v0": ({}, "data_idx", False),
    "dojo/BabyAI-GoToLocal-v0": ({}, "data_idx", False),
    "dojo/WebShop-v0": ({}, "session_id", False),
    "dojo/ALFWorld-v0": ({}, "game", False),
    "dojo/SciWorld-v0": (SCIWORLD_KWARGS, "data_idx", False),
    "dojo/SAT-v0": ({}, "task_id", True),
    "dojo/Abduction-v0": ({}, "task_id", True),
    "dojo/Deduction-v0": ({}, "task_id", True),
}
NO_JAVA = pytest.mark.skipif(shutil.which("java") is None, reason="ScienceWorld needs Java 17")
WORLD_PARAMS = [pytest.param(w, marks=[NO_JAVA] if "SciWorld" in w else [], id=w) for w in SETTINGS]
MAX_STEPS = 6

# Written here on its own (not redact.py's rule) so the test does not grade the code by itself.
HIDDEN_NAME = re.compile(r"expert|answer|solution|reference|gold|hidden|secret|(^|_)tests?(_|$)|test_?cases", re.I)
GRADE_COUNTS = {"tests_passed", "tests_total"}


def hidden_keys(data, path=""):
    """Paths of the keys in `data` whose name says they hold an answer."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            if HIDDEN_NAME.search(key) and key not in GRADE_COUNTS:
                found.append(f"{path}{key}")
            found += hidden_keys(value, f"{path}{key}.")
    elif isinstance(data, list):
        for value in data:
            found += hidden_keys(value, path)
    return found


def strings(data, skip=("available_actions", "clickables")):
    """Every string in `data`, except inside the lists of actions a page offers anyway."""
    if isinstance(data, dict):
        return [s for k, v in data.items() if k not in skip for s in strings(v, skip)]
    if isinstance(data, list):
        return [s for v in data for s in strings(v, skip)]
    return [data] if isinstance(data, str) else []


class Recorder:
    """An httpx client keeping every parsed response, to check them all for answers."""

    def __init__(self, url):
        self.http = httpx.Client(base_url=url, timeout=120)
        self.responses = []

    def __call__(self, method, path, **kwargs):
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == 200, (path, response.text)
        data = response.json()
        self.responses.append((path, data))
        return data


def play(url, env_id, task, agentgym):
    """An expert episode of `task` through the server (rldojo's requests, or AgentGym's `id` ones),
    every GET endpoint after each step; returns (recorder, the local expert's actions)."""
    env_kwargs, task_field, _ = SETTINGS[env_id]
    local = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    call = Recorder(url)
    call("GET", "/")
    call("GET", "/spec")
    created = call("POST", "/create")
    env_idx = created["id"] if isinstance(created, dict) else created
    ref = {"id": env_idx} if agentgym else {"env_idx": env_idx}
    obs, info = local.reset(options={"task_id": task})
    answer = call("POST", "/reset", json={**ref, task_field if agentgym else "task_id": task})
    if not agentgym:
        assert answer["observation"] == obs  # the served world is the local one
    experts = []
    for _ in range(MAX_STEPS):
        for path in ("/observation", "/available_actions", "/instruction_text"):
            call("GET", path, params=ref)
        expert = info.get("expert_action")
        if expert is None:
            break
        experts.append(expert)
        obs, _, term, trunc, info = local.step(expert)
        answer = call("POST", "/step", json={**ref, "action": expert})
        assert answer["observation" if agentgym and "observation" in answer else "state"] is not None
        if term or trunc:
            break
    call("GET", "/list_envs")
    call("POST", "/close", json=ref)
    local.close()
    call.http.close()
    return call, experts


@pytest.fixture(scope="module", params=WORLD_PARAMS)
def world(request):
    env_id = request.param
    with start_server(env_id, env_kwargs=SETTINGS[env_id][0]) as server:
        yield env_id, server


@pytest.mark.parametrize("agentgym", [False, True], ids=["rldojo-requests", "agentgym-requests"])
def test_no_response_carries_an_answer(world, agentgym):
    env_id, server = world
    single_turn = SETTINGS[env_id][2]
    for task in (1,) if "SciWorld" in env_id else (1, 2):  # (SciWorld: a JVM round trip per request)
        call, experts = play(server.url, env_id, task, agentgym)
        assert experts, "the local env has an expert: the episode was played"
        for path, data in call.responses:
            allowed = ["expose_expert"] if path == "/spec" else []  # the server's setting (False)
            assert hidden_keys(data) == allowed, (path, hidden_keys(data))
            texts = [] if path == "/available_actions" and not single_turn else strings(data)
            for expert in experts:
                if single_turn:  # a reference answer appears nowhere, not even inside a text
                    assert not any(expert in text for text in texts), (path, expert)
                else:  # an expert move may be among the page's actions, never anywhere else
                    assert expert not in texts, (path, expert)


def test_the_expert_is_opt_in_and_only_the_expert():
    env_id = "dojo/WebShop-v0"
    local = gym.make(env_id)
    with start_server(env_id, expose_expert=True) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/spec").json()["expose_expert"] is True
        idx = http.post("/create").json()
        _, info = local.reset(options={"task_id": 9})
        answer = http.post("/reset", json={"env_idx": idx, "task_id": 9}).json()
        assert answer["info"]["expert_action"] == info["expert_action"]
        while info["expert_action"] is not None:
            expert = info["expert_action"]
            _, _, _, _, info = local.step(expert)
            answer = http.post("/step", json={"env_idx": idx, "action": expert}).json()
            assert answer["info"]["expert_action"] == info["expert_action"]
            assert hidden_keys(answer) == ["info.expert_action"]  # nothing else hidden comes with it
        assert info["won"] and answer["info"]["won"]


def test_public_info_drops_answers_at_any_depth_and_keeps_the_rest():
    info = {
        "won": True,
        "score": 1.0,
        "latest": "x",
        "contest": 1,
        "tests_passed": 3,
        "tests_total": 4,
        "expert_action": "click[buy now]",
        "reference_answer": "42",
        "solution": "x1=True",
        "hiddenTests": [[1, 2]],
        "tests": [{"input": "1", "output": "2"}],
        "test_cases": [],
        "gold_path": ["look around"],
        "details": {"answer": 1, "steps": [{"expert": "a", "ok": True}]},
    }
    kept = {"won": True, "score": 1.0, "latest": "x", "contest": 1, "tests_passed": 3, "tests_total": 4}
    assert public_info(info) == {**kept, "details": {"steps": [{"ok": True}]}}
    exposed = public_info(info, expose_expert=True)
    assert exposed["expert_action"] == "click[buy now]" and "reference_answer" not in exposed
    assert not is_hidden_key("available_actions") and is_hidden_key("Expert") and is_hidden_key("expertPlan")


# ---- invalid actions ------------------------------------------------------------------------------

NONSENSE = ["xyzzy plugh", "asdf qwer zxcv", "click[nowhere]", "", "   ", None, 42, {"go": 1}, "x" * 5000]
MULTI_TURN = ["dojo/TextCraft-v0", "dojo/BabyAI-GoToLocal-v0", "dojo/ALFWorld-v0"]


@pytest.mark.parametrize("env_id", [*MULTI_TURN, "dojo/WebShop-v0"])
def test_every_invalid_action_is_answered_alike_and_as_in_process(env_id):
    local = gym.make(env_id, disable_env_checker=True)
    with start_server(env_id) as server, httpx.Client(base_url=server.url) as http:
        idx = http.post("/create").json()
        idx = idx["id"] if isinstance(idx, dict) else idx
        local_obs, _ = local.reset(options={"task_id": 4})
        assert http.post("/reset", json={"env_idx": idx, "task_id": 4}).json()["observation"] == local_obs
        for action in NONSENSE:
            before = http.get("/observation", params={"env_idx": idx}).json()
            answer = http.post("/step", json={"env_idx": idx, "action": action}).json()
            obs, reward, term, trunc, info = local.step(action)
            assert (answer["state"], answer["reward"], answer["terminated"], answer["truncated"]) == (
                obs,
                reward,
                term,
                trunc,
            )
            assert answer["info"] == public_info(to_jsonable(info))
            assert answer["info"]["valid_action"] is False and not answer["done"], action
            if env_id == "dojo/WebShop-v0":  # the original shows the same page again, whatever the action
                # (the first observation is the instruction line, then the page)
                assert before.endswith(answer["state"]) and NOTHING_HAPPENS not in answer["state"], action
                assert answer["state"].startswith("WebShop [SEP]"), action
            else:
                assert answer["state"].startswith(NOTHING_HAPPENS), (action, answer["state"])
        assert answer["info"]["invalid_action_count"] == len(NONSENSE)
