"""dojo/NetDefense-v0: B-line's kill chain, CAGE-2's reward table, Restore, seeding, workflows, baselines."""

from __future__ import annotations

import shutil

import gymnasium as gym
import numpy as np
import pytest
import yaml
from gymnasium.utils.env_checker import check_env

pytest.importorskip("csle_cyborg")

from rldojo.envs import EnvInputError, make_vec  # noqa: E402
from rldojo.envs.cyber.baselines import ReactRestorePolicy, SleepPolicy  # noqa: E402
from rldojo.envs.cyber.netdefense import NetDefenseEnv  # noqa: E402
from rldojo.envs.cyber.scenario import DEFAULT_SCENARIO, HOSTS, load_scenario  # noqa: E402
from rldojo.envs.cyber.workflow import workflow_weights  # noqa: E402

ENV_ID = "dojo/NetDefense-v0"
#: B-line's script, one red action per step, when nothing stops it (CAGE-2's kill chain).
BLINE_CHAIN = [
    "DiscoverRemoteSystems",  # the user subnet
    "DiscoverNetworkServices",  # a user host
    "ExploitRemoteService",
    "PrivilegeEscalate",
    "DiscoverNetworkServices",  # the enterprise host the user host knows
    "ExploitRemoteService",
    "PrivilegeEscalate",
    "DiscoverRemoteSystems",  # the enterprise subnet
    "DiscoverNetworkServices",  # Enterprise2
    "ExploitRemoteService",
    "PrivilegeEscalate",
    "DiscoverNetworkServices",  # Op_Server0
    "ExploitRemoteService",
    "PrivilegeEscalate",
    "Impact",
]
#: CAGE-2's published reward table: what red's root/SYSTEM on each host costs blue per step.
PRIVILEGED_COST = {
    **{f"User{i}": 0.1 for i in range(1, 5)},
    "User0": 0.0,  # red's foothold
    **{f"Enterprise{i}": 1.0 for i in range(3)},
    "Op_Server0": 1.0,
    **{f"Op_Host{i}": 0.1 for i in range(3)},
    "Defender": 0.1,
}
IMPACT_COST = 10.0
RESTORE_COST = 1.0


def make(**options) -> NetDefenseEnv:
    return NetDefenseEnv(**options)


def expected_reward(env: NetDefenseEnv, blue_action: str) -> float:
    """CAGE-2's table applied to the true state after a step, computed apart from CybORG's reward."""
    access = env.red_access()
    cost = sum(PRIVILEGED_COST[host] for host, level in access.items() if level == 2)
    cost += 0.0 if env.seat.ot_service_running() else IMPACT_COST
    cost += RESTORE_COST if blue_action.startswith("Restore") else 0.0
    return -round(cost, 1)


def test_registered_after_import_rldojo():
    import rldojo  # noqa: F401

    env = gym.make(ENV_ID, episode_length=30)
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (52,) and obs.dtype == np.float32
    assert env.action_space.n == 54 and info == {"native_reward": 0.0, "shaping": 0.0}
    env.close()


def test_passes_gymnasium_env_checker():
    env = gym.make(ENV_ID, episode_length=30, render_mode="ansi")
    check_env(env.unwrapped, skip_render_check=False)
    env.close()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_bline_kill_chain_advances_as_scripted_when_blue_sleeps(seed):
    env = make(red_agent="b_line", episode_length=30, green=False)
    env.reset(seed=seed)
    red_actions, rewards = [], []
    for _ in range(20):
        _, reward, terminated, truncated, _ = env.step(0)
        red_actions.append(env.last_actions()["Red"].split(" ")[0])
        rewards.append(reward)
        assert not terminated and not truncated
    assert red_actions == BLINE_CHAIN + ["Impact"] * 5
    access = env.red_access()
    assert access["Enterprise2"] == access["Op_Server0"] == 2
    assert sum(access[h] == 2 for h in ("User1", "User2", "User3", "User4")) == 1
    assert sum(access[h] == 2 for h in ("Enterprise0", "Enterprise1")) == 1
    assert not env.seat.ot_service_running()
    # Privileges land on schedule: a user host (0.1) by step 4, its enterprise host (1) by step 7,
    # Enterprise2 (1) by step 11, Op_Server0 (1) by step 14, the Impact (10) from step 15 on.
    assert rewards[3] == -0.1 and rewards[6] == -1.1 and rewards[10] == -2.1 and rewards[13] == -3.1
    assert rewards[14:] == [-13.1] * 6


