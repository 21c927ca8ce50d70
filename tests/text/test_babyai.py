"""dojo/BabyAI-<Level>-v0: view text, high-level actions, sub-goal reward, bot expert, bad input."""

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.text import NOTHING_HAPPENS, ShapedReward
from rldojo.envs.text.babyai import LEVELS

REQUIRED = ("GoToRedBall", "GoToLocal", "PickupLoc", "PutNextLocal", "Open", "BossLevel")


def make(level):
    return gym.make(f"dojo/BabyAI-{level}-v0").unwrapped


def play_expert(env, task_id, first_actions=()):
    obs, info = env.reset(seed=task_id, options={"task_id": task_id})
    for action in first_actions:
        obs, reward, term, trunc, info = env.step(action)
    done = False
    while not done and info["expert_action"] is not None:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        assert info["valid_action"], (info["instruction"], obs)
        done = term or trunc
    return info


def test_required_levels_are_registered():
    assert set(REQUIRED) <= set(LEVELS)
    for level in LEVELS:
        assert f"dojo/BabyAI-{level}-v0" in gym.registry


def test_view_text_matches_the_grid():
    env = make("GoToLocal")
    obs, info = env.reset(seed=0, options={"task_id": 3})
    assert obs.startswith(f"Your mission: {env.world.mission}.")
    assert info["instruction"] == f"Your mission: {env.world.mission}."
    base = env.world
    pos, fwd, right = np.asarray(base.agent_pos), base.dir_vec, base.right_vec
    listed = [line for line in obs.splitlines() if line.startswith("- ")]
    assert listed and len(listed) == len(env._objects)
    for line in listed:
        name, where = line[2:].split(": ")
        words = where.replace(" and", "").split()
        ahead = int(words[0]) if "ahead" in words else (1 if where == "right in front of you" else 0)
        side = int(words[words.index("to") - 2]) if "to" in words else 0
        side = -side if "left" in words else side
        x, y = pos + fwd * ahead + right * side
        cell = base.grid.get(int(x), int(y))
        color, kind = name.split()[:2]
        assert (cell.color, cell.type) == (color, kind), line
    assert "You are not carrying anything." in obs and obs.endswith(f"Mission: {base.mission}.")


def test_high_level_actions_move_the_agent_as_named():
    env = make("GoToLocal")
    env.reset(seed=0, options={"task_id": 3})
    red_box = next(o for o in env._objects if o.name == "red box 1")
    obs, reward, term, trunc, info = env.step("pick up the red box 1")
    assert info["valid_action"] and env.world.carrying.type == "box" and env.world.carrying.color == "red"
    assert "You are carrying a red box." in obs and env.world.grid.get(*red_box.pos) is None
    obs, reward, term, trunc, info = env.step("drop")
    front = env.world.grid.get(*env.world.front_pos)
    assert info["valid_action"] and env.world.carrying is None and (front.type, front.color) == ("box", "red")
    obs, reward, term, trunc, info = env.step("go to red key")
    front = env.world.grid.get(*env.world.front_pos)
    assert (front.type, front.color) == ("key", "red")
    assert term and info["won"] and "The task is completed." in obs  # the mission was "go to the red key"
    # minigrid's success reward: 1 - 0.9 * primitive steps / max_steps.
    assert reward == pytest.approx(1 - 0.9 * env.world.step_count / env.world.max_steps)
    assert info["score"] == pytest.approx(reward)


def test_invalid_actions_are_answered_and_change_nothing():
    env = make("GoToLocal")
    env.reset(seed=0, options={"task_id": 3})
    before = (tuple(env.world.agent_pos), env.world.agent_dir, env.world.step_count)
    answers = {
        "go to the purple unicorn": "You do not see purple unicorn here.",
        "toggle": "There is nothing to toggle in front of you.",
        "drop": "You are not carrying anything.",
        "go through red box 1": "The red box 1 is not a door.",
        "fly away": "Actions: turn left",
        "pick up red box 9": "You do not see red box 9 here.",
    }
    for action, answer in answers.items():
        obs, reward, term, trunc, info = env.step(action)
        assert obs.startswith(NOTHING_HAPPENS) and answer in obs and not info["valid_action"]
    assert (tuple(env.world.agent_pos), env.world.agent_dir, env.world.step_count) == before
    assert info["invalid_action_count"] == len(answers)
    obs, *_ = env.step("check available actions")
    assert obs.startswith("You can: turn left, turn right")


def test_doors_must_be_opened_before_going_through():
    env = make("Open")
    walked_through = 0
    for task_id in range(40):
        env.reset(seed=task_id, options={"task_id": task_id})
        doors = [o for o in env._objects if o.kind == "door" and o.state == "closed"]
        if not doors or env._paths.to_face(doors[0].pos) is None:
            continue
        door = doors[0]
        obs, *_, info = env.step(f"go through {door.name}")
        assert "closed; go to it and toggle it first" in obs and not info["valid_action"]
        env.step(f"go to {door.name}")
        *_, info = env.step("toggle")
        assert env.world.grid.get(*door.pos).is_open
        if info["won"]:  # that door was the mission's
            continue
        obs, reward, term, trunc, info = env.step(f"go through {door.name}")
        assert info["valid_action"]
        x, y = door.pos
        ax, ay = env.world.agent_pos
        if (ax, ay) == (x, y):  # something stands right behind the door
            assert not env.world.grid.get(*env.world.front_pos).can_overlap()
        else:
            assert abs(ax - x) + abs(ay - y) == 1  # stepped out of the doorway, on the far side
            walked_through += 1
    assert walked_through >= 3


