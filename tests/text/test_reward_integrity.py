"""Reward integrity of the multi-turn worlds: play that does not do the task never counts as a success.

Each world is played by adversarial policies (empty, junk, "I do not know.", the first observation
copied back, over-long actions, every listed action in one reply, one action repeated, stop-like
words) for a whole short episode: no step may be won and the native score stays below a success.
The expert still wins, episode-ending actions that do not finish the task are failures, and
shaping bonuses never turn a failure into a success.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.text import ShapedReward, TextEnv
from rldojo.envs.text.alfworld import ALFWorldEnv
from rldojo.envs.text.babyai.env import BabyAITextEnv
from rldojo.envs.text.textcraft import TextCraftEnv
from rldojo.envs.text.webshop import WebShopEnv, purchase_reward

HAS_JAVA = shutil.which("java") is not None
SCIWORLD_TASK = "lifespan-longest-lived"  # gold path of 4 actions, loads in about a second
TURNS = 10


def _sciworld() -> TextEnv:
    from rldojo.envs.text.sciworld import SciWorldEnv

    return SciWorldEnv(max_turns=TURNS, tasks=[SCIWORLD_TASK])


WORLDS: dict[str, Callable[[], TextEnv]] = {
    "textcraft": lambda: TextCraftEnv(max_turns=TURNS),
    "babyai": lambda: BabyAITextEnv("GoToLocal", max_turns=TURNS),
    "webshop": lambda: WebShopEnv(max_turns=TURNS),
    "alfworld": lambda: ALFWorldEnv(max_turns=TURNS),
    "sciworld": _sciworld,
}
TASK_IDS = {"textcraft": [3, 200], "babyai": [1, 7], "webshop": [0, 1234], "alfworld": [2, 5], "sciworld": [0]}
# A valid action that changes nothing, repeated every turn.
NO_OP = {
    "textcraft": "inventory",
    "babyai": "check available actions",
    "webshop": "click[back to search]",
    "alfworld": "look",
    "sciworld": "look around",
}
STOP_WORDS = ["done", "stop", "quit", "exit", "finish", "submit", "I am done.", "end episode", "task complete"]

# policy(first observation, current info, turn, world) -> action
POLICIES: dict[str, Callable[[str, dict, int, str], str]] = {
    "empty": lambda first, info, turn, world: "",
    "junk": lambda first, info, turn, world: "qzx vvk 17 ## @@",
    "i_do_not_know": lambda first, info, turn, world: "I do not know.",
    "prompt_copied": lambda first, info, turn, world: first,
    "overlong": lambda first, info, turn, world: "look around " * 400,
    "every_listed_action_at_once": lambda first, info, turn, world: "\n".join(info["available_actions"]) or first,
    "expert_action_repeated_in_one_reply": lambda first, info, turn, world: " ".join(
        [info.get("expert_action") or "look"] * 20
    ),
    "same_action_every_turn": lambda first, info, turn, world: NO_OP[world],
    "stop_words": lambda first, info, turn, world: STOP_WORDS[turn % len(STOP_WORDS)],
}
# Policies whose every action must be refused as invalid (and so never end the episode).
ALWAYS_INVALID = {"empty", "junk", "i_do_not_know", "overlong", "stop_words"}


@pytest.fixture(scope="module", params=list(WORLDS))
def world(request):
    name = request.param
    if name == "sciworld" and not HAS_JAVA:
        pytest.skip("ScienceWorld needs Java 17 (no `java` on PATH)")
    env = WORLDS[name]()
    yield name, env
    env.close()


def play(env: TextEnv, task_id: int, policy: Callable[[str, dict, int], str]) -> tuple[list[tuple], dict]:
    """One episode; returns each step's (action, reward, terminated, info) and the last info."""
    first, info = env.reset(seed=0, options={"task_id": task_id})
    steps = []
    for turn in range(TURNS):
        action = policy(first, info, turn)
        _, reward, terminated, truncated, info = env.step(action)
        steps.append((action, reward, terminated, info))
        if terminated or truncated:
            break
    return steps, info


@pytest.mark.parametrize("policy", list(POLICIES))
def test_adversarial_play_never_succeeds(world, policy):
    name, env = world
    for task_id in TASK_IDS[name]:
        steps, last = play(env, task_id, lambda first, info, turn: POLICIES[policy](first, info, turn, name))
        assert not any(info["won"] for *_, info in steps), (name, task_id, policy)
        assert last["score"] < 1.0 and sum(reward for _, reward, _, _ in steps) < 1.0
        if policy in ALWAYS_INVALID:
            assert not any(info["valid_action"] for *_, info in steps), (name, policy, steps[0][0][:80])
            assert not any(terminated for _, _, terminated, _ in steps)  # refusing never ends the episode