@pytest.mark.parametrize("red_agent", ["b_line", "meander"])
def test_reward_matches_cage2_table_in_every_state(red_agent):
    """Sleeping and reacting blue, both red agents: every step's reward is the table's for the true state."""
    env = make(red_agent=red_agent, episode_length=60)
    react = ReactRestorePolicy(env.action_names, restore_subnets=("User", "Enterprise", "Operational"))
    for seed, policy in [(0, SleepPolicy()), (1, react)]:
        obs, _ = env.reset(seed=seed)
        restores = 0
        for _ in range(60):
            action = policy.act(obs)
            obs, reward, _, _, info = env.step(action)
            assert reward == info["native_reward"] == pytest.approx(expected_reward(env, env.action_names[action]))
            restores += env.action_names[action].startswith("Restore")
        assert (restores > 0) == (policy is react)


def test_restore_removes_reds_access():
    env = make(red_agent="b_line", episode_length=30, green=False)
    env.reset(seed=0)
    for _ in range(7):  # through B-line's escalation on its enterprise host
        env.step(0)
    target = next(h for h in ("Enterprise0", "Enterprise1") if env.red_access()[h] == 2)
    obs, reward, *_ = env.step(env.action_names.index(f"Restore {target}"))
    assert env.red_access()[target] == 0
    row = HOSTS.index(target)
    assert obs[4 * row + 2 : 4 * row + 4].tolist() == [0.0, 0.0]  # blue's table: not compromised
    # The step costs the Restore (1) and the user host red still holds (0.1); not the enterprise host.
    assert reward == pytest.approx(-1.1)


def test_seed_replays_an_episode_and_envs_in_one_process_stay_independent():
    first, second, other = make(red_agent="meander"), make(red_agent="meander"), make(red_agent="meander")
    first.reset(seed=7)
    second.reset(seed=7)
    other.reset(seed=99)
    rng = np.random.default_rng(0)
    for _ in range(40):
        action = int(rng.integers(54))
        a = first.step(action)
        other.step(int(rng.integers(54)))  # interleaved: must not disturb the other two
        b = second.step(action)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1]
        assert first.last_actions() == second.last_actions()


def test_reading_only_the_reward_state_changes_nothing():
    """Steps read the part of the true state CybORG's reward needs; reading all of it gives the same episode."""
    fast, whole = make(red_agent="meander", episode_length=80), make(red_agent="meander", episode_length=80)
    whole.seat._service_hosts_known = lambda: False  # always read the whole true state
    react = ReactRestorePolicy(fast.action_names)
    rng = np.random.default_rng(1)
    for env in (fast, whole):
        env.reset(seed=3)
    for _ in range(80):
        action = int(rng.integers(54))
        a, b = fast.step(action), whole.step(action)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1] and fast.red_access() == whole.red_access()
        assert react.act(a[0]) == react.act(b[0])


def test_episode_length_truncates():
    env = make(episode_length=5)
    env.reset(seed=0)
    flags = [env.step(0)[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


def test_workflow_shapes_the_reward_and_reports_native_apart():
    env = make(red_agent="b_line", episode_length=30, green=False, workflow="operational_first", workflow_weight=0.1)
    plain = make(red_agent="b_line", episode_length=30, green=False)
    env.reset(seed=0)
    plain.reset(seed=0)
    for _ in range(15):
        _, reward, _, _, info = env.step(0)
        _, native, *_ = plain.step(0)
        assert info["native_reward"] == native
        assert reward == pytest.approx(info["native_reward"] + info["shaping"])
    # After B-line's Impact: root on one user host (weight 1/3), an enterprise host and Enterprise2
    # (2/3 each) and Op_Server0 (1); User0, red's foothold, weighs nothing.
    assert info["shaping"] == pytest.approx(-0.1 * (1 / 3 + 2 / 3 + 2 / 3 + 1))


def test_workflow_weights():
    uniform = workflow_weights("uniform")
    assert uniform.sum() == len(HOSTS) - 1 and uniform[HOSTS.index("User0")] == 0
    ordered = dict(zip(HOSTS, workflow_weights(["Op_Server0", "Enterprise"])))
    assert ordered["Op_Server0"] == 1.0 and ordered["Enterprise1"] == 0.5 and ordered["Op_Host0"] == 0.0
    for bad in ("fastest", ["Enterprise", "Mars"], ["User", "User"], []):
        with pytest.raises(EnvInputError, match="workflow"):
            workflow_weights(bad)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"red_agent": "apt29"}, "red_agent"),
        ({"episode_length": 0}, "episode_length"),
        ({"colour": "red"}, "colour"),
        ({"workflow": "fastest"}, "preset"),
        ({"scenario": "/nonexistent/Scenario2.yaml"}, "does not exist"),
    ],
)
def test_bad_options_are_user_errors(options, words):
    with pytest.raises(EnvInputError, match=words):
        make(**options)