def test_same_seed_and_task_give_the_same_episode():
    def episode(seed, task_id):
        env = gym.make("dojo/BabyAI-GoToLocal-v0")
        out = [env.reset(seed=seed, options={"task_id": task_id})]
        for action in ["turn left", "move forward", "check available actions", "turn right", "move forward"]:
            out.append(env.step(action))
        return repr(out)

    assert episode(0, 11) == episode(0, 11) == episode(5, 11)
    assert episode(0, 11) != episode(0, 12)


@pytest.mark.parametrize(
    "level, tasks",
    [("GoToRedBall", 6), ("GoToLocal", 6), ("PickupLoc", 6), ("PutNextLocal", 6), ("Open", 3), ("BossLevel", 2)],
)
def test_bot_expert_solves_sampled_tasks(level, tasks):
    env = make(level)
    for task_id in range(100, 100 + tasks):
        info = play_expert(env, task_id)
        assert info["won"], (level, task_id, info["instruction"])


def test_expert_still_wins_after_a_detour():
    env = make("PutNextLocal")
    wins = [play_expert(env, t, ["turn left", "move forward", "turn left", "move forward"])["won"] for t in range(5)]
    assert all(wins)


def test_sequenced_missions_pay_sub_goal_credit():
    env = make("GoToSeq")
    info = play_expert(env, 1)  # "go to a red door and go to a purple door": 2 parts
    assert env._parts == 2 and info["won"]
    credits = [r for r in info["step_rewards"] if r > 0]
    success = 1 - 0.9 * env.world.step_count / env.world.max_steps
    assert credits == pytest.approx([0.5, success / 2])
    assert info["score"] == pytest.approx(0.5 + success / 2)


def test_shaping_on_a_scripted_babyai_episode():
    env = ShapedReward(make("GoToLocal"), dict(valid_action=0.1, state_change=0.01, task_keyword=0.2))
    env.reset(seed=0, options={"task_id": 3})  # "go to the red key"
    _, r0, *_ = env.step("turn left")  # valid, view changes, no keyword
    _, r1, *_ = env.step("turn right")  # the same, and the red key is back in view
    _, r2, *_ = env.step("toggle")  # invalid, answer differs from the view
    _, r3, *_ = env.step("toggle")  # invalid, same answer again
    _, r4, term, _, info = env.step("go to red key")  # valid, changes, names "red" and "key"
    assert [r0, r1, r2, r3] == pytest.approx([0.11, 0.11, 0.01, 0.0])
    assert info["won"] and r4 == pytest.approx(info["native_reward"] + 0.31)


@pytest.mark.parametrize(
    "action",
    [
        "",
        "x" * 1_000_000,
        "\x00\x1b",
        "go to",
        "pick up 3",
        "go to red ball 0",
        "go to red ball 99999999999999999999",
        "🧸 go to 🧸",
    ],
)
def test_bad_input_never_raises(action):
    env = gym.make("dojo/BabyAI-GoToRedBall-v0")
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step(action)
    assert not info["valid_action"] and obs.startswith(NOTHING_HAPPENS) and reward == 0.0
    assert env.observation_space.contains(obs)


def test_unknown_level_and_checker():
    from gymnasium.utils.env_checker import check_env

    from rldojo.envs.errors import EnvInputError
    from rldojo.envs.text.babyai.env import BabyAITextEnv

    with pytest.raises(EnvInputError, match="GoToRedBall"):
        BabyAITextEnv(level="NoSuchLevel")
    check_env(BabyAITextEnv("GoToRedBall"), skip_render_check=True)


def test_a_long_random_walk_keeps_the_expert_plan_bounded():
    env = make("PutNextLocal")
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=3, options={"task_id": 3})
    for _ in range(80):
        if env._ended:
            obs, info = env.reset(seed=4)
        action = info["available_actions"][rng.integers(len(info["available_actions"]))]
        obs, reward, term, trunc, info = env.step(action)
        assert env._bot is None or len(env._bot.stack) <= 16
        assert info["expert_action"] is None or isinstance(info["expert_action"], str)


def test_a_replan_that_never_settles_is_stopped_and_the_expert_says_none():
    from rldojo.envs.text.babyai.env import _MAX_BOT_PUSHES_PER_REPLAN, _BotLoopError

    env = make("GoToLocal")
    env.reset(seed=0, options={"task_id": 3})
    stack = env._bot.stack
    with pytest.raises(_BotLoopError):
        for _ in range(_MAX_BOT_PUSHES_PER_REPLAN + 1):
            stack.append(stack[-1])
    # A bot that loops is dropped; the next expert action comes from a fresh plan.
    looping_bot = env._bot
    looping_bot.replan = lambda action=None: [stack.append(stack[-1]) for _ in range(10_000)]
    *_, info = env.step("turn left")
    assert env._bot is not None and env._bot is not looping_bot
    assert info["expert_action"] in ("turn right", "turn left", "move forward")