def test_the_expert_still_wins(world):
    name, env = world
    for task_id in TASK_IDS[name]:
        _, info = env.reset(seed=0, options={"task_id": task_id})
        env_turns, env.max_turns = env.max_turns, 60  # the expert needs more turns than the attacks get
        try:
            done = False
            while not done and info["expert_action"] is not None:
                _, reward, terminated, truncated, info = env.step(info["expert_action"])
                done = terminated or truncated
        finally:
            env.max_turns = env_turns
        assert info["won"] and info["score"] > 0, (name, task_id)


def test_shaping_never_turns_a_failure_into_a_success(world):
    name, env = world
    weights = dict(valid_action=1.0, state_change=1.0, task_keyword=1.0, time_efficiency=1.0, action_efficiency=1.0)
    shaped = ShapedReward(env, weights)
    for policy in ("same_action_every_turn", "junk", "every_listed_action_at_once"):
        first, info = shaped.reset(seed=0, options={"task_id": TASK_IDS[name][0]})
        bonus = 0.0
        for turn in range(TURNS):
            _, reward, terminated, truncated, info = shaped.step(POLICIES[policy](first, info, turn, name))
            assert not info["won"] and info["native_reward"] <= 0.0
            assert info["shaping_terms"]["time_efficiency"] == 0.0  # paid only on winning steps
            bonus += info["shaping_bonus"]
            if terminated or truncated:
                break
        assert info["score"] == 0.0
        if policy == "same_action_every_turn":
            assert bonus > 0  # the bonuses were paid (see the docs' caveat), the world still says failure


# ---- episode-ending actions that are not a finished task ----------------------------------------


def test_webshop_buying_a_partial_match_ends_the_episode_as_a_failure():
    env = WebShopEnv(max_turns=TURNS)
    for task_id in range(0, 3600, 180):
        goal = env.catalog.goals[task_id]
        # the top result for the instruction, bought at once without choosing options
        env.reset(options={"task_id": task_id})
        info = env.step(f"search[{goal.instruction}]")[4]
        pages = ("click[back to search]", "click[< prev]", "click[next >]")
        env.step(next(a for a in info["available_actions"] if a not in pages))
        _, reward, terminated, truncated, info = env.step("click[buy now]")
        assert terminated and not truncated and not info["won"] and reward < 1.0 and info["score"] == reward
        # the goal's own product, bought without its options: the partial credit is the reward, not a success
        target = env.catalog.products[goal.product_index]
        assert purchase_reward(target, goal, {}).total < 1.0


def test_webshop_success_is_the_full_purchase_reward():
    env = WebShopEnv(max_turns=TURNS)
    _, info = env.reset(options={"task_id": 7})
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        done = terminated or truncated
    assert info["won"] and reward == 1.0 and env.purchase_info()["total"] == 1.0


def _buy_the_top_result(first: str, info: dict, turn: int) -> str:
    if turn == 0:
        return f"search[{info['instruction']}]"
    pages = ("click[back to search]", "click[< prev]", "click[next >]")
    return next(a for a in info["available_actions"] if a not in pages) if turn == 1 else "click[buy now]"


# Actions that end an episode before the task is done (TextCraft, ALFWorld and GoToLocal have none).
EARLY_ENDINGS = {"webshop": _buy_the_top_result, "sciworld": lambda first, info, turn: "focus on agent"}


@pytest.mark.parametrize("name", sorted(EARLY_ENDINGS))
def test_ending_an_episode_early_is_a_failure(name):
    if name == "sciworld" and not HAS_JAVA:
        pytest.skip("ScienceWorld needs Java 17 (no `java` on PATH)")
    env = WORLDS[name]()
    try:
        steps, last = play(env, TASK_IDS[name][0], EARLY_ENDINGS[name])
    finally:
        env.close()
    assert steps[-1][2] and len(steps) < TURNS  # terminated early
    assert not last["won"] and last["score"] < 1.0 and sum(reward for _, reward, _, _ in steps) < 1.0


def test_alfworld_a_bare_number_names_no_receptacle():
    env = ALFWorldEnv(max_turns=TURNS)
    _, info = env.reset(options={"task_id": 2})
    go_to = next(a for a in info["available_actions"] if a.startswith("go to ") and a.endswith(" 1"))
    for action in ("go to 1", "go to 1, 2", "go to ,"):
        assert not env.step(action)[4]["valid_action"], action
    assert env.step(go_to.removesuffix(" 1"))[4]["valid_action"]  # a receptacle's name still finds it
    env.close()
