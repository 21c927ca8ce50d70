"""dojo/SciWorld-v0 over the scienceworld package: splits, rewards, gold-path expert, JVM lifecycle."""

import os
import shutil
import time

import gymnasium as gym
import numpy as np
import pytest

import rldojo  # noqa: F401  (registers dojo/ ids)
from rldojo.envs.errors import EnvInputError
from rldojo.envs.text.sciworld import UNKNOWN_ACTION, SciWorldEnv, split_table, task_families

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="ScienceWorld needs Java 17 (no `java` on PATH)")

SHORT = "lifespan-longest-lived"  # gold path of 4 actions, loads in about a second


@pytest.fixture(scope="module")
def env():
    env = SciWorldEnv(max_turns=40, tasks=[SHORT, "boil"])  # one JVM for the module
    yield env
    env.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:  # a zombie is not running
        return handle.read().split()[2] != "Z"


def test_split_table_is_the_packages_and_splits_never_overlap(env):
    table = split_table()
    assert len(table) == 30 and task_families()[0] == "boil"
    for splits in table.values():
        ranges = [range(*splits[s]) for s in ("train", "dev", "test")]
        assert ranges[0].stop == ranges[1].start and ranges[1].stop == ranges[2].start and ranges[0].start == 0
    env.reset(seed=0, options={"task_family": SHORT})
    sw = env._sw  # the package's own split of this family agrees with the shipped table
    assert list(sw.get_variations_train()) == list(range(*table[SHORT]["train"]))
    assert list(sw.get_variations_dev()) == list(range(*table[SHORT]["dev"]))
    assert list(sw.get_variations_test()) == list(range(*table[SHORT]["test"]))
    test_env = SciWorldEnv(split="test", tasks=[SHORT])
    train_env = SciWorldEnv(split="train", tasks=[SHORT])
    assert not set(test_env.tasks) & set(train_env.tasks) and test_env.num_tasks == len(range(*table[SHORT]["test"]))
    assert test_env._sw is None  # listing tasks starts no JVM


def test_reset_instruction_actions_expert_and_winning(env):
    task_id = env._first_of[SHORT][0]
    obs, info = env.reset(seed=0, options={"task_id": task_id})
    assert info["task_family"] == SHORT and info["variation"] == 0 and info["split"] == "train"
    assert info["instruction"].startswith("Your task is to") and obs.startswith(info["instruction"] + "\n")
    assert "This room is called" in obs
    assert "look around" in info["available_actions"] and len(info["available_actions"]) > 50
    assert info["expert_action"] == env.gold[0] and info["score"] == 0.0 and info["raw_score"] == 0
    total, done = 0.0, False
    while not done:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        assert info["valid_action"] and 0.0 <= reward <= 1.0
        total += reward
        done = term or trunc
    assert info["won"] and term and total == pytest.approx(1.0) and info["score"] == 1.0 and info["raw_score"] == 100


def test_invalid_and_bad_actions_are_answered(env):
    env.list_actions = False  # (a JVM round trip per turn; listing is checked above)
    env.reset(seed=0, options={"task_family": SHORT})
    obs, reward, term, trunc, info = env.step("dance the tango")
    assert obs == UNKNOWN_ACTION and not info["valid_action"] and reward == 0.0 and not term
    for bad in ("", "x" * 100_000, "\x00\x1b"):
        obs, reward, term, trunc, info = env.step(bad)
        assert obs == UNKNOWN_ACTION and not info["valid_action"] and not term  # as nonsense is answered
    assert info["invalid_action_count"] == 4 and env._sw is not None


def test_deterministic_for_a_task(env):
    def episode(seed):
        out = [env.reset(seed=seed, options={"task_id": 1})[0]]
        for action in ("look around", "open door to kitchen", "go to kitchen", "inventory"):
            out.append(env.step(action)[0])
        return out

    assert episode(0) == episode(5)
    picked = [env._sample_task_id(np.random.default_rng(s), {}) for s in range(20)]
    assert picked == [env._sample_task_id(np.random.default_rng(s), {}) for s in range(20)]
    assert {env.tasks[i][0] for i in picked} == {SHORT, "boil"}


def test_bad_arguments_are_answered():
    with pytest.raises(EnvInputError, match="split"):
        SciWorldEnv(split="valid")
    with pytest.raises(EnvInputError, match="task families"):
        SciWorldEnv(tasks=["make-coffee"])
    with pytest.raises(EnvInputError, match="step_timeout"):
        SciWorldEnv(step_timeout=0)
    env = SciWorldEnv(tasks=[SHORT])
    with pytest.raises(EnvInputError, match="unknown task_id"):
        env.reset(options={"task_id": env.num_tasks})
    with pytest.raises(EnvInputError, match="task_family"):
        env.reset(options={"task_family": "boil"})


def test_a_hung_step_restarts_the_jvm_and_close_stops_it(env):
    env.reset(seed=0, options={"task_family": SHORT})
    first = env.jvm_pid
    assert alive(first)
    # A world call that really hangs (a 1 us timeout raced the JVM's answer on a loaded machine).
    server = env._sw.server

    class HangingServer:
        def step(self, action):
            time.sleep(3.0)
            return server.step(action)

        def __getattr__(self, name):
            return getattr(server, name)

    env._sw.server = HangingServer()
    env.step_timeout = 0.5
    obs, reward, term, trunc, info = env.step("look around")
    assert trunc and not term and "restarted" in obs and env.jvm_pid is None
    assert not alive(first)
    env.step_timeout = 60.0
    env.gold_path = False
    obs, info = env.reset(seed=0, options={"task_family": SHORT})  # a fresh JVM
    second = env.jvm_pid
    assert second != first and alive(second) and env.step("look around")[4]["valid_action"]
    env.close()
    assert env.jvm_pid is None and not alive(second)


def test_gymnasium_make_and_close_on_exit():
    env = gym.make("dojo/SciWorld-v0", tasks=[SHORT])
    assert env.unwrapped.jvm_pid is None  # the JVM starts lazily, on the first reset
    from rldojo.envs.text import sciworld

    assert env.unwrapped in set(sciworld._LIVE)  # closed by the atexit hook if never closed
    env.close()
