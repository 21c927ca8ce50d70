"""Reward shaping: arithmetic checked by hand on a scripted episode of a tiny world."""

import pytest
from pydantic import ValidationError

from rldojo.envs.text import ShapedReward, ShapingConfig, task_keywords

from .test_protocol import ButtonWorld

WEIGHTS = dict(valid_action=0.1, state_change=0.01, task_keyword=0.2, time_efficiency=1.0, action_efficiency=0.5)


def test_task_keywords_drop_stop_words_and_numbers():
    assert task_keywords("Press the red button 3 times.") == {"press", "red", "button", "times"}
    assert task_keywords("Craft 1 stone pickaxe using your items.") == {"stone", "pickaxe"}


def test_shaping_arithmetic_on_a_scripted_winning_episode():
    env = ShapedReward(ButtonWorld(max_turns=10), WEIGHTS)
    obs, info = env.reset(seed=0, options={"task_id": 1})  # press <color> twice
    color = env.unwrapped.color
    other = next(c for c in ("red", "green", "blue") if c != color)
    script = [
        # action,                  native, by hand: valid + change + keyword (+ end terms)
        ("dance", 0.0, 0.0 + 0.01 + 0.0),  # invalid; obs changes to "Nothing happens."
        ("dance", 0.0, 0.0 + 0.0 + 0.0),  # invalid; same obs again
        (f"press {other} button", 0.0, 0.1 + 0.01 + 0.2),  # "press", "button" are in the instruction
        (f"press {color} button", 0.0, 0.1 + 0.01 + 0.2),
        # wins on turn 5 of 10: time 1.0 * (1 - 5/10) = 0.5; action efficiency 0.5 * 3/5 = 0.3
        (f"press {color} button", 1.0, 0.1 + 0.01 + 0.2 + 0.5 + 0.3),
    ]
    for action, native, bonus in script:
        obs, reward, term, trunc, info = env.step(action)
        assert info["native_reward"] == native
        assert info["shaping_bonus"] == pytest.approx(bonus)
        assert reward == pytest.approx(native + bonus)
        assert sum(info["shaping_terms"].values()) == pytest.approx(bonus)
    assert term and info["won"] is True and info["score"] == 1.0


def test_shaping_never_makes_a_loss_a_win_and_pays_efficiency_on_truncation():
    env = ShapedReward(ButtonWorld(max_turns=2), WEIGHTS)
    env.reset(seed=0, options={"task_id": 4})
    color = env.unwrapped.color
    _, r1, _, _, i1 = env.step(f"press {color} button")
    _, r2, term, trunc, i2 = env.step("press nothing")
    assert not term and trunc and i2["won"] is False
    assert r1 == pytest.approx(0.1 + 0.01 + 0.2)
    # Invalid last step: no valid/keyword bonus, obs changed, efficiency 0.5 * 1/2, no time bonus.
    assert r2 == pytest.approx(0.01 + 0.25)
    assert i2["native_reward"] == 0.0


def test_default_config_adds_nothing_and_bad_weights_are_rejected():
    plain, shaped = ButtonWorld(), ShapedReward(ButtonWorld())
    for env in (plain, shaped):
        env.reset(seed=3, options={"task_id": 0})
    a = plain.step(f"press {plain.color} button")
    b = shaped.step(f"press {shaped.unwrapped.color} button")
    assert a[1] == b[1] == 1.0 and b[4]["shaping_bonus"] == 0.0
    with pytest.raises(ValidationError):
        ShapingConfig(valid_action=float("nan"))
    with pytest.raises(ValidationError):
        ShapingConfig(episode_bonus_cap=-1.0)
    with pytest.raises(ValidationError):
        ShapingConfig(valid_bonus=0.1)
    assert "understood" in (ShapingConfig.model_fields["valid_action"].description or "")


def test_penalties_for_invalid_actions_and_failure_are_negative_weights():
    env = ShapedReward(ButtonWorld(max_turns=2), {"invalid_action": -0.05, "failure": -0.5})
    env.reset(seed=0, options={"task_id": 4})
    _, r1, _, _, i1 = env.step("dance")  # refused by the world
    assert r1 == pytest.approx(-0.05) and i1["shaping_terms"]["invalid_action"] == -0.05
    _, r2, term, trunc, i2 = env.step(f"press {env.unwrapped.color} button")  # valid, but the turns run out
    assert trunc and not i2["won"]
    assert r2 == pytest.approx(-0.5) and i2["shaping_terms"]["failure"] == -0.5
    # a win is never penalised
    env.reset(seed=0, options={"task_id": 0})
    _, reward, term, _, info = env.step(f"press {env.unwrapped.color} button")
    assert term and info["won"] and reward == 1.0


def test_the_episode_cap_stops_stalling_from_paying_more_than_winning():
    cap = 0.3
    stall = ShapedReward(ButtonWorld(max_turns=40), {"valid_action": 0.05, "episode_bonus_cap": cap})
    stall.reset(seed=0, options={"task_id": 1})
    other = next(c for c in ("red", "green", "blue") if c != stall.unwrapped.color)
    total = 0.0
    for _ in range(40):  # a valid action that never wins, over and over
        _, reward, term, trunc, info = stall.step(f"press {other} button")
        total += reward
        if term or trunc:
            break
    assert total == pytest.approx(cap)  # 40 x 0.05 = 2.0 without the cap
    assert total < 1.0  # less than the win's native reward
    stall.reset(seed=0, options={"task_id": 1})  # the cap is per episode
    assert stall.step(f"press {other} button")[1] == pytest.approx(0.05)
