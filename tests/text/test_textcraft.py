"""dojo/TextCraft-v0: recipe book, planner, commands, determinism, expert, shaping, bad input."""

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.text import NOTHING_HAPPENS, ShapedReward
from rldojo.envs.text.textcraft import TextCraftEnv, default_book, plan
from rldojo.envs.text.textcraft.recipes import RecipeBook, parse_recipes


def start(goal, **kwargs):
    env = TextCraftEnv(**kwargs)
    obs, info = env.reset(seed=0, options={"task_id": env.tasks.index(goal)})
    return env, obs, info


def test_shipped_recipe_book_is_large_deep_and_acyclic():
    book = default_book()
    assert len(book.items) >= 200 and len(book.recipes) >= 200
    assert max(book.depth.values()) == 4
    assert {book.depth[i] for i in book.recipes} == {1, 2, 3, 4}
    # By hand: oak log (0) -> oak planks (1) -> oak slab (2); sugar cane -> paper (1) -> book (2)
    # -> bookshelf (3) -> lectern (4).
    assert [book.depth[i] for i in ("oak log", "oak planks", "oak slab", "book", "bookshelf", "lectern")] == [
        0,
        1,
        2,
        2,
        3,
        4,
    ]
    assert "oak log" in book.raw_materials and "stick" not in book.raw_materials


def test_recipe_parser_reports_bad_lines_and_cycles():
    assert parse_recipes("# c\n4 stick <- 2 oak planks  # why\n")[0].ingredients == (("oak planks", 2),)
    with pytest.raises(ValueError, match="line 1"):
        parse_recipes("stick from planks")
    with pytest.raises(ValueError, match="cycle"):
        RecipeBook(parse_recipes("1 a <- 1 b\n1 b <- 1 a"))


def test_planner_by_hand():
    book = default_book()
    assert plan(book, "stick", {}) == [
        "get 1 oak log",
        "craft 4 oak planks using 1 oak log",
        "craft 4 stick using 2 oak planks",
    ]
    # Leftovers are used: 3 planks in hand need no log; a stick in hand needs nothing.
    assert plan(book, "stick", {"oak planks": 3}) == ["craft 4 stick using 2 oak planks"]
    assert plan(book, "stick", {"stick": 1}) == []
    # 3 sticks + 3 planks for a wooden pickaxe: one log gives 4 planks, 2 of them become 4 sticks.
    assert plan(book, "wooden pickaxe", {}) == [
        "get 1 oak log",
        "craft 4 oak planks using 1 oak log",
        "get 1 oak log",
        "craft 4 oak planks using 1 oak log",
        "craft 4 stick using 2 oak planks",
        "craft 1 wooden pickaxe using 3 oak planks, 2 stick",
    ]


def test_first_observation_lists_the_tree_and_distractors():
    env, obs, info = start("stick", num_distractors=5)
    assert obs.startswith("Goal: craft stick.\nCrafting commands:\n") and info["instruction"] == "Goal: craft stick."
    lines = obs.splitlines()[2:]
    assert len(lines) == 2 + 5
    assert "craft 4 oak planks using 1 oak log" in lines and "craft 4 stick using 2 oak planks" in lines
    assert info["available_actions"] == sorted(
        {"inventory", "get 1 oak log"} | {a for a in info["available_actions"] if a.startswith("get ")}
    )
    assert info["expert_action"] == "get 1 oak log"


def test_commands_inventory_rewards_and_invalid_answers():
    env, obs, info = start("stick")
    steps = [
        ("get 1 stick", "Could not find stick to get; it is crafted, not a raw material.", False),
        ("get 2 unobtainium", "Could not find unobtainium.", False),
        ("dance", f"{NOTHING_HAPPENS} Commands: get N item | craft N item using N a, N b | inventory.", False),
        ("Get 2 minecraft:oak_logs", "Got 2 oak log.", True),
        (
            "craft 3 oak planks using 1 oak log",
            "Could not find a valid recipe for 3 oak planks using 1 oak log.",
            False,
        ),
        (
            "craft 12 oak planks using 3 oak log",
            "Could not find enough items to craft 12 oak planks: need 1 more oak log.",
            False,
        ),
        ("craft 8 oak planks using 2 oak log", "Crafted 8 oak planks.", True),
        ("inventory", "Inventory: 8 oak planks.", True),
    ]
    for action, answer, valid in steps:
        obs, reward, term, trunc, info = env.step(action)
        assert (obs, info["valid_action"], reward, term) == (answer, valid, 0.0, False)
    assert info["invalid_action_count"] == 5 and info["valid_action_count"] == 3 and info["turn"] == 8
    assert "craft 4 stick using 2 oak planks" in info["available_actions"]
    obs, reward, term, trunc, info = env.step("craft 4 stick using 2 oak planks")
    assert (obs, reward, term, info["won"], info["score"]) == ("Crafted 4 stick.", 1.0, True, True, 1.0)


