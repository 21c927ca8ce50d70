"""dojo/ALFWorld-v0: generated scenes on TextWorld's PDDL engine, commands, expert, real-data path."""

import json

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.text import NOTHING_HAPPENS, ShapedReward
from rldojo.envs.text.alfworld import TASK_TYPES, ALFWorldEnv, generate_scene, write_alfworld_game
from rldojo.envs.text.alfworld.engine import display_names
from rldojo.envs.text.alfworld.scenes import default_catalogue, instruction_for


@pytest.fixture(scope="module")
def env():
    env = ALFWorldEnv(max_turns=30)
    yield env
    env.close()


def play_expert(env, **reset_kwargs):
    obs, info = env.reset(**reset_kwargs)
    assert not env.unwrapped.game.won  # the engine itself: not won at the start
    done = False
    while not done:
        assert info["expert_action"] in info["available_actions"], (info["instruction"], info["expert_action"])
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        assert info["valid_action"], obs
        done = term or trunc
    return reward, info


def test_catalogue_and_scenes_cover_alfworld_task_types_and_never_start_won():
    cat = default_catalogue()
    assert {"fridge", "microwave", "sinkbasin", "countertop", "cabinet", "drawer", "desk"} <= set(cat.receptacles)
    assert cat.receptacles["fridge"].openable and not cat.receptacles["countertop"].openable
    assert "heat" in cat.objects["potato"].abilities and "toggle" in cat.objects["desklamp"].abilities
    for task_id in range(12):
        scene = generate_scene(task_id)
        assert scene.goal.task_type == TASK_TYPES[task_id % 6]
        assert scene == generate_scene(task_id)  # a pure function of the task id
        # the goal's objects never start in a receptacle of the goal's type
        if scene.goal.recep:
            assert f"inReceptacle {scene.goal.obj}_1 {scene.goal.recep}_" not in scene.problem
    only = generate_scene(5, task_types=("pick_heat_then_place_in_recep",))
    assert only.goal.task_type == "pick_heat_then_place_in_recep" and only.room == "kitchen"
    assert "Your task is to: " + only.instruction in only.game()["grammar"]


def test_first_observation_commands_and_invalid_answers(env):
    obs, info = env.reset(seed=0, options={"task_id": 3})  # a heat task
    assert info["instruction"].startswith("Your task is to: ") and obs.startswith(info["instruction"] + "\n")
    assert "You are in the middle of a room. Looking quickly around you, you see a cabinet 1" in obs
    assert "Welcome" not in obs and "UNKNOWN GOAL" not in obs
    actions = info["available_actions"]
    assert {"look", "inventory", "help"} <= set(actions) and "go to microwave 1" in actions
    obs, reward, term, trunc, info = env.step("take the moon from the sky")
    assert (obs, reward, term, info["valid_action"]) == (NOTHING_HAPPENS, 0.0, False, False)
    obs, *_, info = env.step("inventory")
    assert obs == "You are not carrying anything." and info["valid_action"]
    obs, *_, info = env.step("go to microwave 1")
    assert obs == "You arrive at microwave 1. The microwave 1 is closed."
    obs, *_, info = env.step("Open Microwave 1.")  # case and the final period are forgiven
    assert obs.startswith("You open the microwave 1. The microwave 1 is open. In it, you see")
    assert "close microwave 1" in info["available_actions"]
    obs, *_, info = env.step("look")
    assert obs == "You are facing the microwave 1. Next to it, you see nothing."
    assert info["invalid_action_count"] == 1 and info["valid_action_count"] == 4


def test_scripted_episode_by_hand():
    env = ALFWorldEnv(task_types=("pick_heat_then_place_in_recep",))
    env.reset(seed=0, options={"task_id": 0})
    scene = env.scene
    goal = scene.goal
    # Find where an object of the goal's kind lies, from the scene's own problem text.
    holder = next(
        line.split()[2].rstrip(")")
        for line in scene.problem.splitlines()
        if line.strip().startswith(f"(inReceptacle {goal.obj}_1 ")
    )
    thing, place = f"{goal.obj} 1", holder.replace("_", " ")
    script = [f"go to {place}"]
    if default_catalogue().receptacles[holder.rsplit("_", 1)[0]].openable:
        script.append(f"open {place}")
    script += [
        f"take {thing} from {place}",
        "go to microwave 1",
        f"heat {thing} with microwave 1",
        f"examine {thing}",
        f"go to {goal.recep} 1",
    ]
    if default_catalogue().receptacles[goal.recep].openable:
        script.append(f"open {goal.recep} 1")
    answers = [env.step(a) for a in script]
    assert all(info["valid_action"] for *_, info in answers), [a[0] for a in answers]
    assert answers[script.index(f"take {thing} from {place}")][0] == f"You pick up the {thing} from the {place}."
    assert answers[script.index(f"heat {thing} with microwave 1")][0] == f"You heat the {thing} using the microwave 1."
    assert answers[script.index(f"examine {thing}")][0] == f"This is a hot {thing}."
    obs, reward, term, trunc, info = env.step(f"put {thing} on {goal.recep} 1")  # "put X on Y" means in/on
    assert obs == f"You put the {thing} in/on the {goal.recep} 1."
    assert (reward, term, info["won"], info["score"]) == (1.0, True, True, 1.0)
    env.close()


