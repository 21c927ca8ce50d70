"""The TextEnv protocol, checked on a tiny world defined here (press a coloured button n times)."""

import copy
import pickle

import gymnasium as gym
import numpy as np
import pytest

from rldojo.envs.errors import EnvInputError
from rldojo.envs.text import NOTHING_HAPPENS, PrintableText, TextEnv, WorldStep, clean_action

COLORS = ("red", "green", "blue")


class ButtonWorld(TextEnv):
    """Task t: press the button of a colour (drawn from the task rng) t + 1 times."""

    has_expert = True

    @property
    def num_tasks(self):
        return 5

    def _load_task(self, task_id, rng):
        self.color = str(rng.choice(COLORS))
        self.target = task_id + 1
        self.presses = 0
        return f"Press the {self.color} button {self.target} times.", "You see three buttons."

    def _step_world(self, action):
        words = action.lower().split()
        if len(words) == 3 and words[0] == "press" and words[1] in COLORS and words[2] == "button":
            if words[1] != self.color:
                return WorldStep(f"The {words[1]} button clicks.", valid=True)
            self.presses += 1
            won = self.presses == self.target
            return WorldStep(f"Pressed {self.presses} times.", reward=1.0 if won else 0.0, valid=True, won=won)
        return WorldStep(NOTHING_HAPPENS, valid=False)

    def _available_actions(self):
        return [f"press {c} button" for c in COLORS]

    def _expert_action(self):
        return f"press {self.color} button"

    def _action_hint(self):
        return "Actions look like: press <colour> button."


def play(env, actions, seed=0, task_id=2):
    out = [env.reset(seed=seed, options={"task_id": task_id})]
    for a in actions:
        out.append(env.step(a))
    return out


def test_reset_puts_instruction_first_and_info_has_every_key():
    env = ButtonWorld()
    obs, info = env.reset(seed=1, options={"task_id": 3})
    assert info["instruction"] == f"Press the {env.color} button 4 times."
    assert obs.startswith(info["instruction"])
    assert info["available_actions"] == ["press red button", "press green button", "press blue button"]
    assert info["won"] is False and info["valid_action"] is True
    assert info["expert_action"] == f"press {env.color} button"
    assert info["turn"] == 0 and info["step_rewards"] == [] and info["task_id"] == 3
    assert info["valid_action_count"] == 0 and info["invalid_action_count"] == 0
    assert info["score"] == 0.0 and info["previous_observation"] == ""
    assert env.observation_space.contains(obs)


def test_same_seed_and_task_give_the_same_episode_and_task_id_alone_fixes_the_task():
    actions = ["press red button", "dance", "press green button", "press blue button"] * 2
    a = play(ButtonWorld(), actions, seed=7, task_id=4)
    b = play(ButtonWorld(), actions, seed=7, task_id=4)
    assert repr(a) == repr(b)
    # Different seeds, same task id: the same task (what a GRPO group relies on).
    assert play(ButtonWorld(), [], seed=1, task_id=4)[0] == play(ButtonWorld(), [], seed=99, task_id=4)[0]
    # No task id: the seed picks it, deterministically.
    env = ButtonWorld()
    picked = [env.reset(seed=s)[1]["task_id"] for s in range(20)]
    assert picked == [env.reset(seed=s)[1]["task_id"] for s in range(20)]
    assert len(set(picked)) > 1 and all(0 <= t < 5 for t in picked)


def test_expert_wins_and_rewards_and_counts_add_up():
    env = ButtonWorld()
    obs, info = env.reset(seed=0, options={"task_id": 1})
    wrong = next(c for c in COLORS if c != env.color)
    obs, r, term, trunc, info = env.step(f"press {wrong} button")
    assert (r, term, info["valid_action"]) == (0.0, False, True)
    obs, r, term, trunc, info = env.step("jump")
    assert obs == NOTHING_HAPPENS and info["valid_action"] is False and not term
    obs, r, term, trunc, info = env.step(info["expert_action"])
    assert obs == "Pressed 1 times." and info["previous_observation"] == NOTHING_HAPPENS
    obs, r, term, trunc, info = env.step(info["expert_action"])
    assert (r, term, trunc, info["won"]) == (1.0, True, False, True)
    assert info["turn"] == 4 and info["valid_action_count"] == 3 and info["invalid_action_count"] == 1
    assert info["step_rewards"] == [0.0, 0.0, 0.0, 1.0] and info["score"] == 1.0
    assert info["available_actions"] == [] and info["expert_action"] is None