def test_out_of_range_action_is_a_user_error():
    env = make()
    env.reset(seed=0)
    with pytest.raises(EnvInputError, match="0..53"):
        env.step(54)


def test_users_own_scenario_file_in_cyborgs_layout(tmp_path):
    folder = tmp_path / "Scenarios"
    shutil.copytree(DEFAULT_SCENARIO.parent, folder)
    (folder / "netdefense.yaml").rename(folder / "Scenario2.yaml")
    env = make(scenario=str(folder / "Scenario2.yaml"), episode_length=30)
    env.reset(seed=0)
    assert env.step(0)[0].shape == (52,)
    broken = yaml.safe_load((folder / "Scenario2.yaml").read_text())
    del broken["Hosts"]["Op_Server0"]
    (folder / "Broken.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(EnvInputError, match="lacks the host\\(s\\) Op_Server0"):
        load_scenario(folder / "Broken.yaml")
    # Hosts listed in another order still give the observation's rows in `HOSTS` order.
    shuffled = yaml.safe_load((folder / "Scenario2.yaml").read_text())
    shuffled["Hosts"] = dict(reversed(list(shuffled["Hosts"].items())))
    (folder / "Shuffled.yaml").write_text(yaml.safe_dump(shuffled, sort_keys=False))
    assert tuple(load_scenario(folder / "Shuffled.yaml")["Hosts"]) == HOSTS


def test_full_action_set_is_cage2s_145():
    env = make(action_set="full")
    assert env.action_space.n == 145
    assert env.action_names[:2] == ["Sleep", "Monitor"] and "DecoyHarakaSMPT User3" in env.action_names


def test_reduced_decoy_places_the_most_luring_fitting_decoy_then_sleeps():
    env = make(red_agent="sleep", green=False)
    env.reset(seed=0)
    decoy = env.action_names.index("Decoy Op_Host0")
    placed = []
    for _ in range(6):
        before = len(env.seat.controller.state.hosts["Op_Host0"].processes)
        env.step(decoy)
        placed.append(len(env.seat.controller.state.hosts["Op_Host0"].processes) - before)
    # A Linux host with SSH: Haraka (25), Tomcat (443), Apache (80); then vsftpd (80 as well),
    # SSH (22, taken) and the Windows decoys do not fit.
    assert placed == [1, 1, 1, 0, 0, 0]
    assert env.last_actions()["Blue"] == "Sleep"


def test_react_restore_beats_sleep_against_bline():
    env = make(red_agent="b_line", episode_length=30)
    returns = {}
    for name, policy in [("sleep", SleepPolicy()), ("react", ReactRestorePolicy(env.action_names))]:
        total = []
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            ret = 0.0
            for _ in range(30):
                obs, reward, *_ = env.step(policy.act(obs))
                ret += reward
            total.append(ret)
        returns[name] = np.mean(total)
    assert returns["sleep"] < -150 and returns["react"] > returns["sleep"] + 100


def test_vector_env_and_batched_policy():
    venv = make_vec(ENV_ID, 3, seed=0, vectorize="sync", env_kwargs={"episode_length": 4})
    try:
        obs, _ = venv.reset(seed=0)
        policy = ReactRestorePolicy(venv.call("action_names")[0])
        for _ in range(4):
            obs, rewards, terminated, truncated, infos = venv.step(policy.act(obs))
        assert obs.shape == (3, 52) and truncated.all() and np.allclose(infos["final_info"]["native_reward"], rewards)
    finally:
        venv.close()


def test_baselines_play_through_rldojos_evaluation_path():
    from rldojo.evaluate.play import play_greedy, summarize

    names = make().action_names
    kwargs = {"red_agent": "b_line", "episode_length": 30}
    sleep = play_greedy(SleepPolicy(names), ENV_ID, 3, seed=5, env_kwargs=kwargs, max_envs=3)
    react = play_greedy(ReactRestorePolicy(names), ENV_ID, 3, seed=5, env_kwargs=kwargs, max_envs=3)
    assert [episode["length"] for episode in sleep + react] == [30] * 6
    assert summarize(react)["return_mean"] > summarize(sleep)["return_mean"] + 100