def test_expert_solves_every_task_type(env):
    for task_id in range(6):
        reward, info = play_expert(env, seed=task_id, options={"task_id": task_id})
        assert info["won"] and reward == 1.0, info["instruction"]


def test_expert_recovers_after_a_detour(env):
    obs, info = env.reset(seed=0, options={"task_id": 5})  # pick two
    rng = np.random.default_rng(0)
    for _ in range(6):
        actions = [a for a in info["available_actions"] if a.startswith(("take", "go to", "open"))]
        obs, reward, term, trunc, info = env.step(actions[rng.integers(len(actions))])
    done = term or trunc
    while not done:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        done = term or trunc
    assert info["won"]


def test_reset_and_step_are_deterministic_for_a_seed_and_task(env):
    def episode(seed, task_id):
        out = [env.reset(seed=seed, options={"task_id": task_id})]
        rng = np.random.default_rng(seed)
        for _ in range(6):
            actions = out[-1][-1]["available_actions"]
            out.append(env.step(actions[rng.integers(len(actions))]))
        return repr(out)

    assert episode(1, 7) == episode(1, 7)
    assert episode(1, 7) != episode(1, 8)
    picked = [env.reset(seed=s)[1]["task_id"] for s in range(4)]
    assert picked == [env.reset(seed=s)[1]["task_id"] for s in range(4)]


def test_task_types_are_selectable_and_bad_arguments_are_answered():
    heat_env = ALFWorldEnv(task_types=[4])  # ALFWorld's id of pick_heat_then_place_in_recep
    assert heat_env.task_types == ("pick_heat_then_place_in_recep",)
    env = ALFWorldEnv(task_types=("pick_and_place_simple", "look_at_obj_in_light"))
    for seed in range(2):
        info = env.reset(seed=seed, options={"task_type": "look_at_obj_in_light"})[1]
        assert env.goal.task_type == "look_at_obj_in_light" and "desklamp" in info["instruction"]
    with pytest.raises(EnvInputError, match="unknown ALFWorld task type"):
        ALFWorldEnv(task_types=["make_coffee"])
    with pytest.raises(EnvInputError, match="source"):
        ALFWorldEnv(source="internet")
    with pytest.raises(EnvInputError, match="ALFWORLD_DATA"):
        ALFWorldEnv(source="alfworld", data_path="")
    with pytest.raises(EnvInputError, match="unknown task_id"):
        env.reset(options={"task_id": -1})
    for e in (heat_env, env):
        e.close()


@pytest.mark.parametrize("action", ["", "x" * 1_000_000, "\x00\x1b", "go to", "put", "take apple 1 from", "ｌｏｏｋ"])
def test_bad_input_never_raises(env, action):
    env.reset(seed=0, options={"task_id": 0})
    obs, reward, term, trunc, info = env.step(action)
    if action == "ｌｏｏｋ":  # NFKC maps fullwidth letters to "look"
        assert info["valid_action"]
    else:
        assert not info["valid_action"] and reward == 0.0 and not term and obs.startswith(NOTHING_HAPPENS)
    assert env.observation_space.contains(obs)


def test_shaping_on_a_scripted_alfworld_episode(env):
    shaped = ShapedReward(env, dict(valid_action=0.1, time_efficiency=1.0))
    obs, info = shaped.reset(seed=0, options={"task_id": 0})
    rewards = [shaped.step("dance")[1]]
    done = False
    while not done:
        obs, reward, term, trunc, info = shaped.step(info["expert_action"])
        rewards.append(reward)
        done = term or trunc
    assert rewards[0] == 0.0 and all(r == pytest.approx(0.1) for r in rewards[1:-1])
    assert info["won"] and info["native_reward"] == 1.0