@pytest.mark.parametrize(
    "action, reason",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 1_000_000, "1000000 characters"),
        (None, "got NoneType"),
        (42, "got int"),
        ("\x00\x07\x1b\x7f", "empty"),
        ("💥🦄 ̸̢͎ zalgo", None),
        ("\ud800", None),  # a lone surrogate
    ],
)
def test_bad_input_is_answered_counted_and_never_raises(action, reason):
    env = ButtonWorld()
    env.reset(seed=0, options={"task_id": 0})
    obs, r, term, trunc, info = env.step(action)
    assert obs.startswith(NOTHING_HAPPENS) and r == 0.0 and not term and not trunc
    if reason is not None:
        assert reason in obs and "press <colour> button" in obs
    assert info["valid_action"] is False and info["invalid_action_count"] == 1 and info["turn"] == 1
    assert env.observation_space.contains(obs)


def test_control_characters_and_odd_unicode_are_normalised_before_the_world_sees_them():
    assert clean_action("  PRESS\x00red\u200bbutton\r\n") == "PRESS red button"
    assert clean_action("ｐｒｅｓｓ ｒｅｄ ｂｕｔｔｏｎ") == "press red button"  # fullwidth letters (NFKC)
    env = ButtonWorld()
    env.reset(seed=0, options={"task_id": 0})
    obs, r, term, trunc, info = env.step(f"press\t{env.color}\x00button\n")
    assert info["valid_action"] is True and term and info["won"]


def test_steps_after_the_end_or_before_reset_are_answered_and_change_nothing():
    env = ButtonWorld()
    obs, r, term, trunc, info = env.step("press red button")
    assert "reset()" in obs and term and r == 0.0 and info["valid_action"] is False
    env.reset(seed=0, options={"task_id": 0})
    _, _, term, _, info = env.step(f"press {env.color} button")
    assert term
    obs, r, term, trunc, after = env.step(f"press {env.color} button")
    assert "episode has ended" in obs and term and r == 0.0
    assert after["turn"] == info["turn"] == 1 and after["step_rewards"] == [1.0] and after["won"] is True


@pytest.mark.parametrize("bad", [-1, 5, 10**12, "abc", "", 1.5, True, [1]])
def test_unknown_task_ids_get_a_clear_error(bad):
    env = ButtonWorld()
    with pytest.raises(EnvInputError, match=r"unknown task_id .* an integer from 0 to 4"):
        env.reset(seed=0, options={"task_id": bad})


def test_digit_strings_and_numpy_ints_are_task_ids():
    env = ButtonWorld()
    assert env.reset(options={"task_id": "3"})[1]["task_id"] == 3
    assert env.reset(options={"task_id": np.int64(2)})[1]["task_id"] == 2


def test_max_turns_truncates():
    env = ButtonWorld(max_turns=3)
    env.reset(seed=0, options={"task_id": 4})
    results = [env.step("wait") for _ in range(3)]
    assert [(t, tr) for _, _, t, tr, _ in results] == [(False, False), (False, False), (False, True)]
    with pytest.raises(EnvInputError, match="max_turns"):
        ButtonWorld(max_turns=0)


def test_printable_text_space_accepts_unicode_and_is_cheap_to_copy_and_pickle():
    space = PrintableText(100)
    assert space.contains("héllo wörld ✓ 你好\nnext line\t")
    assert not space.contains("bell\x07") and not space.contains("x" * 101)
    assert space.contains("")
    clone = copy.deepcopy(space)
    restored = pickle.loads(pickle.dumps(space))
    assert clone == space and restored == space and clone.character_set is space.character_set
    assert len(pickle.dumps(space)) < 10_000
    space.seed(3)
    sample = space.sample()
    assert space.contains(sample)
    assert "printable unicode" in repr(space)


def test_gymnasium_env_checker_passes():
    from gymnasium.utils.env_checker import check_env

    check_env(ButtonWorld(), skip_render_check=True)


def test_observations_are_kept_inside_the_space():
    class Loud(ButtonWorld):
        def _step_world(self, action):
            return WorldStep("bell\x07" + "y" * (TextEnv.MAX_OBSERVATION_CHARS + 10), valid=True)

    env = Loud()
    env.reset(seed=0, options={"task_id": 0})
    obs, *_ = env.step("anything")
    assert env.observation_space.contains(obs) and obs.endswith("[observation cut]")
    assert isinstance(env.observation_space, gym.spaces.Text)