def test_reset_and_step_are_deterministic_for_a_seed_and_task():
    def episode(seed, task_id):
        env = gym.make("dojo/TextCraft-v0")
        out = [env.reset(seed=seed, options={"task_id": task_id})]
        for action in ["inventory", "get 1 oak log", "craft 4 oak planks using 1 oak log", "jump"]:
            out.append(env.step(action))
        return repr(out)

    assert episode(3, 100) == episode(3, 100)
    assert episode(3, 100) != episode(3, 101)
    env = TextCraftEnv()
    first = [env.reset(seed=s)[0] for s in range(10)]
    assert first == [env.reset(seed=s)[0] for s in range(10)]


def test_tasks_are_sampled_by_depth():
    book = default_book()
    env = TextCraftEnv()
    for depth in (1, 2, 3, 4):
        goals = {env.reset(seed=s, options={"depth": depth})[1]["instruction"] for s in range(5)}
        assert all(book.depth[g.removeprefix("Goal: craft ").rstrip(".")] == depth for g in goals)
    only_deep = TextCraftEnv(depths=(4,))
    for seed in range(5):
        only_deep.reset(seed=seed)
        assert book.depth[only_deep.goal] == 4
    with pytest.raises(EnvInputError, match="depths"):
        TextCraftEnv(depths=(7,))
    with pytest.raises(EnvInputError, match="unknown task_id"):
        env.reset(options={"task_id": env.num_tasks})


def test_expert_solves_sampled_tasks_of_every_depth():
    env = gym.make("dojo/TextCraft-v0")
    rng = np.random.default_rng(0)
    task_ids = rng.choice(env.unwrapped.num_tasks, size=60, replace=False)
    for task_id in task_ids:
        obs, info = env.reset(seed=int(task_id), options={"task_id": int(task_id)})
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            assert info["valid_action"], obs
            done = term or trunc
        assert info["won"] and reward == 1.0, info["instruction"]


def test_expert_recovers_after_a_detour():
    env, obs, info = start("wooden pickaxe")
    for action in ["get 5 oak log", "craft 8 oak planks using 2 oak log", "get 7 cobblestone"]:
        env.step(action)
    info = env.step("inventory")[4]
    assert info["expert_action"] == "craft 4 stick using 2 oak planks"


def test_shaping_on_a_scripted_textcraft_episode():
    env = ShapedReward(TextCraftEnv(max_turns=10), dict(valid_action=0.1, task_keyword=0.5, time_efficiency=1.0))
    env.reset(seed=0, options={"task_id": env.unwrapped.tasks.index("stick")})
    rewards = [env.step(a)[1] for a in ["get 1 oak log", "dance", "craft 4 oak planks using 1 oak log"]]
    *_, info = env.step("craft 4 stick using 2 oak planks")
    # valid 0.1 each; "stick" is the only keyword of "Goal: craft stick."; win on turn 4 of 10.
    assert rewards == pytest.approx([0.1, 0.0, 0.1])
    assert info["native_reward"] == 1.0 and info["shaping_bonus"] == pytest.approx(0.1 + 0.5 + 0.6)
    assert info["won"] is True


@pytest.mark.parametrize(
    "action",
    [
        "",
        "x" * 1_000_000,
        "\x00\x1b\x7f",
        "get 1e9 oak log",
        "get 99999 oak log",
        "craft 0 stick using 0 oak planks",
        "get -1 oak log",
        "𝔤𝔢𝔱 1 oak log",
    ],
)
def test_bad_input_never_raises(action):
    env = gym.make("dojo/TextCraft-v0")
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(action)
    if action == "𝔤𝔢𝔱 1 oak log":  # NFKC maps the fraktur letters to "get"
        assert info["valid_action"] and obs == "Got 1 oak log."
    else:
        assert not info["valid_action"] and reward == 0.0 and not term and obs
    assert env.observation_space.contains(obs)


def test_gymnasium_checker_passes():
    from gymnasium.utils.env_checker import check_env

    check_env(TextCraftEnv(), skip_render_check=True)


def test_vector_env_plays_different_tasks_or_one_task_for_a_group():
    from rldojo.envs import make_vec

    venv = make_vec("dojo/TextCraft-v0", 3, vectorize="sync")
    obs, infos = venv.reset(seed=10)
    assert len(set(infos["task_id"])) > 1  # seeds 10, 11, 12 sample their own tasks
    obs, infos = venv.reset(seed=10, options={"task_id": 7})
    assert list(infos["task_id"]) == [7, 7, 7] and len(set(obs)) == 1
    actions = tuple(infos["expert_action"])
    obs, rewards, terms, truncs, infos = venv.step(actions)
    assert all(infos["valid_action"]) and list(infos["turn"]) == [1, 1, 1]
    venv.close()