def test_alfworld_names_and_real_data_layout(tmp_path):
    # ALFWorld's mangled ids get its display names, numbered per kind from the count down.
    ids = [
        "apple_bar__minus_01_dot_20_bar__plus_00_dot_90",
        "apple_bar__plus_00_dot_10_bar__plus_00_dot_90",
        "sink_bar__minus_01_dot_99_bar__plus_01_dot_14_bar_sinkbasin",
        "mug_3",
        "agent1",
    ]
    assert display_names(ids) == {
        "apple_bar__minus_01_dot_20_bar__plus_00_dot_90": "apple 2",
        "apple_bar__plus_00_dot_10_bar__plus_00_dot_90": "apple 1",
        "sink_bar__minus_01_dot_99_bar__plus_01_dot_14_bar_sinkbasin": "sinkbasin 1",
        "mug_3": "mug 3",
        "agent1": "agent1",
    }
    # A small ALFWorld data folder made here, in ALFWorld's layout, with ALFWorld-style ids.
    root = tmp_path / "alfworld_data"
    for split, task_ids in (("train", (0, 2)), ("valid_seen", (6,)), ("valid_unseen", (1,))):
        for task_id in task_ids:
            scene = generate_scene(task_id)
            for entity in sorted(set(scene.objects + scene.receptacles), key=len, reverse=True):
                kind, number = entity.rsplit("_", 1)
                scene.problem = scene.problem.replace(f" {entity} ", f" {kind}_bar__plus_0{number}_dot_00 ")
                scene.problem = scene.problem.replace(f" {entity})", f" {kind}_bar__plus_0{number}_dot_00)")
            folder = root / "json_2.1.1" / split / f"{scene.goal.task_type}-{task_id}" / "trial_T0"
            write_alfworld_game(scene, folder)
    skipped = write_alfworld_game(generate_scene(3), root / "json_2.1.1" / "train" / "pick_x-Sliced-3" / "trial_T0")
    unsolvable = write_alfworld_game(generate_scene(4), root / "json_2.1.1" / "train" / "pick-4" / "trial_T0")
    data = json.loads((unsolvable / "game.tw-pddl").read_text())
    (unsolvable / "game.tw-pddl").write_text(json.dumps(dict(data, solvable=False)))
    assert skipped.is_dir()

    env = gym.make("dojo/ALFWorld-v0", source="alfworld", data_path=str(root), split="train")
    assert env.unwrapped.num_tasks == 2
    for task_id in range(2):
        reward, info = play_expert(env, seed=0, options={"task_id": task_id})
        assert info["won"] and reward == 1.0
    assert "UNKNOWN GOAL" not in info["instruction"]
    with pytest.raises(EnvInputError, match="unknown task_id"):
        env.reset(options={"task_id": 2})
    env.close()
    seen = ALFWorldEnv(source="alfworld", data_path=str(root), split="valid_seen")
    obs, info = seen.reset(seed=0)
    assert seen.num_tasks == 1 and seen.goal.task_type == TASK_TYPES[0]
    goal = generate_scene(6).goal  # the task sentence is one of the task type's two phrasings
    assert info["instruction"] in {f"Your task is to: {instruction_for(goal, i)}." for i in (0, 1)}
    seen.close()
    with pytest.raises(EnvInputError, match="split"):
        ALFWorldEnv(source="alfworld", data_path=str(root), split="test")


def test_gymnasium_checker_passes():
    from gymnasium.utils.env_checker import check_env

    env = ALFWorldEnv()
    check_env(env, skip_render_check=True)
    env.close()


def test_engine_speedups_change_no_text():
    # rldojo's FastPddlEnv (one translation per game, commands formatted directly) against
    # TextWorld's own PddlEnv on the same game and the same random commands.
    from textworld import EnvInfos
    from textworld.envs.pddl import PddlEnv

    from rldojo.envs.text.alfworld.engine import HouseholdGame

    game = generate_scene(9).game()
    fast = HouseholdGame()
    fast.load(game)
    feedback, admissible = fast.reset()
    stock = PddlEnv(EnvInfos(admissible_commands=True))
    stock.load(game)
    for entity, info in stock._entity_infos.items():
        info.name = fast.names[entity]
    state = stock.reset()
    assert (state.feedback, state["admissible_commands"]) == (feedback, admissible)
    rng = np.random.default_rng(0)
    for _ in range(12):
        command = admissible[rng.integers(len(admissible))]
        feedback, won, admissible = fast.step(command)
        state, _, _ = stock.step(command)
        assert (state.feedback, state["admissible_commands"], bool(state["won"])) == (feedback, admissible, won)
